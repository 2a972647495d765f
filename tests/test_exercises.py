"""python -m numpyvae.exercises: the blank stubs fail, the package's own versions and the worked solutions pass
far below the tolerance, every known mistake fails far above it with a diagnosis that names it, and no stub
gives away the derivative it asks for."""

import re
from pathlib import Path

import pytest

from numpyvae.teaching.exercises import EXERCISES
from numpyvae.teaching.exercises.command import main
from numpyvae.teaching.exercises.sandbox import run_check

MARGIN = 100  # right answers at least this far below the tolerance, known mistakes at least this far above


def rows_of(out):
    """{row name: (PASS/FAIL, message)} from the printed table."""
    rows = {}
    for line in out.splitlines():
        match = re.match(r"^(\S.*?)\s+(\S+)\s+(PASS|FAIL)\s*(.*)$", line)
        if match and not line.startswith(("checking", "check ")):
            rows[match.group(1)] = (match.group(3), match.group(4))
    return rows


def wrong(tmp_path, name, old, new):
    """The worked solution of ``name`` with one edit: a student's mistake."""
    text = EXERCISES[name].solution.read_text()
    assert text.count(old) == 1, f"the edit {old!r} does not apply once to the solution of {name}"
    path = tmp_path / f"{name}.py"
    path.write_text(text.replace(old, new))
    return path


def test_list_shows_every_exercise_and_the_capstone(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.splitlines()[:-1]]
    assert listed == list(EXERCISES) and len(listed) >= 9 and "capstone" in listed


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_blank_stub_fails_every_row(name, capsys):
    assert main(["check", name, "--file", str(EXERCISES[name].stub)]) == 1
    rows = rows_of(capsys.readouterr().out)
    assert rows and {result for result, _ in rows.values()} == {"FAIL"}


@pytest.mark.parametrize("name", list(EXERCISES))
@pytest.mark.parametrize("source", ["reference", "solution"])
def test_right_answers_pass_far_below_the_tolerance(name, source):
    outcome = run_check(name, None if source == "reference" else EXERCISES[name].solution)
    assert outcome.kind == "rows" and outcome.passed, [(r.what, r.error, r.message) for r in outcome.rows]
    for row in outcome.rows:
        assert row.error < row.tolerance / MARGIN, (row.what, row.error)


@pytest.mark.parametrize("name", list(EXERCISES))
def test_no_stub_states_the_derivative_it_asks_for(name):
    """The answers (as the solutions write them) and the usual ways of writing them are in no stub."""
    text = EXERCISES[name].stub.read_text().lower().replace(" ", "")
    answers = ["u^tg", "u.t@", "gw^t", "w^t", ".sum(axis=0)", "sigmoid(a)", "1-tanh", "1-v^2", "1-v**2", "e^afor",
               "dr/dv=", "x-xhat", "x-sigmoid", "sigma-sigma/", "sigma-1/sigma", "2sigma/", "softmax",
               "normalizedweight", "w_k/sum", "*eps", "grad_z*", "dz/dmu=", "dz/dsigma=", "=1/(1+e^-a)", "d/da",
               "'(a)=", "g*(", "(x-xhat)"]
    allowed = {"*eps": ["sigma*eps"]}  # the forward formula z = mu + sigma * eps is what the exercise computes
    found = [answer for answer in answers
             if text.count(answer) > sum(text.count(ok) for ok in allowed.get(answer, []))]
    assert not found, f"the stub of {name} states {found}"


def test_hints_are_graded_and_the_solution_is_printed(capsys):
    for name, exercise in EXERCISES.items():
        assert len(exercise.hints) >= 2, name
        assert main(["hint", name]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"hint 1 of {len(exercise.hints)} for {name}:") and "--level 2" in out
    assert main(["hint", "std_head", "--level", "2"]) == 0
    assert "softplus'(a_sigma)" in capsys.readouterr().out
    assert main(["hint", "dense", "--level", "3"]) == 0
    assert "solution dense" in capsys.readouterr().out
    assert main(["hint", "dense", "--level", "9"]) == 2
    assert "has hints 1 to 3" in capsys.readouterr().err
    assert main(["solution", "iwae_weights"]) == 0
    assert capsys.readouterr().out == EXERCISES["iwae_weights"].solution.read_text()


# -- the three diagnoses of the issue: a factor 2, a sign, a forgotten softplus -------------------------------

