"""The lean IWAE pass against the independent reference of tests/reference.py, a float64 brute force, and itself in
worker processes."""

import json
import math

import numpy as np
import pytest
import reference

from numpyvae.evaluate import main as evaluate_main
from numpyvae.evaluation import bounds as ev
from numpyvae.evaluation.lean_iwae import bernoulli_log_likelihood, iwae_bound_parallel, iwae_log_mean_weight
from numpyvae.models.vae import VAE
from numpyvae.nn.losses import LOGIT_CLIP, BernoulliLogLikelihood

SMALL = dict(input_dim=784, hidden_dims=(24, 16), latent_dim=4)


def model_with_clipped_logits(dtype, **kwargs):
    """A model whose output logits reach past the seed's clip (+-18.42) on some pixels."""
    model = VAE(**{**SMALL, **kwargs}, dtype=dtype, seed=1)
    model.params["decoder.output.bias"][:100] = -40
    model.params["decoder.output.bias"][100:150] = 40
    return model


def pixels(n, binary, dtype, seed=0):
    x = np.random.default_rng(seed).random((n, 784))
    return (x < 0.3).astype(dtype) if binary else x.astype(dtype)


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("rows", [7, 64, 10_000])
def test_the_same_draws_give_the_reference_numbers(binary, dtype, rtol, rows):
    model, x = model_with_clipped_logits(dtype), pixels(6, binary, dtype)
    expected = reference.iwae_log_mean_weight(model, x, 37, np.random.default_rng(2), rows)
    fast = iwae_log_mean_weight(model, x, 37, np.random.default_rng(2), rows)
    assert fast.dtype == np.float64
    np.testing.assert_allclose(fast, expected, rtol=rtol)


def test_a_float64_brute_force():
    model, x = model_with_clipped_logits(np.float64), pixels(3, True, np.float64)
    k = 25
    fast = iwae_log_mean_weight(model, x, k, np.random.default_rng(0), rows=10_000)  # one chunk: eps (k, 3, 4)
    eps = np.random.default_rng(0).standard_normal((k, 3, 4))
    mean, std = model.encode(x)
    weights = []
    for i in range(k):
        z = mean + std * eps[i]
        # the seed's clipped probability p = sigmoid(a), |a| <= 18.42; log p and log(1 - p) from a itself, since
        # 1 - p computed from p near 1 loses eight digits
        a = np.clip(model.decoder.forward(z, training=False), -LOGIT_CLIP, LOGIT_CLIP)
        log_likelihood = np.sum(-x * np.log1p(np.exp(-a)) - (1 - x) * np.log1p(np.exp(a)), axis=1)
        log_prior = np.sum(-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi), axis=1)
        log_q = np.sum(-0.5 * eps[i] ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi), axis=1)
        weights.append(log_likelihood + log_prior - log_q)
    weights = np.array(weights)
    expected = [math.log(sum(math.exp(w - max(column)) for w in column)) + max(column) - math.log(k)
                for column in weights.T]
    np.testing.assert_allclose(fast, expected, rtol=1e-11)


@pytest.mark.parametrize("width", [784, 50, 7])
def test_the_likelihood_matches_the_seeds_clipped_bernoulli(width):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((3, 5, width)) * 15
    logits[0, 0, :3] = [-60, 60, 18.5]
    x = rng.random((5, width))
    expected = BernoulliLogLikelihood().forward(logits.reshape(-1, width), np.tile(x, (3, 1))).reshape(3, 5)
    np.testing.assert_allclose(bernoulli_log_likelihood(logits.copy(), x), expected, rtol=1e-12)


def test_float32_stays_float32_until_the_weights():
    logits = (np.random.default_rng(0).standard_normal((2, 3, 784)) * 5).astype(np.float32)
    x = pixels(3, True, np.float32)
    assert bernoulli_log_likelihood(logits, x).dtype == np.float32


def test_another_likelihood_falls_back_to_its_own_forward():
    model, x = VAE(**SMALL, dtype=np.float64, seed=2, reconstruction="mse"), pixels(4, False, np.float64)
    expected = reference.iwae_log_mean_weight(model, x, 9, np.random.default_rng(1), ev.ROWS_PER_CHUNK)
    np.testing.assert_allclose(iwae_log_mean_weight(model, x, 9, np.random.default_rng(1), ev.ROWS_PER_CHUNK),
                               expected, rtol=1e-12)


def test_workers_give_the_bound_of_one_process():
    model = VAE(**SMALL, seed=3)
    images = np.random.default_rng(0).integers(0, 256, (30, 784), dtype=np.uint8)
    alone = iwae_bound_parallel(model, images, k=20, batch_size=7, workers=1)
    together = iwae_bound_parallel(model, images, k=20, batch_size=7, workers=2)
    # the workers' BLAS runs on one thread, which may round the products differently
    np.testing.assert_allclose(together, alone, rtol=1e-6)
    assert alone.shape == (30,)
    results = ev.evaluate(model, images, k=20, batch_size=7, workers=2)
    assert results["iwae"] == pytest.approx(alone.mean(), rel=1e-6) and results["iwae_workers"] == 2


