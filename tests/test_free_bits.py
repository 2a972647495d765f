"""Free bits (--free-bits), and the reconstruction, KL and active units that metrics.csv and curves.png log."""

import csv
import json
import math
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from conftest import SMALL_RUN
from numpyvae.config import SettingError
from numpyvae.evaluation import bounds as ev
from numpyvae.models.vae import VAE
from numpyvae.nn.losses import FreeBitsKL, GaussianKL
from numpyvae.pictures import PALETTE, plots
from numpyvae.teaching import gradcheck
from numpyvae.teaching.gradcheck import check_gradients, loss_term_checks, vae_checks
from numpyvae.training import main, report


def reference_free_bits(mean, std, free_bits):
    """sum_d max(lambda, (1/B) sum_b KL_bd), written out with loops and math.log, and its gradient (1/B) a_d
    dKL_bd, a_d = [mean KL_d > lambda]: an implementation of its own to hold FreeBitsKL against."""
    batch, dims = mean.shape
    value, grad_mean, grad_std = 0.0, np.zeros_like(mean), np.zeros_like(std)
    for d in range(dims):
        total = 0.0
        for b in range(batch):
            m, s = float(mean[b, d]), float(std[b, d])
            total += 0.5 * (s * s + m * m - math.log(1e-8 + s * s) - 1)
        value += max(free_bits, total / batch)
        if total / batch > free_bits:
            for b in range(batch):
                m, s = float(mean[b, d]), float(std[b, d])
                grad_mean[b, d] = m / batch
                grad_std[b, d] = (s - s / (1e-8 + s * s)) / batch
    return value, grad_mean, grad_std


@pytest.fixture
def posterior():
    rng = np.random.default_rng(3)
    return rng.normal(size=(6, 5)), rng.uniform(0.1, 2, (6, 5))


@pytest.mark.parametrize("free_bits", [0.2, 0.7, 1.1, 50.0])
def test_free_bits_against_an_independent_formula(posterior, free_bits):
    mean, std = posterior
    term = FreeBitsKL(free_bits)
    value, ref_mean, ref_std = reference_free_bits(mean, std, free_bits)
    assert term.forward(mean, std).mean() == pytest.approx(value, rel=1e-12)
    grad_mean, grad_std = term.backward(1 / len(mean))  # the loss is a mean over the batch
    np.testing.assert_allclose(grad_mean, ref_mean, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grad_std, ref_std, rtol=1e-12, atol=1e-15)


def test_free_bits_floors_some_dimensions_and_zeroes_their_gradient(posterior):
    mean, std = posterior
    term = FreeBitsKL(0.0)
    term.forward(mean, std)
    dimension_kl = np.sort(term.dimension_kl)
    floor = (dimension_kl[1] + dimension_kl[2]) / 2  # two dimensions under it, three above
    term = FreeBitsKL(floor)
    term.forward(mean, std)
    assert term.active.sum() == 3
    grad_mean, grad_std = term.backward(1.0)
    assert np.all(grad_mean[:, ~term.active] == 0) and np.all(grad_std[:, ~term.active] == 0)
    assert np.all(grad_std[:, term.active] != 0)
    # with every dimension above its floor, the term is the analytic KL, value and gradient
    low = FreeBitsKL(dimension_kl[0] / 2)
    kl = GaussianKL()
    np.testing.assert_allclose(low.forward(mean, std), kl.forward(mean, std), rtol=1e-12)
    for mine, theirs in zip(low.backward(0.5), kl.backward(0.5), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)


def test_free_bits_gradient_check_in_float64(posterior):
    mean, std = posterior
    term = FreeBitsKL(0.0)
    term.forward(mean, std)
    kls = np.sort(term.dimension_kl)
    term = FreeBitsKL((kls[0] + kls[1]) / 2)  # one dimension under its floor, four above
    term.forward(mean, std)
    assert np.abs(term.dimension_kl - term.free_bits).min() > 0.01  # away from the max's kink
    errors = check_gradients(lambda: term.forward(mean, std),
                             lambda g: dict(zip(("mean", "std"), term.backward(g), strict=True)),
                             {"mean": mean, "std": std})
    assert max(errors.values()) < 1e-7, errors
    rows = dict(loss_term_checks())
    assert max(rows["FreeBitsKL"].values()) < 1e-7
    vae = dict(vae_checks())["VAE free bits"]
    assert max(vae.values()) < 1e-7, vae


