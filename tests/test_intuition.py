"""python -m numpyvae.intuition: the ELBO-gap estimates on a case with a known answer and on a real model, and
both pictures drawn by their commands (PNGs of the expected size), with one-line errors."""

import math

import numpy as np
import pytest
from PIL import Image

from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.models.vae import VAE
from numpyvae.teaching.intuition import KS, elbo_gap, main


def prior_posterior_model():
    """A VAE whose posterior is the prior N(0, I) and whose decoder ignores z: every bound equals log p(x)."""
    model = VAE(12, (6,), 3, keep_prob=1.0, seed=0, dtype=np.float64)
    for name in model.params:
        if name.startswith("encoder.mean.") or name.startswith("encoder.std.") or name == "decoder.fc1.weight":
            model.params[name][...] = 0
    model.params["encoder.std.bias"][...] = math.log(math.expm1(1 - 1e-6))  # 1e-6 + softplus(b) = 1
    return model


def test_every_bound_is_log_p_when_the_posterior_is_exact():
    model = prior_posterior_model()
    x = np.random.default_rng(0).uniform(0, 1, (1, 12))
    gap = elbo_gap(model, x, ks=(1, 10, 100), samples=1000)
    log_p = float(model.reconstruction.forward(model.decoder_logits(np.zeros((1, 3))), x)[0])  # p(x | z) = p(x)
    assert gap["elbo"] == pytest.approx(log_p, abs=1e-9) and gap["log_p"] == pytest.approx(log_p, abs=1e-9)
    assert all(row["bound"] == pytest.approx(log_p, abs=1e-9) for row in gap["bounds"])


def test_the_bounds_rise_with_k_towards_log_p():
    model = VAE(12, (7, 6), 3, keep_prob=1.0, seed=1, dtype=np.float64)
    x = np.random.default_rng(1).uniform(0, 1, (1, 12))
    gap = elbo_gap(model, x, ks=(1, 2, 5, 10, 100, 1000), samples=20_000, seed=0)
    bounds = gap["bounds"]
    assert bounds[0]["bound"] == pytest.approx(gap["elbo"], rel=1e-12)  # L_1 is the ELBO's estimate
    for low, high in zip(bounds[:-1], bounds[1:], strict=True):  # nondecreasing in K, within the noise
        assert high["bound"] > low["bound"] - 3 * math.hypot(low["stderr"], high["stderr"])
    assert bounds[-1]["bound"] - gap["elbo"] > 0.1  # this untrained model's posterior is far from exact
    assert gap["log_p"] >= bounds[-1]["bound"] - 3 * bounds[-1]["stderr"]
    assert [row["groups"] for row in bounds] == [20_000 // k for k in (1, 2, 5, 10, 100, 1000)]


def size_of(path):
    with Image.open(path) as image:
        return image.size


def test_the_commands_draw_the_pictures(tmp_path, tiny_dataset, capsys):
    out = tmp_path / "reparameterization.png"
    assert main(["reparameterization", "--out", str(out)]) == 0
    assert size_of(out) == (1640, 720)
    model = VAE(784, (16, 12), 3, keep_prob=0.9, seed=0)
    checkpoint = tmp_path / "checkpoint.npz"
    save_checkpoint(checkpoint, Checkpoint(config={"model": model.config, "run": {"dataset": "mnist"}}, step=0,
                                           rng_state=model.rng.bit_generator.state, params=model.params,
                                           optimizer={}, batcher={}))
    data_dir = str(tiny_dataset[0].parent)
    gap_png = tmp_path / "gap.png"
    assert main(["elbo-gap", str(checkpoint), "--data-dir", data_dir, "--samples", str(max(KS)),
                 "--out", str(gap_png)]) == 0
    assert size_of(gap_png) == (1200, 720)
    assert "log p(x) ~ L_5000" in capsys.readouterr().out
    for bad in (["reparameterization", "--out", str(tmp_path / "x.jpg")],
                ["elbo-gap", str(checkpoint), "--data-dir", data_dir, "--samples", "10", "--out", str(gap_png)],
                ["elbo-gap", str(checkpoint), "--data-dir", data_dir, "--image", "10", "--out", str(gap_png)],
                ["elbo-gap", str(checkpoint), "--data-dir", data_dir, "--seed", "-1", "--out", str(gap_png)]):
        assert main(bad) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 4 and "Traceback" not in err