def test_the_command_refuses_zero_workers(tiny_dataset, tmp_path, capsys):
    from test_evaluate import tiny_checkpoint
    checkpoint = tiny_checkpoint(tmp_path / "checkpoint.npz")
    with pytest.raises(SystemExit) as stop:
        evaluate_main([str(checkpoint), "--data-dir", str(tiny_dataset[0].parent), "--workers", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip() == ("error: argument --workers: must be at least 1, got 0 "
                                              "(see python -m numpyvae.evaluate --help)")


def test_several_k_on_the_same_images_with_paired_differences(tiny_dataset, tmp_path, capsys):
    from test_evaluate import tiny_checkpoint
    checkpoint = tiny_checkpoint(tmp_path / "checkpoint.npz")
    root = str(tiny_dataset[0].parent)
    assert evaluate_main([str(checkpoint), "--data-dir", root, "--k", "1,10,50", "--no-progress"]) == 0
    results = json.loads((tmp_path / "evaluation.json").read_text())
    assert [row["k"] for row in results["iwae_ladder"]] == [1, 10, 50] and results["iwae_ladder_images"] == 10
    ladder, differences = results["iwae_ladder"], results["iwae_differences"]
    for low, high, step in zip(ladder[:-1], ladder[1:], differences, strict=True):
        assert (step["from_k"], step["to_k"]) == (low["k"], high["k"])
        # the mean of the paired differences is the difference of the means
        assert step["difference"] == pytest.approx(high["iwae"] - low["iwae"], abs=1e-9)
        assert step["difference_stderr"] > 0
    assert "paired: IWAE(K=50) - IWAE(K=10)" in capsys.readouterr().out
    assert evaluate_main([str(checkpoint), "--data-dir", root, "--k", "10,5", "--no-progress"]) == 2
    assert "increasing" in capsys.readouterr().err


@pytest.mark.parametrize("kwargs", [dict(num_classes=10), dict(likelihood="exact"), dict(reconstruction="mse"),
                                    dict(activations=["glu", "elu"], decoder_activations=["tanh", "glu"])],
                         ids=["conditional", "exact", "mse", "gated"])
def test_the_other_models_give_the_reference_numbers(kwargs):
    """A conditional model (labels at both ends), the exact likelihood and the Gaussian one take the general
    path of the lean pass, and a gated layer its own ``forward``; the same draws must still give the reference's
    numbers."""
    model, x = model_with_clipped_logits(np.float64, **kwargs), pixels(6, True, np.float64)
    labels = np.arange(6) % 10 if "num_classes" in kwargs else None
    expected = reference.iwae_log_mean_weight(model, x, 37, np.random.default_rng(2), ev.ROWS_PER_CHUNK, labels)
    fast = iwae_log_mean_weight(model, x, 37, np.random.default_rng(2), ev.ROWS_PER_CHUNK, labels)
    np.testing.assert_allclose(fast, expected, rtol=1e-12)
    if labels is not None:  # and the labels matter: other labels, other numbers
        other = iwae_log_mean_weight(model, x, 37, np.random.default_rng(2), ev.ROWS_PER_CHUNK, (labels + 1) % 10)
        assert not np.allclose(other, fast)


def test_workers_take_a_conditional_models_labels():
    model = VAE(**SMALL, num_classes=10, seed=3)
    images = (np.random.default_rng(4).random((30, 784)) < 0.3).astype(np.uint8) * 255
    labels = np.arange(30) % 10
    one = iwae_bound_parallel(model, images, k=9, batch_size=10, workers=1, labels=labels)
    two = iwae_bound_parallel(model, images, k=9, batch_size=10, workers=2, labels=labels)
    # as above: the workers' one-thread BLAS may round the float32 products differently
    np.testing.assert_allclose(two, one, rtol=1e-6)
    assert not np.allclose(one, iwae_bound_parallel(model, images, k=9, batch_size=10, workers=1,
                                                    labels=(labels + 3) % 10))


def test_the_log_weights_one_by_one_are_the_references(tiny_dataset):
    """evaluation.bounds.log_weights (the model's own IWAE terms) against tests/reference.py's float64 densities,
    for the same draws."""
    from reference import iwae_log_weights

    from numpyvae.evaluation.bounds import log_weights
    model = VAE(784, [16, 12], 3, seed=2, dtype=np.float64)
    x = np.random.default_rng(1).random((3, 784))
    mine = log_weights(model, x, 50, np.random.default_rng(7), rows=60)
    theirs = iwae_log_weights(model, x, 50, np.random.default_rng(7), rows=60)
    assert mine.shape == (3, 50) and np.allclose(mine, theirs, rtol=1e-12, atol=1e-9)
