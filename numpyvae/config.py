"""Typed settings: each declared once, as a dataclass field with its flag, help and check, and validated in one place.

A configuration is a dataclass whose fields are made with ``setting``:

    lr: float = setting(0.001, "learning rate", check=positive)

The field is the whole truth about the setting. From the fields,

- ``add_arguments`` derives the command-line flags (``--lr``, with the help, the default and the choices);
- ``from_arguments`` builds the configuration from the parsed flags;
- ``validate`` checks a configuration: each value's type, its choices and its check, then the rules across
  settings that the class states in ``rules()``; a failure is a ``SettingError`` naming the flag;
- ``from_dict`` reads a stored configuration strictly (unknown keys refused, then validated) and fills in what
  it lacks from the defaults, which are what every file written before a setting existed ran with.

Flags and values: a setting's flag is ``--`` and its name with dashes, unless ``flag=`` says otherwise; a bool is
a switch (``store_true``) unless its ``choices`` map words to values (``--model vae|ae`` for ``variational``);
a list takes one or more values, separated by spaces or commas. Every number must be finite.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import typing
from collections.abc import Iterable
from typing import Any, NamedTuple

from .errors import UsageError


class SettingError(UsageError, ValueError):
    """A setting out of range, or settings that do not go together; its message names the flag."""


class Check(NamedTuple):
    """A condition on one value, and how a message says it ("at least 1")."""

    test: typing.Callable[[Any], bool]
    says: str


def at_least(low: float) -> Check:
    return Check(lambda value: value >= low, f"at least {low}")


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Check:
    return Check(lambda v: (v > low if low_open else v >= low) and (v < high if high_open else v <= high),
                 f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}")


positive = Check(lambda value: value > 0, "positive")


def setting(default: Any, help: str, *, check: Check | None = None, choices: Iterable | dict | None = None,
            flag: str | None = None, metavar: str | None = None, required: bool = False,
            command_line: bool = True, parse: typing.Callable[[str], Any] | None = None) -> Any:
    """A dataclass field that declares one setting.

    ``required``: a stored configuration must hold it; ``command_line=False``: no flag (the value comes from
    elsewhere, such as the data); ``parse``: how the flag's word becomes the value (default: the field's type).
    """
    metadata = dict(help=help, check=check, choices=choices, flag=flag, metavar=metavar, required=required,
                    command_line=command_line, parse=parse)
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata["flag"] or "--" + field.name.replace("_", "-")


def _kind(cls, field: dataclasses.Field) -> tuple[type, bool, bool]:
    """(the item type, whether it is a list, whether None is allowed) of a field's annotation."""
    args = typing.get_args(annotation := typing.get_type_hints(cls)[field.name])
    if optional := type(None) in args:
        annotation = next(arg for arg in args if arg is not type(None))
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], True, optional
    return annotation, False, optional


def shown(value, field: dataclasses.Field | None = None) -> str:
    """A value as it is typed on the command line: the word of a mapped choice, lists space-separated,
    switches on or off; a setting left at None (its flag not given) is "unset"."""
    if value is None:
        return "unset"
    choices = field.metadata["choices"] if field is not None else None
    if isinstance(choices, dict):
        return next((word for word, meant in choices.items() if meant == value), str(value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _type_ok(value, item: type, many: bool, optional: bool) -> bool:
    if value is None or many:
        return optional if value is None else isinstance(value, list) and value != [] and all(
            _type_ok(one, item, False, False) for one in value)
    if item is float:  # an integer is a float here, but neither a bool nor NaN nor an infinity is
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, item) and isinstance(value, bool) == (item is bool)


def problems(config, rules: bool = True) -> Iterable[str]:
    """Every reason ``config`` is invalid, in the order of its fields, then of its rules (``rules=False``: the
    fields' own checks only)."""
    for field in dataclasses.fields(config):
        value, flag, (item, many, optional) = getattr(config, field.name), flag_of(field), _kind(type(config), field)
        choices, check = field.metadata["choices"], field.metadata["check"]
        values = [] if value is None else value if many else [value]
        if not _type_ok(value, item, many, optional):
            kind = {int: "whole number", float: "finite number", str: "word", bool: "switch"}[item]
            yield f"{flag} must be {'one or more ' if many else 'a '}{kind}{'s' if many else ''}, got {value!r}"
        elif choices is not None and (wrong := [one for one in values if one not in
                                                (choices.values() if isinstance(choices, dict) else choices)]):
            yield f"{flag} must be one of {', '.join(map(str, choices))}, got {wrong[0]!r}"
        elif check is not None and not all(check.test(one) for one in values):
            yield f"{flag} must be {check.says}, got {shown(value, field)}"
    if rules:
        yield from (message for ok, message in getattr(config, "rules", list)() if not ok)


def validate(config):
    """``config`` itself when valid; otherwise SettingError with the first problem."""
    for problem in problems(config):
        raise SettingError(problem)
    return config


def from_dict(cls, data, source: str):
    """The configuration ``cls`` stored as ``data``, validated, missing settings at their defaults; ValueError
    naming ``source`` for anything but a dict of known settings that holds the required ones."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the settings are not a JSON object")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    if unknown := sorted(set(data) - set(fields)):
        raise ValueError(f"{source}: the settings hold {', '.join(map(json.dumps, unknown))}, unknown to this numpyvae "
                         "(a newer one wrote them?)")
    if missing := sorted(name for name, field in fields.items() if field.metadata["required"] and name not in data):
        raise ValueError(f"{source}: the settings lack {', '.join(missing)}")
    return validate(cls(**data))


# -- the command line --------------------------------------------------------------------------------------

def _words(item: type):
    """One command-line word of a list flag: a value, or several separated by commas (a list)."""
    def parse(text: str) -> list:
        try:
            return [item(part) for part in text.split(",") if part]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {item.__name__} values, got {text!r}") from None
    return parse


def add_arguments(group, cls) -> None:
    """One flag for each setting of ``cls`` that has one."""
    for field in (field for field in dataclasses.fields(cls) if field.metadata["command_line"]):
        (item, many, _), choices = _kind(cls, field), field.metadata["choices"]
        default = field.default_factory() if field.default is dataclasses.MISSING else field.default
        options = dict(dest=field.name, help=field.metadata["help"], metavar=field.metadata["metavar"])
        if isinstance(choices, dict):
            options.update(choices=list(choices), default=shown(default, field))
        elif item is bool:
            options = dict(dest=field.name, help=options["help"], action="store_true")
        elif many:  # each word parses to a list: from_arguments joins them
            options.update(type=_words(item), nargs="+", default=default)
            if default is not None and "default" not in options["help"]:
                options["help"] += f" (default: {shown(default)})"
        else:
            options.update(type=field.metadata["parse"] or item, default=default,
                           choices=None if choices is None else list(choices))
        group.add_argument(flag_of(field), **options)


def from_arguments(cls, namespace: argparse.Namespace, **given):
    """The configuration ``cls`` that the parsed flags give, and ``given`` the settings without a flag (not yet
    validated)."""
    values = dict(given)
    for field in (field for field in dataclasses.fields(cls) if field.metadata["command_line"]):
        value, choices = getattr(namespace, field.name), field.metadata["choices"]
        if isinstance(choices, dict):
            value = choices[value]
        elif isinstance(value, list):
            value = [one for word in value for one in (word if isinstance(word, list) else [word])]
        values[field.name] = value
    return cls(**values)
