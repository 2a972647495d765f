"""exercises check runs the student's file in a child process with a time limit: an endless loop, sys.exit(0),
os._exit(0), a crash or an exception is reported as what it is, and never as a pass."""

import sys
import time

import pytest

from numpyvae.teaching.exercises import EXERCISES
from numpyvae.teaching.exercises.command import main
from numpyvae.teaching.exercises.sandbox import PACKAGE_PARENT, run_check


def student(tmp_path, body, name="dense.py"):
    path = tmp_path / name
    path.write_text(body)
    return path


def dense_with(forward="", backward="", top=""):
    """The worked dense solution with extra lines at the top of its file, its forward and its backward."""
    text = EXERCISES["dense"].solution.read_text()
    text = text.replace("import numpy as np\n", "import numpy as np\n" + top, 1)
    text = text.replace("        self.u = u\n", "        self.u = u\n" + forward, 1)
    return text.replace("        self.grad_weight = self.u.T", backward + "        self.grad_weight = self.u.T", 1)


def test_an_endless_loop_is_stopped_at_the_time_limit(tmp_path, capsys):
    path = student(tmp_path, dense_with(forward="        while True:\n            pass\n"))
    started = time.perf_counter()
    assert main(["check", "dense", "--file", str(path), "--timeout", "2"]) == 1
    assert time.perf_counter() - started < 15
    out = capsys.readouterr().out
    assert "fail: no result after 2 s: the process was stopped" in out and "PASS" not in out


def test_an_endless_loop_that_prints_is_stopped_and_its_last_lines_shown(tmp_path):
    path = student(tmp_path, dense_with(top="i = 0\nwhile True:\n    print('line', i)\n    i += 1\n"))
    outcome = run_check("dense", path, timeout=2)
    assert outcome.kind == "timeout" and not outcome.passed
    shown = outcome.output.splitlines()
    assert 0 < len(shown) <= 20 and all(line.startswith("line ") for line in shown[:-1])


def test_sys_exit_0_while_importing_is_not_a_pass(tmp_path, capsys):
    path = student(tmp_path, dense_with(top="import sys\nsys.exit(0)\n"))
    assert main(["check", "dense", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert "fail: your code called sys.exit(0): a check cannot pass by ending the program" in out
    assert "dense.py" in out and "sys.exit(0)" in out and "pass:" not in out


def test_sys_exit_0_inside_a_method_fails_its_rows(tmp_path, capsys):
    path = student(tmp_path, dense_with(backward="        import sys\n        sys.exit(0)\n"))
    outcome = run_check("dense", path)
    assert outcome.kind == "rows" and not outcome.passed
    rows = {row.what: row for row in outcome.rows}
    assert rows["forward  a = u W + b"].passed
    assert all("called sys.exit(0)" in rows[name].message for name in ("dL/du", "dL/dW", "dL/db"))


@pytest.mark.parametrize("code, status", [(0, 0), (3, 3)])
def test_os_exit_ends_the_process_and_is_reported(tmp_path, capsys, code, status):
    path = student(tmp_path, dense_with(backward=f"        import os\n        os._exit({code})\n"))
    assert main(["check", "dense", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"fail: the process ended with status {status} before the check finished" in out
    assert "that is not a pass" in out


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
def test_a_crash_is_reported_with_its_signal(tmp_path, capsys):
    path = student(tmp_path, dense_with(forward="        import os, signal\n        os.kill(os.getpid(), "
                                                "signal.SIGSEGV)\n"))
    assert main(["check", "dense", "--file", str(path)]) == 1
    assert "fail: the process was killed by SIGSEGV before the check finished" in capsys.readouterr().out


def test_an_exception_shows_the_students_traceback(tmp_path, capsys):
    path = student(tmp_path, dense_with(backward="        raise ValueError('my bug')\n"))
    assert main(["check", "dense", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  ValueError: my bug" in out
    assert "Traceback (your code):" in out and f'File "{path}"' in out and "raise ValueError('my bug')" in out
    assert "numpyvae/teaching" not in out  # the checker's own frames are not the student's business
    assert out.count("Traceback") == 1     # once, under the first row it broke


def test_what_the_student_prints_is_shown_and_the_path_is_clean(tmp_path, capsys):
    top = "import sys\nimport numpyvae\nprint('path0', sys.path[0]); print('cwd on path', '' in sys.path)\n" \
          "print('package', numpyvae.__file__)\n"
    path = student(tmp_path, dense_with(top=top))
    assert main(["check", "dense", "--file", str(path)]) == 0
    out = capsys.readouterr().out
    assert "your code printed (last lines):" in out and "cwd on path False" in out
    assert f"path0 {PACKAGE_PARENT}" in out and f"package {PACKAGE_PARENT / 'numpyvae' / '__init__.py'}" in out


def test_the_students_folder_is_importable_for_their_own_parts(tmp_path):
    (tmp_path / "mine.py").write_text(EXERCISES["dense"].solution.read_text())
    path = student(tmp_path, "from mine import Dense  # noqa: F401\n")
    assert run_check("dense", path).passed


def test_a_file_edited_within_the_same_second_is_checked_as_it_now_is(tmp_path):
    """The same size, the same second: a cached .pyc would run the old version."""
    solution = EXERCISES["softplus"].solution.read_text()
    wrong = solution.replace("np.where(a >= 0, 1.0, small)", "np.where(a >= 0, small, 1.0)")
    path = student(tmp_path, wrong, "softplus.py")
    assert not run_check("softplus", path).passed
    path.write_text(solution)
    assert run_check("softplus", path).passed
    assert not (tmp_path / "__pycache__").exists()
