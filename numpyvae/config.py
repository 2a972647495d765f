"""Typed settings: each declared once, as a dataclass field with its flag, help and check, and validated in one place.

A configuration is a dataclass whose fields are made with ``setting``:

    lr: float = setting(0.001, "learning rate", check=positive)

The field is the whole truth about the setting. From the fields,

- ``add_arguments`` derives the command-line flags (``--lr``, with the help, the default and the choices);
- ``from_arguments`` builds the configuration from the parsed flags;
- ``validate`` checks a configuration: each value's type, its choices and its check, then the rules across
  settings that the class states in ``rules()``; a failure is a ``SettingError`` naming the flag;
- ``from_dict`` reads a stored configuration strictly (unknown keys and wrong types refused) and fills in
  what it lacks from the defaults, which are what every file written before a setting existed ran with.

Flags and values: a setting's flag is ``--`` and its name with dashes, unless ``flag=`` says otherwise; a bool is
a switch (``store_true``) unless its ``choices`` map words to values (``--model vae|ae`` for ``variational``);
a list takes one or more values, separated by spaces or commas.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .errors import UsageError


class SettingError(UsageError, ValueError):
    """A setting out of range, or settings that do not go together; its message names the flag."""


@dataclass(frozen=True)
class Check:
    """A condition on one value, and how a message says it ("at least 1")."""

    test: Callable[[Any], bool]
    says: str


def at_least(low: float) -> Check:
    return Check(lambda value: value >= low, f"at least {low}")


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Check:
    def test(value) -> bool:
        return (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    return Check(test, f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}")


positive = Check(lambda value: value > 0, "positive")


def setting(default: Any, help: str, *, check: Check | None = None, choices: Iterable | dict | None = None,
            flag: str | None = None, metavar: str | None = None, required: bool = False,
            command_line: bool = True) -> Any:
    """A dataclass field that declares one setting.

    ``required``: a stored configuration must hold it; ``command_line=False``: no flag (the value comes from
    elsewhere, such as the data).
    """
    metadata = {"help": help, "check": check, "choices": choices, "flag": flag, "metavar": metavar,
                "required": required, "command_line": command_line}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _types(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _kind(annotation) -> tuple[type, bool, bool]:
    """(the item type, whether it is a list, whether None is allowed) of a field's annotation."""
    args = typing.get_args(annotation)
    optional = type(None) in args
    if optional:
        annotation = next(arg for arg in args if arg is not type(None))
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0], True, optional
    return annotation, False, optional


