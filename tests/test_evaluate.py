"""Evaluation math on cases with known answers, and the command on a tiny checkpoint."""

import json
import math

import numpy as np
import pytest
import reference

from numpyvae.evaluate import main as evaluate_main
from numpyvae.evaluation import bounds as ev
from numpyvae.evaluation.lean_iwae import iwae_log_mean_weight
from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.models.vae import STD_FLOOR, VAE
from numpyvae.nn.layers import Softplus

SMALL = dict(input_dim=784, hidden_dims=(16, 12), latent_dim=3)


def images(n=12, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 784), dtype=np.uint8)


def prior_model(dtype=np.float64):
    """A model whose posterior is the prior N(0, I) for every x and whose decoder ignores z."""
    model = VAE(**SMALL, dtype=dtype)
    for name in ("encoder.mean.weight", "encoder.mean.bias", "encoder.std.weight", "decoder.fc1.weight"):
        model.params[name][...] = 0
    # 1e-6 + softplus(b) = 1: b = softplus^-1(1 - 1e-6) = log(e^(1 - 1e-6) - 1)
    model.params["encoder.std.bias"][...] = math.log(math.expm1(1 - STD_FLOOR))
    assert np.allclose(Softplus().forward(model.params["encoder.std.bias"]) + STD_FLOOR, 1)
    return model


def test_when_the_posterior_is_the_prior_iwae_equals_the_elbo_for_every_k():
    model, x = prior_model(), images()
    log_likelihood, kl = ev.elbo_terms(model, x)
    # KL(N(0, 1) || N(0, 1)) = 0, but for the seed's guard: 0.5 * (1 - log(1e-8 + 1) - 1) per dimension
    np.testing.assert_allclose(kl, -0.5 * SMALL["latent_dim"] * math.log1p(1e-8), rtol=1e-6)
    for k in (1, 7, 50):
        np.testing.assert_allclose(ev.iwae_bound(model, x, k=k), -log_likelihood, rtol=1e-10)
    results = ev.evaluate(model, x, k=5)
    assert results["active_units"] == 0
    assert results["iwae"] == pytest.approx(results["negative_elbo"], rel=1e-10)


def test_iwae_is_at_most_the_elbo_and_tightens_with_k():
    model, x = VAE(**SMALL, dtype=np.float64, seed=1), images(20)
    negative_elbo = ev.evaluate(model, x, k=0)["negative_elbo"]
    bounds = [ev.iwae_bound(model, x, k=k, seed=3).mean() for k in (1, 10, 200)]
    assert bounds[0] == pytest.approx(negative_elbo, rel=0.05)  # k = 1 is the ELBO, up to its noise
    assert bounds[2] < bounds[1] < bounds[0]
    assert bounds[2] < negative_elbo


def test_iwae_with_one_sample_is_an_elbo_estimate():
    """With k = 1, log w = log p(x|z) + log p(z) - log q(z|x), whose mean over z is the ELBO."""
    model, x = VAE(**SMALL, dtype=np.float64, seed=2), images(4)
    many = np.mean([ev.iwae_bound(model, x, k=1, seed=s) for s in range(300)], axis=0)
    log_likelihood, kl = np.mean([ev.elbo_terms(model, x, seed=s) for s in range(300)], axis=0)
    np.testing.assert_allclose(many, kl - log_likelihood, rtol=2e-3)


def test_the_references_logsumexp_is_stable_and_exact():
    values = np.array([[-1e4, -1e4 + 1, -1e4 - 2], [800.0, 799.0, -5.0]])
    expected = [-1e4 + math.log(math.exp(0) + math.exp(1) + math.exp(-2)),
                800 + math.log(1 + math.exp(-1) + math.exp(-805))]
    np.testing.assert_allclose(reference.logsumexp(values), expected, rtol=1e-15)


