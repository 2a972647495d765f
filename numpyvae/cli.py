"""What every numpyvae command shares: flag errors in one line, and the project's errors without tracebacks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import NoReturn

from .errors import NumpyvaeError, UsageError


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that shows every default in --help and reports a bad flag in one line, exit 2."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(UsageError.exit_code)


def run(command: Callable[[argparse.Namespace], int], parser: Parser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run ``command``; a NumpyvaeError becomes ``error: <message>`` and its exit code."""
    args = parser.parse_args(argv)
    try:
        return command(args)
    except NumpyvaeError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