def shown(value, field: dataclasses.Field | None = None) -> str:
    """A value as it is typed on the command line: the word of a mapped choice, lists space-separated,
    switches on or off."""
    choices = field.metadata.get("choices") if field is not None else None
    if isinstance(choices, dict):
        return next((word for word, meant in choices.items() if meant == value), str(value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _type_ok(value, item: type, many: bool, optional: bool) -> bool:
    if value is None:
        return optional
    values = value if many else [value]
    if many and (not isinstance(value, list) or not value):
        return False
    for one in values:
        if item is float:
            if isinstance(one, bool) or not isinstance(one, (int, float)) or not math.isfinite(one):
                return False
        elif isinstance(one, bool) != (item is bool) or not isinstance(one, item):
            return False
    return True


def problems(config) -> Iterable[str]:
    """Every reason ``config`` is invalid, in the order of its fields, then of its rules."""
    types = _types(type(config))
    for field in dataclasses.fields(config):
        value, flag = getattr(config, field.name), flag_of(field)
        item, many, optional = _kind(types[field.name])
        if not _type_ok(value, item, many, optional):
            kind = {int: "whole number", float: "finite number", str: "word", bool: "switch"}.get(item, item.__name__)
            yield f"{flag} must be {'one or more ' if many else 'a '}{kind}{'s' if many else ''}, got {value!r}"
            continue
        choices, check = field.metadata.get("choices"), field.metadata.get("check")
        values = [] if value is None else value if many else [value]
        if choices is not None:
            allowed = list(choices.values()) if isinstance(choices, dict) else list(choices)
            wrong = [one for one in values if one not in allowed]
            if wrong:
                words = choices if isinstance(choices, dict) else allowed
                yield f"{flag} must be one of {', '.join(map(str, words))}, got {wrong[0]!r}"
                continue
        if check is not None and not all(check.test(one) for one in values):
            yield f"{flag} must be {check.says}, got {shown(value, field)}"
    rules = getattr(config, "rules", None)
    if rules is not None:
        yield from (message for ok, message in rules() if not ok)


def validate(config):
    """``config`` itself when valid; otherwise SettingError with the first problem."""
    for problem in problems(config):
        raise SettingError(problem)
    return config


def from_dict(cls, data, source: str):
    """The configuration ``cls`` stored as ``data``: its types checked, missing settings at their defaults.

    ValueError (with ``source`` in the message) for anything else than a dict of known settings of the right
    types, or a dict without a required setting.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{source}: the settings are not a JSON object")
    fields = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    missing = sorted(name for name, field in fields.items() if field.metadata.get("required") and name not in data)
    if unknown:
        raise ValueError(f"{source}: the settings hold {', '.join(unknown)}, unknown to this numpyvae "
                         "(a newer one wrote them?)")
    if missing:
        raise ValueError(f"{source}: the settings lack {', '.join(missing)}")
    types = _types(cls)
    for name, value in data.items():
        if not _type_ok(value, *_kind(types[name])):
            raise ValueError(f"{source}: the setting {name} = {value!r} has the wrong type")
    return cls(**{name: list(value) if isinstance(value, list) else value for name, value in data.items()})


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


# -- the command line --------------------------------------------------------------------------------------

def _parse_list(item: type) -> Callable[[str], list]:
    """One command-line word of a list flag: a value, or several separated by commas."""
    def parse(text: str) -> list:
        try:
            return [item(part) for part in text.split(",") if part]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {item.__name__} values, got {text!r}") from None
    return parse


def add_arguments(group, cls, defaults: dict | None = None) -> None:
    """One flag for each setting of ``cls`` (``defaults`` overrides the fields' defaults, as a preset does)."""
    types = _types(cls)
    for field in dataclasses.fields(cls):
        if not field.metadata["command_line"]:
            continue
        item, many, _ = _kind(types[field.name])
        default = (defaults or {}).get(field.name, field.default if field.default is not dataclasses.MISSING
                                       else field.default_factory())
        choices, help = field.metadata.get("choices"), field.metadata["help"]
        options: dict = {"dest": field.name, "help": help, "metavar": field.metadata.get("metavar")}
        if isinstance(choices, dict):
            options.update(choices=list(choices), default=shown(default, field))
        elif item is bool:
            options.update(action="store_true", default=default)
            options.pop("metavar")
        else:
            options.update(type=_parse_list(item) if many else item, default=default)
            if many:  # each word parses to a list: from_arguments joins them
                options.update(nargs="+", default=None)
                if default is not None and "default" not in help:
                    options["help"] = f"{help} (default: {shown(default)})"
            if choices is not None and not many:
                options["choices"] = list(choices)
        group.add_argument(flag_of(field), **options)


def from_arguments(cls, namespace: argparse.Namespace, defaults: dict | None = None, **given):
    """The configuration ``cls`` that the parsed flags give, and ``given`` the settings without a flag (not yet
    validated). ``defaults``: those the parser was given (a preset's), for the list flags left out."""
    values = {}
    for field in dataclasses.fields(cls):
        if not field.metadata["command_line"]:
            continue
        value = getattr(namespace, field.name)
        choices = field.metadata.get("choices")
        if isinstance(choices, dict):
            value = choices[value]
        elif isinstance(value, list) and value and isinstance(value[0], list):
            value = [one for word in value for one in word]
        elif value is None and isinstance((defaults or {}).get(field.name), list):
            value = list(defaults[field.name])
        elif value is None and field.default is dataclasses.MISSING:
            value = field.default_factory()
        values[field.name] = value
    return cls(**values, **given)
