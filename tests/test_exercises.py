"""python -m numpyvae.exercises: the blank stubs fail, the package's own versions pass, and a student's mistakes
show up in the row where they are."""

import pytest

from numpyvae.teaching.exercises import EXERCISES
from numpyvae.teaching.exercises.command import STUBS, main

RIGHT_DENSE = '''
import numpy as np

class Dense:
    def __init__(self, weight, bias):
        self.weight, self.bias = weight, bias

    def forward(self, u):
        self.u = u
        return u @ self.weight + self.bias

    def backward(self, grad_out):
        self.grad_weight = self.u.T @ grad_out
        self.grad_bias = grad_out.sum(axis=0)
        return grad_out @ self.weight.T
'''

NAIVE_SOFTPLUS = '''
import numpy as np

class Softplus:
    def forward(self, a):
        self.a = a
        with np.errstate(over="ignore"):
            return np.log(1 + np.exp(a))

    def backward(self, grad_out):
        with np.errstate(over="ignore"):
            return grad_out / (1 + np.exp(-self.a))
'''


def rows_of(out):
    return {line[:32].strip(): line[32:].split()[1] for line in out.splitlines()[2:-1]}


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_blank_stub_fails_every_row(name, tmp_path, capsys):
    assert main(["check", name, "--file", str(STUBS / f"{name}.py")]) == 1
    rows = rows_of(capsys.readouterr().out)
    assert rows and set(rows.values()) == {"FAIL"}


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_the_packages_own_version_passes(name, capsys):
    assert main(["check", name, "--reference"]) == 0
    out = capsys.readouterr().out
    assert set(rows_of(out).values()) == {"PASS"} and f"pass: every row of {name} agrees" in out


def test_start_copies_the_stubs_and_keeps_a_students_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["start"]) == 0
    assert sorted(path.name for path in (tmp_path / "exercises").iterdir()) == sorted(f"{n}.py" for n in EXERCISES)
    (tmp_path / "exercises" / "dense.py").write_text(RIGHT_DENSE)
    assert main(["start"]) == 0
    assert (tmp_path / "exercises" / "dense.py").read_text() == RIGHT_DENSE
    assert main(["check", "dense"]) == 0  # the default file is exercises/dense.py
    assert main(["check", "softplus"]) == 1


def test_a_right_solution_passes_and_one_wrong_line_fails_its_own_row(tmp_path, capsys):
    right = tmp_path / "dense.py"
    right.write_text(RIGHT_DENSE)
    assert main(["check", "dense", "--file", str(right)]) == 0
    wrong = tmp_path / "wrong.py"
    wrong.write_text(RIGHT_DENSE.replace("grad_out.sum(axis=0)", "grad_out.mean(axis=0)"))
    capsys.readouterr()
    assert main(["check", "dense", "--file", str(wrong)]) == 1
    rows = rows_of(capsys.readouterr().out)
    assert rows == {"forward  a = u W + b": "PASS", "dL/du": "PASS", "dL/dW": "PASS", "dL/db": "FAIL"}


def test_the_textbook_softplus_fails_only_at_large_inputs(tmp_path, capsys):
    naive = tmp_path / "softplus.py"
    naive.write_text(NAIVE_SOFTPLUS)
    assert main(["check", "softplus", "--file", str(naive)]) == 1
    rows = rows_of(capsys.readouterr().out)
    assert rows["forward  log(1 + e^a)"] == rows["dL/da"] == "PASS"
    assert rows["forward at a = -1000 ... 1000"] == "FAIL"


def test_missing_or_broken_files_are_one_line_errors(tmp_path, capsys):
    assert main(["check", "dense", "--file", str(tmp_path / "nothing.py")]) == 2
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert main(["check", "dense", "--file", str(broken)]) == 2
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["check", "dense", "--file", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err and "defines no class Dense" in err
