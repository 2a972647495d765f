"""The child process of ``exercises check``: it imports the student's file, runs the exercise's rows and writes
them, as strict JSON, to the result file it was given. The parent (``sandbox.py``) trusts nothing else.

    python -I -c BOOT PACKAGE_PARENT NAME RESULT (FILE | --reference)

The result file is written only once every row has run, by this module (os.replace of a complete file), so
a student's file that ends the process early (sys.exit, os._exit, a crash) or never returns leaves none,
and the parent reports that instead of a pass. A ``SystemExit`` raised by the student's code while a row
runs fails that row; one raised while the file is imported is reported as such.
"""

from __future__ import annotations

import json
import os
import sys
import types
from dataclasses import asdict
from pathlib import Path

from .catalog import EXERCISES
from .checks.common import StudentError, student_frames
from .diagnosis import ShapeError


def write_result(path: str, result: dict) -> None:
    temporary = f"{path}.{os.getpid()}.part"
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump(result, file, allow_nan=False)
    os.replace(temporary, path)


def load_student_file(path: Path, name: str):
    """Import the student's file from its source, never from a cached .pyc (a file edited twice within a second,
    at the same size, would otherwise run its old version); its folder goes on sys.path after the package, so
    it can import its siblings."""
    sys.path.append(str(path.parent))
    module = types.ModuleType(f"numpyvae_exercise_{name}")
    module.__file__ = str(path)
    sys.modules[module.__name__] = module
    try:
        exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
    except (Exception, SystemExit) as error:
        raise StudentError(error, student_frames(error)) from None
    return module


def finite(value: float | None) -> float | str | None:
    """JSON has no inf or nan: they travel as strings."""
    return value if value is None or abs(value) < float("inf") else repr(value)


def run(name: str, source: str, result_path: str) -> dict:
    exercise = EXERCISES[name]
    if source == "--reference":
        from . import reference as module
        check = exercise.reference_check or exercise.check
    else:
        try:
            module = load_student_file(Path(source), name)
        except StudentError as error:
            return {"outcome": "import", "message": error.message, "traceback": error.frames}
        check = exercise.check
    if not hasattr(module, exercise.defines):
        return {"outcome": "defines", "message": f"defines no {exercise.defines}"}
    try:
        rows = check(module)
    except ShapeError as error:
        return {"outcome": "defines", "message": str(error)}
    return {"outcome": "rows", "rows": [dict(asdict(row), error=finite(row.error)) for row in rows]}


def main(argv: list[str]) -> int:
    name, result_path, source = argv
    write_result(result_path, run(name, source, result_path))
    return 0


if __name__ == "__main__":  # pragma: no cover - started by sandbox.py
    sys.exit(main(sys.argv[1:]))