def test_the_gradient_check_row_has_dimensions_on_both_sides_of_lambda(monkeypatch):
    # the very model and batch the "VAE free bits" row checks: both branches of the max must be exercised
    seen = []

    def recording(model, x, eps, *, training=True, h=1e-3, labels=None):
        if isinstance(model.kl, FreeBitsKL):
            state = model.rng.bit_generator.state
            model.loss(x, training, eps, labels)
            model.rng.bit_generator.state = state  # the check replays the same dropout masks
            seen.append(model.kl.active.copy())
        return checking(model, x, eps, training=training, h=h, labels=labels)

    checking = gradcheck.check_vae
    monkeypatch.setattr(gradcheck, "check_vae", recording)
    gradcheck.vae_checks()
    assert len(seen) == 1 and 0 < seen[0].sum() < len(seen[0]), seen


def test_free_bits_against_torch_autograd(posterior):
    torch = pytest.importorskip("torch")
    mean, std = posterior
    for free_bits in (0.3, 0.8, 1.3):
        t_mean = torch.tensor(mean, requires_grad=True)
        t_std = torch.tensor(std, requires_grad=True)
        per_dim = 0.5 * (t_std ** 2 + t_mean ** 2 - torch.log(1e-8 + t_std ** 2) - 1)
        value = torch.clamp(per_dim.mean(dim=0), min=free_bits).sum()
        value.backward()
        term = FreeBitsKL(free_bits)
        assert term.forward(mean, std).mean() == pytest.approx(value.item(), rel=1e-12)
        grad_mean, grad_std = term.backward(1 / len(mean))
        np.testing.assert_allclose(grad_mean, t_mean.grad.numpy(), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(grad_std, t_std.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_the_vae_trains_on_free_bits_and_evaluation_reports_the_true_elbo():
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (16, 12)).astype(np.float32)
    plain = VAE(12, hidden_dims=(8,), latent_dim=4, seed=5)
    floored = VAE(12, hidden_dims=(8,), latent_dim=4, seed=5, free_bits=2.0)
    assert isinstance(plain.kl, GaussianKL) and isinstance(floored.kl, FreeBitsKL)
    assert plain.config["free_bits"] == 0.0 and floored.config["free_bits"] == 2.0
    for name in plain.params:
        np.testing.assert_array_equal(plain.params[name], floored.params[name])
    eps = rng.standard_normal((16, 4)).astype(np.float32)
    terms = floored.loss_terms(x, training=False, eps=eps)
    plain_terms = plain.loss_terms(x, training=False, eps=eps)
    floor = FreeBitsKL(2.0)
    expected = float(np.mean(floor.forward(plain_terms.mean, plain_terms.std))) - float(
        np.mean(plain_terms.log_likelihood))
    assert float(terms.losses.mean()) == pytest.approx(expected, rel=1e-5)
    assert floored.kl.active.sum() < 4  # the floor of 2 nats binds somewhere: the objective differs
    assert float(terms.losses.mean()) > float(plain_terms.losses.mean())
    # evaluation: the analytic KL, the true -ELBO, the same for both models (same weights)
    images = (rng.uniform(0, 1, (30, 12)) * 255).astype(np.uint8)
    assert ev.negative_elbo(floored, images) == ev.negative_elbo(plain, images)
    assert ev.evaluate(floored, images, k=0)["kl"] == ev.evaluate(plain, images, k=0)["kl"]


@pytest.mark.parametrize("options, says", [
    (dict(objective="iwae", k=2), "--objective elbo"),
    (dict(kl="sampled"), "--kl analytic"),
    (dict(variational=False), "--model vae"),
    (dict(free_bits=-0.5), "at least 0"),
])
def test_free_bits_rules(options, says):
    with pytest.raises(SettingError, match=says):
        VAE(12, hidden_dims=(8,), latent_dim=4, **{"free_bits": 0.5, **options})


@pytest.mark.parametrize("flags, says", [
    (["--free-bits", "0.5", "--objective", "iwae", "--k", "3"], "--free-bits"),
    (["--free-bits", "0.5", "--kl", "sampled"], "--free-bits"),
    (["--free-bits", "-1"], "--free-bits must be at least 0"),
    (["--free-bits", "nan"], "--free-bits"),
])
def test_free_bits_flag_errors_are_one_line(flags, says, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        sys.exit(main([*flags, "--out", str(tmp_path / "run"), "--no-download"]))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and says in err, err
    assert not (tmp_path / "run").exists()


# -- metrics.csv and curves.png -------------------------------------------------------------------------------

def test_metrics_log_the_terms_and_the_active_units_of_the_evaluation(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    root = str(tiny_dataset[0].parent)
    assert main(["--data-dir", root, "--out", str(out), *SMALL_RUN, "--steps", "8", "--log-every", "4",
                 "--free-bits", "0.05"]) == 0
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0] == "step,train_loss,test_loss,test_reconstruction,test_kl,active_units,wall_seconds"
    rows = list(csv.DictReader(lines))
    assert [row["step"] for row in rows] == ["4", "8"]
    for row in rows:  # the -ELBO is its two terms
        assert float(row["test_loss"]) == pytest.approx(float(row["test_reconstruction"]) + float(row["test_kl"]),
                                                        abs=2e-4)
    # the last report ran on the final weights, with evaluation's pass: the same numbers
    evaluation = json.loads((out / "evaluation.json").read_text())
    last = rows[-1]
    assert int(last["active_units"]) == evaluation["active_units"]
    assert float(last["test_kl"]) == pytest.approx(evaluation["kl"], abs=1e-4)
    assert float(last["test_reconstruction"]) == pytest.approx(evaluation["reconstruction"], abs=1e-4)
    assert float(last["test_loss"]) == pytest.approx(evaluation["negative_elbo"], abs=1e-4)  # the true -ELBO
    with Image.open(out / "curves.png") as image:
        assert image.size == (640, 3 * 420)  # losses, KL, active units


def reporter_for(model, images, out):
    """A Reporter on ``model`` writing into ``out``: it reads a run's model, folder and seed only."""
    run = SimpleNamespace(model=model, out=out, config=SimpleNamespace(run=SimpleNamespace(seed=0)))
    return report.Reporter(run, images)


def test_report_counts_active_units_as_evaluation_does(tmp_path):
    images = (np.random.default_rng(0).uniform(0, 1, (40, 784)) * 255).astype(np.uint8)
    model = VAE(784, hidden_dims=(16,), latent_dim=6, seed=2)
    reporter_for(model, images, tmp_path).report(1, 0.0)
    row = list(csv.DictReader((tmp_path / "metrics.csv").read_text().splitlines()))[0]
    results = ev.evaluate(model, images, k=0)
    assert int(row["active_units"]) == results["active_units"]
    assert int(row["active_units"]) == int(np.sum(np.var(model.encode(images / np.float32(255))[0], axis=0) > 0.01))
    assert float(row["test_kl"]) == pytest.approx(results["kl"], abs=1e-4)


def test_a_run_resumed_on_an_old_metrics_csv_keeps_its_columns(tmp_path):
    (tmp_path / "metrics.csv").write_text("step,train_loss,test_loss\n100,200.0,150.0\n")
    images = (np.random.default_rng(0).uniform(0, 1, (20, 784)) * 255).astype(np.uint8)
    model = VAE(784, hidden_dims=(16,), latent_dim=6, seed=2)
    loss = reporter_for(model, images, tmp_path).report(200, 140.0)
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["step,train_loss,test_loss", "100,200.0,150.0", f"200,140.0000,{loss:.4f}"]
    plots.plot_curves(tmp_path / "metrics.csv", tmp_path / "curves.png")


def test_an_old_metrics_csv_still_plots(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("step,train_loss,test_loss,validation_loss\n100,200,150,151\n200,150,130,131\n")
    plots.plot_curves(old, tmp_path / "old.png")
    with Image.open(tmp_path / "old.png") as image:
        assert image.size == (640, 420)
    assert set(plots.read_metrics(old)) == {"step", "train_loss", "test_loss"}
    new = tmp_path / "new.csv"
    new.write_text("step,train_loss,test_loss,test_reconstruction,test_kl,active_units\n"
                   "100,200,150,130,20,12\n200,150,130,105,25,14\n")
    plots.plot_curves(new, tmp_path / "new.png")
    with Image.open(tmp_path / "new.png") as picture:
        image = np.asarray(picture.convert("RGB"))
    assert image.shape == (3 * 420, 640, 3)
    for colour, panel in ((PALETTE[3], 1), (PALETTE[4], 2)):  # the KL and the units, each in its panel
        rows = np.argwhere(np.all(image == colour, axis=-1))[:, 0]
        assert len(rows) and rows.min() >= panel * 420 and rows.max() < (panel + 1) * 420
    plots.plot_comparison({"a": new, "b": new}, tmp_path / "both.png")
    with Image.open(tmp_path / "both.png") as picture:
        assert picture.size == (640, 3 * 420)
    with pytest.raises(Exception, match="does not log"):
        plots.plot_comparison({"a": new, "old": old}, tmp_path / "bad.png")
