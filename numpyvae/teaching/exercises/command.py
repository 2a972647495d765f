"""``python -m numpyvae.exercises list | start [DIR] | check NAME | hint NAME [--level N] | solution NAME``."""

from __future__ import annotations

import argparse
import math
import shlex
import shutil
from pathlib import Path

from ...cli import Parser, run_command
from ...errors import UsageError
from .catalog import EXERCISES
from .sandbox import DEFAULT_TIMEOUT, Outcome, run_check

PROG = "python -m numpyvae.exercises"


def build_parser() -> Parser:
    parser = Parser(prog=PROG,
                    description="Exercises with checks: 'start' copies the blank stubs, 'check NAME' runs your version "
                                "in a separate process and gradient-checks it, 'hint NAME' and 'solution NAME' help.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,start,check,hint,solution}")
    commands.add_parser("list", help="the exercises")
    start = commands.add_parser("start", help="copy the blank stubs into a folder (files already there are kept)")
    start.add_argument("folder", nargs="?", default="exercises", help="where to put them (default: exercises)")
    check = commands.add_parser("check", help="check your version of one exercise, in a separate process")
    check.add_argument("name", choices=list(EXERCISES), help="the exercise")
    source = check.add_mutually_exclusive_group()
    source.add_argument("--file", default=None, help="your file (default: exercises/NAME.py)")
    source.add_argument("--reference", action="store_true", help="check the package's own version instead")
    check.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                       help="seconds the check may take before it is stopped and fails")
    hint = commands.add_parser("hint", help="a hint: level 1 says where to start, the next levels the key steps")
    hint.add_argument("name", choices=list(EXERCISES), help="the exercise")
    hint.add_argument("--level", type=int, default=1, help="which hint (1: where to start)")
    solution = commands.add_parser("solution", help="print the worked solution of one exercise")
    solution.add_argument("name", choices=list(EXERCISES), help="the exercise")
    return parser


def print_outcome(outcome: Outcome, name: str, label: str) -> int:
    """The report of one check; 0 when every row passes, 1 otherwise."""
    print(f"checking {label} (in a separate process)")
    if outcome.kind != "rows":
        print(f"fail: {outcome.message}")
        if outcome.traceback:
            print(outcome.traceback.rstrip())
        if outcome.output:
            print("your code printed (last lines):")
            print("\n".join(f"  {line}" for line in outcome.output.splitlines()))
        return 1
    print(f"{'check':<40} {'max rel. error':>14}  result")
    traceback_shown = False
    for row in outcome.rows:
        error = "-" if row.error is None else ("inf" if not math.isfinite(row.error) else f"{row.error:.1e}")
        print(f"{row.what:<40} {error:>14}  {'PASS' if row.passed else 'FAIL'}  {row.message}".rstrip())
        for line in row.details:
            print(f"{'':<4}{line}")
        if row.traceback and not traceback_shown:
            print("\n".join(f"{'':<4}{line}" for line in row.traceback.rstrip().splitlines()))
            traceback_shown = True
    if outcome.output:
        print("your code printed (last lines):")
        print("\n".join(f"  {line}" for line in outcome.output.splitlines()))
    failed = [row for row in outcome.rows if not row.passed]
    if not failed:
        print(f"pass: every row of {name} agrees")
        return 0
    print(f"{len(failed)} of {len(outcome.rows)} rows fail; start with the first: {failed[0].what}   "
          f"(hint: {PROG} hint {name})")
    return 1


def command(args: argparse.Namespace) -> int:
    if args.command == "list":
        for exercise in EXERCISES.values():
            print(f"{exercise.name:<16} {exercise.title}")
        print(f"start with: {PROG} start   then: {PROG} check NAME   stuck: {PROG} hint NAME")
        return 0
    if args.command == "start":
        folder = Path(args.folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create {folder}: {error.strerror}") from None
        for exercise in EXERCISES.values():
            target = folder / f"{exercise.name}.py"
            if target.exists():
                print(f"kept     {target} (already there)")
            else:
                shutil.copyfile(exercise.stub, target)
                print(f"wrote    {target}")
        print(f"fill them in, then: {PROG} check NAME   (NAME: {', '.join(EXERCISES)})")
        return 0
    exercise = EXERCISES[args.name]
    if args.command == "hint":
        if not 1 <= args.level <= len(exercise.hints):
            raise UsageError(f"{exercise.name} has hints 1 to {len(exercise.hints)}, got --level {args.level}")
        print(f"hint {args.level} of {len(exercise.hints)} for {exercise.name}: {exercise.hints[args.level - 1]}")
        if args.level < len(exercise.hints):
            print(f"next: {PROG} hint {exercise.name} --level {args.level + 1}")
        else:
            print(f"the worked solution: {PROG} solution {exercise.name}")
        return 0
    if args.command == "solution":
        print(exercise.solution.read_text(), end="")
        return 0
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.reference:
        return print_outcome(run_check(exercise.name, None, args.timeout), exercise.name,
                             f"the package's own {exercise.defines}")
    path = Path(args.file or Path("exercises") / f"{exercise.name}.py")
    if not path.is_file():
        raise UsageError(f"no file {shlex.quote(str(path))}: run '{PROG} start' to copy the stubs, or point --file at "
                         "yours")
    return print_outcome(run_check(exercise.name, path, args.timeout), exercise.name, str(path))


def main(argv: list[str] | None = None) -> int:
    return run_command(command, build_parser(), argv)
