"""``python -m numpyvae.exercises list | start [DIR] | check NAME [--file F | --reference]``."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from ...cli import Parser, run
from ...errors import UsageError
from . import reference
from .checks import EXERCISES, load

STUBS = Path(__file__).parent / "stubs"


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.exercises",
                    description="Exercises with checks: 'start' copies the blank stubs, 'check NAME' gradient-checks "
                                "your version and prints pass or the failing rows.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{list,start,check}")
    commands.add_parser("list", help="the exercises")
    start = commands.add_parser("start", help="copy the blank stubs into a folder (files already there are kept)")
    start.add_argument("folder", nargs="?", default="exercises", help="where to put them (default: exercises)")
    check = commands.add_parser("check", help="check your version of one exercise")
    check.add_argument("name", choices=sorted(EXERCISES), help="the exercise")
    source = check.add_mutually_exclusive_group()
    source.add_argument("--file", default=None, help="your file (default: exercises/NAME.py)")
    source.add_argument("--reference", action="store_true", help="check the package's own version instead")
    return parser


def command(args: argparse.Namespace) -> int:
    if args.command == "list":
        for name, (class_name, _) in EXERCISES.items():
            print(f"{name:<16} {class_name:<16} {(STUBS / f'{name}.py').read_text().splitlines()[0].strip(chr(34))}")
        return 0
    if args.command == "start":
        folder = Path(args.folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create {folder}: {error.strerror}") from None
        for name in EXERCISES:
            target = folder / f"{name}.py"
            if target.exists():
                print(f"kept     {target} (already there)")
            else:
                shutil.copyfile(STUBS / f"{name}.py", target)
                print(f"wrote    {target}")
        print(f"fill them in, then: python -m numpyvae.exercises check NAME   (NAME: {', '.join(EXERCISES)})")
        return 0
    class_name, checker = EXERCISES[args.name]
    if args.reference:
        module, label = reference, f"the package's own {class_name}"
    else:
        path = Path(args.file or Path("exercises") / f"{args.name}.py")
        module, label = load(path, args.name), str(path)
    if not hasattr(module, class_name):
        raise UsageError(f"{label} defines no class {class_name}")
    rows = checker(module)
    print(f"checking {label}")
    print(f"{'check':<32} {'max rel. error':>14}  result")
    for row in rows:
        error = f"{row.error:.1e}" if row.error is not None else "-"
        print(f"{row.what:<32} {error:>14}  {'PASS' if row.passed else 'FAIL'}  {row.message}".rstrip())
    failed = [row for row in rows if not row.passed]
    if not failed:
        print(f"pass: every row of {args.name} agrees")
        return 0
    print(f"{len(failed)} of {len(rows)} rows fail; start with the first: {failed[0].what}")
    return 1


def main(argv: list[str] | None = None) -> int:
    return run(command, build_parser(), argv)