def test_a_factor_2_is_named(tmp_path, capsys):
    path = wrong(tmp_path, "gaussian_kl", "return g * self.mu,", "return 2 * g * self.mu,")
    assert main(["check", "gaussian_kl", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    rows = rows_of(out)
    assert rows["forward  KL per image"][0] == rows["dL/dsigma"][0] == "PASS"
    assert rows["dL/dmu"] == ("FAIL", "yours / numerical = 2 at every element: a factor 2 too many (the 1/2 of a "
                                      "square, or a term counted twice?)")
    assert "worst element [1, 2]: yours 0.573455, numerical 0.286728, at mu = 0.555106, sigma = 0.02" in out


def test_a_sign_is_named(tmp_path, capsys):
    path = wrong(tmp_path, "bernoulli", "(self.x - self.xhat)", "(self.xhat - self.x)")
    assert main(["check", "bernoulli", "--file", str(path)]) == 1
    rows = rows_of(capsys.readouterr().out)
    assert rows["dL/dl"] == rows["dL/dl at logits -1000 ... 1000"] == \
        ("FAIL", "yours / numerical = -1 at every element: the sign is wrong")
    assert rows["forward  log p(x | z)"][0] == "PASS"


def test_a_forgotten_softplus_factor_is_named(tmp_path, capsys):
    path = wrong(tmp_path, "std_head", "grad_a = grad_sigma * self.softplus_slope", "grad_a = grad_sigma")
    assert main(["check", "std_head", "--file", str(path)]) == 1
    rows = rows_of(capsys.readouterr().out)
    message = ("it equals the gradient with the softplus's factor left out: dL/da_sigma is dL/dsigma times "
               "softplus'(a_sigma) = sigmoid(a_sigma)")
    assert rows["dL/dW_sigma"] == rows["dL/db_sigma"] == rows["dL/dh"] == ("FAIL", message)


# -- every known mistake fails far above the tolerance ----------------------------------------------------------

MISTAKES = [  # (exercise, the solution's line, the mistaken line, the row that fails, words its message has)
    ("dense", "self.grad_bias = grad_out.sum(axis=0)", "self.grad_bias = grad_out.mean(axis=0)", "dL/db",
     "1/B = 1/4"),
    ("dense", "self.grad_weight = self.u.T @ grad_out", "self.grad_weight = grad_out.T @ self.u", "dL/dW",
     "shape (3, 5), expected (5, 3): the transpose's shape (and its transpose is right)"),
    ("softplus", "np.where(a >= 0, 1.0, small)", "np.where(a >= 0, small, 1.0)", "dL/da",
     "sigmoid(-a) = g (1 - sigmoid(a))"),
    ("tanh", "(1 - self.v ** 2)", "(1 - self.v)", "dL/da", "the square of tanh'"),
    ("elu", "np.where(a > 0, 1.0, np.exp(negative))", "np.where(a > 0, 1.0, 0.0)", "dL/da", "ReLU's derivative"),
    ("dropout", "return grad_out * self.mask / self.rho", "return grad_out * self.mask", "dL/dv",
     "the mask without its 1/rho"),
    ("gaussian_kl", "self.sigma / (1e-8 + self.sigma ** 2)", "1 / self.sigma", "dL/dsigma",
     "without the seed's 1e-8 guard"),
    ("gaussian_kl", "self.sigma / (1e-8 + self.sigma ** 2)", "0.5 * self.sigma / (1e-8 + self.sigma ** 2)",
     "dL/dsigma", "the 2 of d log(1e-8 + sigma^2) / dsigma"),
    ("reparameterize", "return grad_z, grad_z * self.eps", "return grad_z, grad_z", "dL/dsigma",
     "dz/dsigma is eps, not 1"),
    ("std_head", "(sigma - sigma / (1e-8 + sigma ** 2))", "(sigma - 1 / sigma)", "dL/dW_sigma",
     "without the seed's 1e-8 guard"),
    ("iwae_weights", "return self.normalized * np.asarray(grad_out)",
     "return self.normalized * np.asarray(grad_out) / len(self.normalized)", "dL/dlog w", "divided by K"),
    ("iwae_weights", "self.normalized = shifted / total", "self.normalized = shifted / shifted.sum(axis=1, "
     "keepdims=True)", "dL/dlog w", "normalized over the images (axis 1)"),
    ("capstone", "grad_sigma = grad_z * eps + kl_grad_sigma", "grad_sigma = grad_z + kl_grad_sigma",
     "encoder.std.weight", "relative error"),
    ("capstone", "model.kl.backward(model.effective_kl_weight() / batch)", "model.kl.backward(1 / batch)",
     "encoder.mean.weight", ""),
    ("capstone", "grad = model.reconstruction.backward(-1 / batch)", "grad = model.reconstruction.backward(-1)",
     "decoder.output.bias", ""),
    ("capstone", "grad_h = model.mean_head.backward(grad_mu) + ", "model.mean_head.backward(grad_mu)\n    grad_h = ",
     "encoder.fc2.bias", ""),
]


@pytest.mark.parametrize("name, old, new, row, words", MISTAKES, ids=[f"{m[0]}:{m[3]}" for m in MISTAKES])
def test_a_known_mistake_fails_far_above_the_tolerance(tmp_path, name, old, new, row, words):
    outcome = run_check(name, wrong(tmp_path, name, old, new))
    assert outcome.kind == "rows"
    failing = {r.what: r for r in outcome.rows if not r.passed}
    first = next(r for r in outcome.rows if not r.passed)
    assert first.what == row, (first.what, first.message)
    assert words in failing[row].message
    assert failing[row].error is None or failing[row].error > MARGIN * failing[row].tolerance


def test_the_capstone_rows_run_from_the_loss_down_and_locate_the_break(tmp_path):
    """Forgetting eps at z = mu + sigma eps: the decoder's rows and the mean head pass, the std head's fail."""
    path = wrong(tmp_path, "capstone", "grad_sigma = grad_z * eps + kl_grad_sigma",
                 "grad_sigma = grad_z + kl_grad_sigma")
    rows = run_check("capstone", path).rows
    assert [row.what for row in rows][:2] == ["decoder.output.bias", "decoder.output.weight"]
    assert all(row.passed for row in rows if row.what.startswith(("decoder.", "encoder.mean.")))
    assert not any(row.passed for row in rows if row.what.startswith("encoder.std."))


def test_the_capstone_refuses_the_models_own_backward(tmp_path, capsys):
    path = tmp_path / "capstone.py"
    path.write_text("def backward(model, terms, eps):\n    model.backward()\n")
    assert main(["check", "capstone", "--file", str(path)]) == 1
    rows = rows_of(capsys.readouterr().out)
    assert {result for result, _ in rows.values()} == {"FAIL"}
    assert all("called model.backward()" in message for _, message in rows.values())


def test_a_gradient_never_set_is_reported(tmp_path):
    path = wrong(tmp_path, "capstone", "    for layer in reversed(model.encoder.layers):\n        grad_h = "
                 "layer.backward(grad_h)\n", "")
    rows = {row.what: row for row in run_check("capstone", path).rows}
    assert rows["encoder.fc1.weight"].message == "never set: no backward pass reached this parameter"
    assert rows["encoder.mean.weight"].passed


# -- overflow and underflow, in the right words -------------------------------------------------------------------

NAIVE_IWAE = '''
import numpy as np

class IWAEBound:
    def forward(self, log_w):
        self.w = np.exp(log_w)
        return np.log(self.w.mean(axis=0))

    def backward(self, grad_out):
        return self.w / self.w.sum(axis=0) * grad_out
'''


def test_underflow_and_overflow_are_told_apart(tmp_path):
    path = tmp_path / "iwae_weights.py"
    path.write_text("import warnings\nwarnings.simplefilter('ignore')\n" + NAIVE_IWAE)
    rows = {row.what: row for row in run_check("iwae_weights", path).rows}
    assert rows["forward  log (1/K) sum_k w_k"].passed and rows["dL/dlog w"].passed
    low, high = rows["forward at log w near -1000"], rows["forward at log w near +1000"]
    assert "-inf: the log of 0, where an e^t underflowed to 0" in low.message
    assert "an underflow, not an overflow" in low.message
    assert "+inf: an overflow" in high.message and "underflow" not in high.message
    assert "nan" in rows["dL/dlog w at log w near -1000"].message


def test_the_unguarded_kl_fails_by_far_not_by_a_hair(tmp_path):
    """Where the old check passed the KL without its 1e-8 guard at 4.8e-8 against 1e-7, it now fails by far."""
    path = wrong(tmp_path, "gaussian_kl", "self.sigma / (1e-8 + self.sigma ** 2)", "1 / self.sigma")
    rows = {row.what: row for row in run_check("gaussian_kl", path).rows}
    assert rows["dL/dsigma"].error > 1e-5 and "without the seed's 1e-8 guard" in rows["dL/dsigma"].message


def test_start_copies_the_stubs_and_keeps_a_students_work(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["start"]) == 0
    assert sorted(path.name for path in (tmp_path / "exercises").iterdir()) == sorted(f"{n}.py" for n in EXERCISES)
    solution = EXERCISES["dense"].solution.read_text()
    (tmp_path / "exercises" / "dense.py").write_text(solution)
    assert main(["start"]) == 0
    assert (tmp_path / "exercises" / "dense.py").read_text() == solution
    assert main(["check", "dense"]) == 0  # the default file is exercises/dense.py
    assert main(["check", "softplus"]) == 1


def test_missing_files_and_bad_flags_are_one_line_errors(tmp_path, capsys):
    assert main(["check", "dense", "--file", str(tmp_path / "no thing.py")]) == 2
    assert main(["check", "dense", "--reference", "--timeout", "0"]) == 2
    assert main(["check", "dense", "--reference", "--timeout", "nan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "Traceback" not in err and "'" + str(tmp_path / "no thing.py") + "'" in err


def test_a_file_without_the_class_or_that_does_not_import_fails(tmp_path, capsys):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["check", "dense", "--file", str(empty)]) == 1
    assert "fail: defines no Dense" in capsys.readouterr().out
    broken = tmp_path / "broken.py"
    broken.write_text("def (:\n")
    assert main(["check", "dense", "--file", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "fail: SyntaxError" in out and Path(broken).name in out
