"""python -m numpyvae.explain: the legend, every stage shown and checked, planted bugs caught where they are."""

import numpy as np
import pytest

from numpyvae.models import vae
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
    """The rows are VAE.backward's own arrays: equal to the bit to a plain model.backward() on the same batch."""
    loss, rows, _ = ex.explain(seed=1, pixels=16)
    stages = {stage.name: stage for stage, _ in rows}
    assert len([name for name in stages if name.endswith((".weight", ".bias"))]) == 14
    model = ex.VAE(16, (16, 16), 3, keep_prob=0.8, seed=1, dtype=np.float64)
    rng = np.random.default_rng(1)
    x, eps = rng.random((4, 16)), rng.standard_normal((4, 3))
    assert model.loss(x, True, eps) == loss
    model.backward()
    for name, grad in model.grads.items():
        assert np.array_equal(stages[name].gradient, grad), name


OPTIONS = [dict(), dict(classes=3), dict(objective="iwae", k=3), dict(classes=2, objective="iwae", k=2)]


def fresh_model(traced, **options):
    """A second model like the walk's, its loss run on the walk's batch: the same weights, noise and masks."""
    model = ex.VAE(16, (8, 8), 3, keep_prob=0.8, seed=1, dtype=np.float64, num_classes=options.get("classes", 0),
                   objective=options.get("objective", "elbo"), k=options.get("k", 1))
    return model, model.loss(traced.x, True, traced.eps, labels=traced.labels)


@pytest.mark.parametrize("options", OPTIONS)
def test_every_node_row_is_what_vae_backward_reports(options):
    """Each node row is the gradient VAE.backward reported under that node's name, to the bit; the rows cover
    every node the loss depends on through a gradient; and recording changes none of backward's results."""
    _, rows, traced = ex.explain(seed=1, pixels=16, hidden=8, **options)
    model, _ = fresh_model(traced, **options)
    reported = {}
    model.backward(record=lambda name, gradient: reported.setdefault(name, gradient.copy()))
    recorded_grads = {name: grad.copy() for name, grad in model.grads.items()}
    stages = {stage.name: stage for stage, _ in rows}
    layer = {"z_mean": "mu", "z_std": "sigma", "std_head.1": "a_sigma", "log_weights": "log_w"}
    for name, node in {**{name: name for name in ("logits", "z", "h")}, **layer}.items():
        if name in reported:
            assert np.array_equal(stages[node].gradient.reshape(reported[name].shape), reported[name]), name
    assert np.array_equal(stages["enc.a1"].gradient, reported["encoder.1"])
    nodes = {step.name for step in traced.steps} - {"xy"}
    assert {name for name in stages if not name.endswith((".weight", ".bias"))} == nodes
    # the parts at the meeting points add up to the row, with the model's own arithmetic
    assert np.array_equal(stages["h"].parts["the mu head's path"] + stages["h"].parts["the sigma head's path"],
                          stages["h"].gradient)
    if options.get("objective") == "iwae":
        decoder, ratio = stages["z"].parts.values()  # eps held fixed: log p(z) - log q(z | x) has one path to z
        assert np.array_equal(ratio + decoder, stages["z"].gradient)
    model.backward()  # without a recorder: the very same gradients
    for name, grad in model.grads.items():
        assert np.array_equal(recorded_grads[name], grad), name


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
@pytest.mark.parametrize("name", sorted(ex.BUGS))
def test_every_planted_bug_changes_the_gradients_training_computes(name, objective):
    """A planted bug patches code that VAE.backward runs: the seed's architecture in float32, one batch, the same
    noise and dropout masks, backward without and with the bug (kl-std is the ELBO's KL: the IWAE has none)."""
    # the seed's model: 784-500-500-20, dropout 0.9, float32
    model = ex.VAE(objective=objective, k=2 if objective == "iwae" else 1)
    rng = np.random.default_rng(0)
    x = rng.random((8, 784), dtype=np.float32)
    eps = rng.standard_normal((2, 8, 20) if objective == "iwae" else (8, 20), dtype=np.float32)
    model.loss(x, True, eps)

    def gradients():
        model.backward()
        return {key: grad.copy() for key, grad in model.grads.items()}
    right = gradients()
    with ex.planted(name):
        wrong = gradients()
    again = gradients()  # the caches are untouched by backward: the comparison is on the same pass
    assert all(np.array_equal(right[key], again[key]) for key in right)
    changed = [key for key in right if not np.array_equal(right[key], wrong[key])]
    assert bool(changed) == (name != "kl-std" or objective == "elbo"), changed
    if changed:
        assert any(key.startswith("encoder.") for key in changed)  # every bug reaches the encoder's first layer


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


def test_what_the_failing_rows_say_is_read_from_them(capsys):
    """A bias averaged over the batch fails only bias rows: no node inherits it, and the verdict says so; a wrong
    derivative in the chain fails the rows below it, and the verdict counts them."""
    assert ex.main(["--bug", "dense-bias", "--pixels", "16", "--hidden", "8"]) == 1
    out = capsys.readouterr().out
    failing = [line.split()[0] for line in out.splitlines() if line.endswith("FAIL")]
    assert failing and all(name.endswith(".bias") for name in failing)
    assert "inherit" not in out and "every node's gradient passes: the error does not travel down the chain" in out
    assert ex.main(["--bug", "tanh", "--pixels", "16", "--hidden", "8"]) == 1
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.split("gradient wrt")[1].splitlines()[1:] if line[:1] not in (" ", "")]
    below = rows[rows.index("dec.a1") + 1:rows.index("the")]
    assert f"the rows above it pass; all {len(below)} rows below it fail too" in out


def test_a_planted_bug_is_gone_after_the_run():
    originals = (Tanh.backward, Dropout.backward, Dense.backward, GaussianKL.backward, vae.heads_backward,
                 vae.reparameterization_backward)
    for name in ex.BUGS:
        with ex.planted(name):
            pass
    assert originals == (Tanh.backward, Dropout.backward, Dense.backward, GaussianKL.backward,
                         vae.heads_backward, vae.reparameterization_backward)
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
    model, model_loss = fresh_model(traced, **options)
    assert model_loss == loss
    model.backward()
    for name, grad in model.grads.items():
        assert np.array_equal(stages[name].gradient, grad), name
    if options.get("classes"):
        assert "zy" in stages and stages["z"].gradient.shape[1] == 3
    if options.get("objective") == "iwae":
        assert stages["log_w"].gradient.shape == (options["k"], 4)
        np.testing.assert_allclose(stages["log_w"].gradient.sum(axis=0), -1 / 4)  # the weights sum to one


def test_k_without_iwae_is_refused(capsys):
    assert ex.main(["--k", "2"]) == 2
    assert "--k counts IWAE samples" in capsys.readouterr().err
