"""Run a student's file in a child process with a time limit, and say what happened.

The child is ``python -I -B`` (no PYTHONPATH, no user site, no current folder on sys.path, no .pyc written)
with this very package put first on its path, in a session of its own so that a time-out kills it and anything it
started. Its output goes to files (a print loop cannot fill the parent's memory); the last lines are shown.

Every way a run can end is an outcome of its own, and only one of them can pass:

    rows       the checks ran to the end; passing needs every row to pass
    import     the file raised (or called sys.exit) while being imported: its traceback is shown
    defines    the file lacks the class or function the exercise asks for
    timeout    no result within the time limit: the process group is killed (an endless loop?)
    exit       the process ended before writing its result, with status 0 or another (sys.exit, os._exit)
    signal     the process was killed by a signal (a crash in native code, or the out-of-memory killer)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .diagnosis import Row

DEFAULT_TIMEOUT = 20.0
SHOWN_OUTPUT = 20  # lines of the student's output shown
PACKAGE_PARENT = Path(__file__).resolve().parents[3]  # the folder holding numpyvae/
BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
        "from numpyvae.teaching.exercises.worker import main; sys.exit(main(sys.argv[2:]))")


@dataclass
class Outcome:
    kind: str                              # rows, import, defines, timeout, exit, signal
    message: str = ""
    rows: list[Row] = field(default_factory=list)
    traceback: str = ""
    output: str = ""                       # the tail of what the child printed
    returncode: int | None = None

    @property
    def passed(self) -> bool:
        return self.kind == "rows" and bool(self.rows) and all(row.passed for row in self.rows)


def tail(path: Path, lines: int = SHOWN_OUTPUT, limit: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a file, reading at most its last ``limit`` bytes."""
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        file.seek(max(size - limit, 0))
        text = file.read().decode("utf-8", errors="replace")
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)


def _row(data: dict) -> Row:
    error = data["error"]
    return Row(data["what"], float(error) if error is not None else None, data["tolerance"], data["message"],
               list(data["details"]), data["traceback"])


def run_check(name: str, source: str | Path | None, timeout: float = DEFAULT_TIMEOUT) -> Outcome:
    """Run exercise ``name`` on the student's file ``source`` (None: the package's reference) in a child."""
    with tempfile.TemporaryDirectory(prefix="numpyvae-exercise-") as folder:
        result = Path(folder) / "result.json"
        output = Path(folder) / "output.txt"
        command = [sys.executable, "-I", "-B", "-c", BOOT, str(PACKAGE_PARENT), name, str(result),
                   "--reference" if source is None else str(Path(source).resolve())]
        with open(output, "wb") as sink:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                     start_new_session=True)
            try:
                returncode = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(child)
                return Outcome("timeout", f"no result after {timeout:g} s: the process was stopped (an endless "
                               "loop, or a step far slower than it should be?)", output=tail(output))
            finally:
                if child.poll() is None:  # Ctrl-C in the parent: the child's group goes too
                    _kill_group(child)
        shown = tail(output)
        if returncode < 0:
            name_of = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
            return Outcome("signal", f"the process was killed by {name_of} before the check finished (a crash "
                           "in native code, or out of memory)", output=shown, returncode=returncode)
        if not result.exists():
            return Outcome("exit", f"the process ended with status {returncode} before the check finished: your "
                           "code ended it (sys.exit, os._exit or exit()), or the checker itself failed; that is not "
                           "a pass", output=shown, returncode=returncode)
        data = json.loads(result.read_text(encoding="utf-8"))
    if data["outcome"] != "rows":
        return Outcome(data["outcome"], data["message"], traceback=data.get("traceback", ""), output=shown,
                       returncode=returncode)
    return Outcome("rows", rows=[_row(row) for row in data["rows"]], output=shown, returncode=returncode)


def _kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()
