"""python -m numpyvae.explain: the legend, every stage shown and checked, planted bugs caught where they are."""

import numpy as np
import pytest

from numpyvae.nn.layers import Dense, Dropout, Tanh
from numpyvae.nn.losses import GaussianKL
from numpyvae.teaching import explain as ex

NODES = ("x", "enc.a1", "enc.v1", "enc.r1", "enc.a2", "enc.v2", "h", "mu", "a_sigma", "sigma", "z",
         "dec.a1", "dec.v1", "dec.r1", "dec.a2", "dec.v2", "dec.r2", "logits", "xhat", "L")


def test_the_legend_comes_first_and_names_every_node_once(capsys):
    assert ex.main(["--pixels", "16"]) == 0
    out = capsys.readouterr().out
    legend, table = out.split("backward, from the loss down")
    first_words = [line.split()[0] for line in legend.splitlines()[2:] if line.startswith("  ") and
                   not line.startswith("   ")]
    assert tuple(first_words[:len(NODES)]) == NODES
    for node in ("enc.a1", "dec.a1"):  # the same scheme in encoder and decoder, defined in the legend
        assert f"{node}      4x16   = " in legend
    assert "dec.b1" not in out and "dec.g1" not in out and "enc.d1" not in out  # the old, lambda-only names
    assert "FAIL" not in table and "every gradient agrees" in table


def test_every_weight_row_names_its_input(capsys):
    _, rows, _ = ex.explain(pixels=16)
    inputs = {stage.name: stage.equation.split(" = ")[1].split("^T")[0] for stage, _ in rows
              if stage.name.endswith(".weight")}
    assert inputs == {"decoder.output.weight": "dec.r2", "decoder.fc2.weight": "dec.r1", "decoder.fc1.weight": "z",
                      "encoder.mean.weight": "h", "encoder.std.weight": "h", "encoder.fc2.weight": "enc.r1",
                      "encoder.fc1.weight": "x"}


def test_parameter_rows_show_the_models_own_gradients():
    loss, rows, _ = ex.explain(seed=1, pixels=16)
    stages = {stage.name: stage for stage, _ in rows}
    assert len([name for name in stages if name.endswith((".weight", ".bias"))]) == 14
    model = ex.VAE(16, (16, 16), 3, keep_prob=0.8, seed=1, dtype=np.float64)
    rng = np.random.default_rng(1)
    x, eps = rng.random((4, 16)), rng.standard_normal((4, 3))
    assert model.loss(x, True, eps) == loss
    model.backward()
    for name, grad in model.grads.items():
        np.testing.assert_allclose(stages[name].gradient, grad, rtol=1e-12)


def test_node_rows_are_the_gradients_of_the_loss_in_that_node():
    """Each node row's gradient against a plain float64 finite difference, independent of the walk's checker."""
    loss, rows, traced = ex.explain(seed=2, dropout=False, pixels=16)
    stages = {stage.name: stage for stage, _ in rows}
    for name in ("logits", "z", "sigma", "h", "enc.a1"):
        value = traced.values[name]
        i = np.unravel_index(np.argmax(np.abs(stages[name].gradient)), value.shape)
        original = value[i]
        value[i] = original + 1e-6
        up = traced.run_steps(traced.index(name) + 1).sum()
        value[i] = original - 1e-6
        down = traced.run_steps(traced.index(name) + 1).sum()
        value[i] = original
        assert (up - down) / 2e-6 == pytest.approx(stages[name].gradient[i], rel=1e-6)


def test_a_wrong_kl_gradient_is_caught_at_its_stage(monkeypatch, capsys):
    right = GaussianKL.backward

    def wrong(self, grad_out):
        grad_mean, grad_std = right(self, grad_out)
        return grad_mean, grad_std * 1.01  # one percent off
    monkeypatch.setattr(GaussianKL, "backward", wrong)
    assert ex.main(["--pixels", "16"]) == 1
    failing = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.endswith("FAIL")]
    assert failing[0] == "sigma"  # caught where it happens; everything upstream inherits it
    assert "mu" not in failing and "logits" not in failing


@pytest.mark.parametrize("name", sorted(ex.BUGS))
def test_each_planted_bug_is_caught_first_where_it_was_planted(name, capsys):
    assert ex.main(["--bug", name, "--pixels", "16", "--hidden", "8"]) == 1  # small: quick
    out = capsys.readouterr().out
    failing = [line.split()[0] for line in out.splitlines() if line.endswith("FAIL")]
    assert failing[0] == ex.BUGS[name].first_failing_row
    assert f"the check first fails at '{failing[0]}'" in out and f"planted bug '{name}'" in out


def test_a_planted_bug_is_gone_after_the_run():
    originals = (Tanh.backward, Dropout.backward, Dense.backward, GaussianKL.backward, ex.trace.trunk_backward,
                 ex.trace.reparameterization_backward)
    for name in ex.BUGS:
        with ex.planted(name):
            pass
    assert originals == (Tanh.backward, Dropout.backward, Dense.backward, GaussianKL.backward,
                         ex.trace.trunk_backward, ex.trace.reparameterization_backward)
    assert ex.main(["--pixels", "16", "--hidden", "8"]) == 0


def test_bad_flags_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        ex.main(["--bug", "no-such-bug"])
    assert exit_info.value.code == 2
    assert ex.main(["--batch", "0"]) == 2
    assert capsys.readouterr().err.count("\n") == 2


@pytest.mark.parametrize("options", [dict(classes=3), dict(objective="iwae", k=3),
                                     dict(classes=2, objective="iwae", k=2)])
def test_the_conditional_and_iwae_walks_agree_with_the_model_and_the_checks(options):
    loss, rows, traced = ex.explain(seed=1, pixels=16, hidden=8, **options)
    assert all(error < 1e-6 for _, error in rows), [(stage.name, error) for stage, error in rows if error >= 1e-6]
    stages = {stage.name: stage for stage, _ in rows}
    model = ex.VAE(16, (8, 8), 3, keep_prob=0.8, seed=1, dtype=np.float64, num_classes=options.get("classes", 0),
                   objective=options.get("objective", "elbo"), k=options.get("k", 1))
    assert model.loss(traced.x, True, traced.eps, labels=traced.labels) == loss
    model.backward()
    for name, grad in model.grads.items():
        np.testing.assert_allclose(stages[name].gradient, grad, rtol=1e-10, atol=1e-14)
    if options.get("classes"):
        assert "zy" in stages and stages["z"].gradient.shape[1] == 3
    if options.get("objective") == "iwae":
        assert stages["log_w"].gradient.shape == (options["k"], 4)
        np.testing.assert_allclose(stages["log_w"].gradient.sum(axis=0), -1 / 4)  # the weights sum to one


def test_k_without_iwae_is_refused(capsys):
    assert ex.main(["--k", "2"]) == 2
    assert "--k counts IWAE samples" in capsys.readouterr().err
