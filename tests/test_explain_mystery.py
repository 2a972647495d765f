"""python -m numpyvae.explain --mystery [SEED] and --guess NAME: a bug planted unnamed, the evidence, the answer."""

import re
from pathlib import Path

import numpy as np
import pytest

from numpyvae.teaching import explain as ex
from numpyvae.teaching.explain import mystery

SMALL = ["--pixels", "16", "--hidden", "8"]  # quick
SMALL_OPTIONS = dict(pixels=16, hidden=8)


def run(capsys, *argv):
    code = ex.main([*SMALL, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_seeds_reach_every_bug_and_only_those_that_change_the_gradients():
    assert {mystery.mystery_bug(seed, SMALL_OPTIONS) for seed in range(60)} == set(ex.BUGS)
    # the IWAE has no KL term, so kl-std changes nothing there; without dropout, dropout-scale changes nothing
    assert mystery.bugs_that_change_gradients(dict(SMALL_OPTIONS, objective="iwae", k=2)) == \
        sorted(set(ex.BUGS) - {"kl-std"})
    assert mystery.bugs_that_change_gradients(dict(SMALL_OPTIONS, dropout=False)) == \
        sorted(set(ex.BUGS) - {"dropout-scale"})
    assert [mystery.mystery_bug(7, SMALL_OPTIONS)] * 2 == [mystery.mystery_bug(7, SMALL_OPTIONS) for _ in range(2)]


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_a_mystery_shows_the_evidence_and_never_the_bug(seed, capsys):
    name = mystery.mystery_bug(seed, SMALL_OPTIONS)
    bug = ex.BUGS[name]
    code, out, _ = run(capsys, "--mystery", str(seed))
    assert code == 1
    table = out.split("backward, from the loss down")[1]
    failing = [line.split()[0] for line in table.splitlines() if line.endswith("FAIL")]
    assert failing[0] == bug.first_failing_row  # the same row the named bug is caught at
    # not named, and no right (or wrong) formula: the legend of a walk without a bug, less its derivatives,
    # and no equation column
    assert f"'{name}'" not in out and bug.wrong_line not in out and bug.right_line not in out
    assert "dsigma = " not in out and "f' :" not in out and "planted bug" not in out
    ex.main(SMALL)
    legend = [line for line in capsys.readouterr().out.split("backward, from the loss down")[0].splitlines()
              if not line.startswith("     f' :")]
    before_the_table = out.split("backward, from the loss down")[0].splitlines()
    assert before_the_table[:-2] == legend and before_the_table[-2].startswith(f"mystery {seed}: a bug is planted")
    assert f"the check first fails at '{failing[0]}'" in out
    evidence = out.split(f"evidence at '{failing[0]}'")[1]
    assert "||a|| = " in evidence and "||n|| = " in evidence and "a / n" in evidence
    assert f"--mystery {seed} --guess NAME" in out


@pytest.mark.parametrize("name, factor", [("dense-bias", 0.25), ("bernoulli-sign", -1.0)])
def test_a_constant_factor_is_named_where_there_is_one(name, factor, capsys):
    """1/B for a bias averaged over B = 4 images, -1 for a flipped sign: the ratio a / n of the first failing row."""
    seed = next(seed for seed in range(100) if mystery.mystery_bug(seed, SMALL_OPTIONS) == name)
    _, out, _ = run(capsys, "--mystery", str(seed))
    found = re.search(r"a / n = (\S+) on (every entry|the \d+ entries where n is not 0): one constant factor", out)
    assert found and float(found.group(1)) == pytest.approx(factor, rel=1e-6)


def test_the_ratio_evidence():
    rng = np.random.default_rng(0)
    numeric = rng.standard_normal((4, 3))
    assert "a / n = 0.5 on every entry: one constant factor" in mystery.ratio_evidence(0.5 * numeric, numeric)
    masked = numeric * (np.arange(12).reshape(4, 3) % 3 != 0)  # a ReLU-like zero where n is not
    lines = mystery.ratio_evidence(masked, numeric)
    assert "a / n is not one factor: from 0 to 1" in lines[1] and lines[2] == "a = n on 8 of them, a = 0 on 4"
    assert "n is 0 everywhere" in mystery.ratio_evidence(numeric, np.zeros_like(numeric))[1]


def test_a_guess_is_right_or_wrong(capsys):
    name = mystery.mystery_bug(5, SMALL_OPTIONS)
    code, out, _ = run(capsys, "--mystery", "5", "--guess", name)
    assert code == 0 and out.startswith(f"right: mystery 5 is '{name}'") and ex.BUGS[name].right_line in out
    other = next(other for other in sorted(ex.BUGS) if other != name)
    code, out, _ = run(capsys, "--mystery", "5", "--guess", other)
    assert code == 1 and out.startswith(f"wrong: mystery 5 is not '{other}'") and name not in out
    assert "python -m numpyvae.explain --pixels 16 --hidden 8 --mystery 5" in out


def test_a_guess_takes_the_same_network_flags(capsys):
    """Under --objective iwae the seed draws from the eight bugs that change the IWAE's gradients."""
    options = dict(SMALL_OPTIONS, objective="iwae", k=2)
    seed = next(seed for seed in range(100) if mystery.mystery_bug(seed, options) != mystery.mystery_bug(
        seed, SMALL_OPTIONS))
    name = mystery.mystery_bug(seed, options)
    code, out, _ = run(capsys, "--objective", "iwae", "--k", "2", "--mystery", str(seed))
    assert code == 1 and f"--objective iwae --k 2 --mystery {seed} --guess NAME" in out
    assert run(capsys, "--objective", "iwae", "--k", "2", "--mystery", str(seed), "--guess", name)[0] == 0
    assert run(capsys, "--mystery", str(seed), "--guess", name)[0] == 1


def test_a_mystery_without_a_seed_draws_one_and_prints_it(capsys):
    code, out, _ = run(capsys, "--mystery")
    assert code == 1
    seed = int(re.search(r"^mystery (\d+): a bug is planted", out, re.M).group(1))
    assert f"--mystery {seed} --guess NAME" in out
    assert run(capsys, "--mystery", str(seed), "--guess", mystery.mystery_bug(seed, SMALL_OPTIONS))[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["--mystery", "3", "--guess", "no-such-bug"], "argument --guess: invalid choice: 'no-such-bug'"),
    (["--guess", "tanh"], "--guess answers a mystery: give its seed"),
    (["--mystery", "--guess", "tanh"], "--guess answers a mystery: give its seed"),
    (["--mystery", "3", "--bug", "tanh"], "--mystery plants a bug it does not name: it takes no --bug"),
    (["--mystery", "-2"], "--mystery SEED must be 0 or more, got -2"),
])
def test_bad_mystery_flags_are_one_line_errors(argv, message, capsys):
    try:
        code = ex.main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ") and message in captured.err


def test_the_guides_mysteries_are_what_it_says(capsys):
    """The guide's exercise lists seeds that plant the nine bugs one each, and reads mystery 9 through as elu,
    quoting the tail of its output: both must stay true."""
    guide = (Path(__file__).resolve().parent.parent / "docs" / "elbo_backprop.md").read_text()
    listed = re.search(r"Name the bug of each of (.*?) \(with the", guide, re.S).group(1)
    seeds = [int(seed) for seed in re.findall(r"`(?:--mystery )?(\d+)`", listed)]
    assert sorted(mystery.mystery_bug(seed, {}) for seed in [*seeds, 9]) == sorted(ex.BUGS)
    assert mystery.mystery_bug(9, {}) == "elu" and "`--mystery 9 --guess elu` says `right`" in guide
    assert ex.main(["--mystery", "9"]) == 1
    out = capsys.readouterr().out
    quoted = guide.split("The tail of `python -m numpyvae.explain --mystery 9`:\n\n```\n")[1].split("```")[0]
    assert out.endswith(quoted)