def test_the_reference_log_weights_match_a_brute_force_in_float64():
    """tests/reference.py, which the lean pass is held to, against log-densities written out sample by sample."""
    model, x = VAE(**SMALL, dtype=np.float64, seed=6), images(3).astype(np.float64) / 255
    log_weights = reference.iwae_log_weights(model, x, 4, np.random.default_rng(0))
    eps = np.random.default_rng(0).standard_normal((4, 3, 3))
    mean, std = model.encode(x)
    for sample in range(4):
        z = mean + std * eps[sample]
        p = model.decode(z)
        log_likelihood = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
        log_prior = np.sum(-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi), axis=1)
        log_posterior = np.sum(-0.5 * eps[sample] ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi), axis=1)
        np.testing.assert_allclose(log_weights[:, sample], log_likelihood + log_prior - log_posterior, rtol=1e-9)


def test_decoding_the_samples_in_chunks_changes_nothing():
    """The draws come in the same order however the samples are chunked, so the bound is the same."""
    model, x = VAE(**SMALL, dtype=np.float64, seed=4), images(10).astype(np.float64) / 255
    whole = iwae_log_mean_weight(model, x, 30, np.random.default_rng(5), rows=ev.ROWS_PER_CHUNK)
    chunked = iwae_log_mean_weight(model, x, 30, np.random.default_rng(5), rows=25)  # two samples of 10 images
    np.testing.assert_allclose(chunked, whole, rtol=1e-13)


def test_active_units_count_the_dimensions_whose_mean_varies():
    model, x = VAE(**SMALL, dtype=np.float64, seed=7), images(50)
    model.params["encoder.mean.weight"][:, 1] = 0  # dimension 1: the same mean for every image
    variances, kl_per_dim = ev.posterior_statistics(model, x)
    assert variances[1] == pytest.approx(0, abs=1e-20)
    results = ev.evaluate(model, x, k=0)
    assert results["active_units"] == int(np.sum(variances > 0.01)) and results["active_units"] < 3
    assert sum(results["kl_per_dim"]) == pytest.approx(results["kl"], rel=1e-9)


def tiny_checkpoint(path):
    model = VAE(hidden_dims=(8, 8), latent_dim=2)
    save_checkpoint(path, Checkpoint(config={"model": model.config, "run": {"dataset": "mnist"}}, step=0,
                                     rng_state=model.rng.bit_generator.state, params=model.params,
                                     optimizer={}, batcher={}))
    return path


def test_command_writes_its_table_and_json(tiny_dataset, tmp_path, capsys):
    checkpoint = tiny_checkpoint(tmp_path / "checkpoint.npz")
    code = evaluate_main([str(checkpoint), "--data-dir", str(tiny_dataset[0].parent), "--k", "20", "--no-progress"])
    assert code == 0
    results = json.loads((tmp_path / "evaluation.json").read_text())
    assert results["images"] == 10 and results["iwae_k"] == 20 and results["iwae_images"] == 10
    assert results["iwae"] <= results["negative_elbo"] + 3 * results["negative_elbo_stderr"]
    assert "IWAE -log p(x), K=20" in capsys.readouterr().out


@pytest.mark.parametrize("flags, code, says", [(["--k", "-1"], 2, "--k"), (["--iwae-images", "0"], 2, "--iwae-images"),
                                               (["--binarize", "half"], 2, "--binarize")])
def test_command_rejects_bad_flags(tiny_dataset, tmp_path, capsys, flags, code, says):
    checkpoint = tiny_checkpoint(tmp_path / "checkpoint.npz")
    with pytest.raises(SystemExit) as stop:
        raise SystemExit(evaluate_main([str(checkpoint), "--data-dir", str(tiny_dataset[0].parent), *flags]))
    err = capsys.readouterr().err.strip()
    assert stop.value.code == code and says in err and len(err.splitlines()) == 1


def test_command_on_a_missing_checkpoint(tmp_path, capsys):
    assert evaluate_main([str(tmp_path / "none.npz")]) == 1
    assert capsys.readouterr().err.startswith("error: checkpoint")
