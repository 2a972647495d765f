"""The lean IWAE(k) pass for two stochastic layers and the VampPrior: against the model's own IWAE objective on
the same draws, against a float64 brute force written here (the mixture by broadcasting), in float32, and the
same numbers for any number of workers."""

import math

import numpy as np
import pytest

from numpyvae.evaluation.lean_hierarchical import hierarchical_bound_parallel, hierarchical_log_mean_weight
from numpyvae.models.hierarchical import HierarchicalVAE

OPTIONS = {
    "two layers": dict(),
    "two layers exact": dict(likelihood="exact"),
    "vamp two layers": dict(prior="vampprior", components=7),
    "vamp one layer": dict(latent_dims=(5,), hidden_dims=[[9, 8]], activations=None, prior="vampprior", components=4),
    "vamp three layers": dict(latent_dims=(6, 4, 3), hidden_dims=[[9], [7], [5]], prior="vampprior", components=5),
    "vamp two layers gated": dict(activations="glu", prior="vampprior", components=7),
}


def build(options, dtype=np.float64, seed=2):
    options = {"latent_dims": (6, 4), "hidden_dims": [[9, 8], [7, 5]], **options}
    model = HierarchicalVAE(30, keep_prob=0.8, seed=seed, dtype=dtype, **options)
    rng = np.random.default_rng(seed)
    for name, param in model.params.items():
        if name.endswith(".bias"):
            param += rng.normal(0, 0.1, param.shape).astype(dtype)
    if "prior.pseudo_inputs" in model.params:
        model.params["prior.pseudo_inputs"][...] = rng.uniform(0, 1, model.params["prior.pseudo_inputs"].shape)
    x = (rng.uniform(0, 1, (6, 30)) > 0.5).astype(dtype)
    return model, x


def draws(model, k, batch, rows, seed):
    """The noise the lean pass draws, chunk by chunk, joined along the sample axis: one (k, B, D_i) per layer."""
    rng = np.random.default_rng(seed)
    chunks, per_chunk = [], max(1, rows // batch)
    for first in range(0, k, per_chunk):
        n = min(per_chunk, k - first)
        chunks.append([rng.standard_normal((n, batch, width), dtype=model.dtype) for width in model.latent_dims])
    return [np.concatenate(layer) for layer in zip(*chunks, strict=True)]


def brute_force(model, x, eps):
    """log (1/k) sum w with every density written out in float64, from the parameters, by broadcasting."""
    p = {name: value.astype(np.float64) for name, value in model.params.items()}
    act = {"tanh": np.tanh, "elu": lambda a: np.where(a > 0, a, np.expm1(np.minimum(a, 0))),
           "glu": lambda a: np.split(a, 2, axis=-1)[0] / (1 + np.exp(-np.split(a, 2, axis=-1)[1]))}
    config = model.config

    def gaussian(h, name, activations):
        for index, activation in enumerate(activations):
            h = act[activation](h @ p[f"{name}.fc{index + 1}.weight"] + p[f"{name}.fc{index + 1}.bias"])
        a = h @ p[f"{name}.std.weight"] + p[f"{name}.std.bias"]
        return h @ p[f"{name}.mean.weight"] + p[f"{name}.mean.bias"], 1e-6 + np.logaddexp(0, a)

    def log_normal(z, mean, std):
        return np.sum(-0.5 * ((z - mean) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi), axis=-1)

    eps = [e.astype(np.float64) for e in eps]
    x = x.astype(np.float64)
    h, z, log_w = x, [], 0
    for i, noise in enumerate(eps):
        mean, std = gaussian(h, f"encoder{i + 1}", config["activations"][i])
        mean, std = mean.reshape(-1 if i else 1, *noise.shape[1:]), std.reshape(-1 if i else 1, *noise.shape[1:])
        z.append(mean + std * noise)
        log_w = log_w - log_normal(z[-1], mean, std)
        h = z[-1].reshape(-1, noise.shape[-1])
    h = z[0]
    for index, activation in enumerate(config["decoder_activations"][0]):
        h = act[activation](h @ p[f"decoder1.fc{index + 1}.weight"] + p[f"decoder1.fc{index + 1}.bias"])
    logits = h @ p["decoder1.output.weight"] + p["decoder1.output.bias"]
    if config["likelihood"] == "clipped":
        logits = np.clip(logits, -math.log((1 - 1e-8) / 1e-8), math.log((1 - 1e-8) / 1e-8))
    log_w = log_w + np.sum(x * logits - np.logaddexp(0, logits), axis=-1)
    for i in range(len(eps) - 1):
        mean, std = gaussian(z[i + 1], f"decoder{i + 2}", config["decoder_activations"][i + 1])
        log_w = log_w + log_normal(z[i], mean, std)
    if config["prior"] == "vampprior":
        h = p["prior.pseudo_inputs"]
        for i in range(len(eps)):
            h, std = gaussian(h, f"encoder{i + 1}", config["activations"][i])
        components = log_normal(z[-1][..., None, :], h, std)                         # (k, B, M)
        peak = components.max(-1)
        log_w = log_w + peak + np.log(np.exp(components - peak[..., None]).sum(-1)) - math.log(len(h))
    else:
        log_w = log_w + log_normal(z[-1], 0.0, 1.0)
    peak = log_w.max(0)
    return peak + np.log(np.exp(log_w - peak).sum(0)) - math.log(len(log_w))


@pytest.mark.parametrize("name", OPTIONS)
def test_lean_pass_matches_the_model_and_a_brute_force(name):
    model, x = build(OPTIONS[name])
    k, rows = 13, 18  # three samples of the six images per chunk, the last chunk short
    lean = hierarchical_log_mean_weight(model, x, k, np.random.default_rng(5), rows)
    eps = draws(model, k, len(x), rows, 5)
    np.testing.assert_allclose(lean, brute_force(model, x, eps), rtol=1e-12)
    iwae = HierarchicalVAE(**{**model.config, "objective": "iwae", "k": k})
    for param_name, param in model.params.items():
        np.copyto(iwae.params[param_name], param)
    np.testing.assert_allclose(lean, -iwae.iwae_terms(x, training=False, eps=eps).losses, rtol=1e-12)


@pytest.mark.parametrize("name", ["two layers", "vamp two layers"])
def test_float32_pass_is_close_to_float64(name):
    model32, x = build(OPTIONS[name], np.float32)
    model64, _ = build(OPTIONS[name], np.float64)
    for param_name, param in model32.params.items():
        np.copyto(model64.params[param_name], param)
    lean32 = hierarchical_log_mean_weight(model32, x, 50, np.random.default_rng(1), 40)
    eps = draws(model32, 50, len(x), 40, 1)
    assert lean32.dtype == np.float64
    np.testing.assert_allclose(lean32, brute_force(model64, x, eps), atol=2e-4)


def test_parallel_pass_gives_the_same_numbers_for_any_number_of_workers():
    model, _ = build(OPTIONS["vamp two layers"], np.float32)
    images = (np.random.default_rng(3).random((10, 30)) > 0.5).astype(np.uint8) * 255
    one = hierarchical_bound_parallel(model, images, k=20, batch_size=4, seed=9, workers=1, rows=30)
    two = hierarchical_bound_parallel(model, images, k=20, batch_size=4, seed=9, workers=2, rows=30)
    assert one.shape == (10,) and np.all(np.isfinite(one)) and np.all(one > 0)
    np.testing.assert_array_equal(one, two)
    first_batch = -hierarchical_log_mean_weight(model, images[:4].astype(np.float32) / 255, 20,
                                                np.random.default_rng([9, 0]), 30)
    np.testing.assert_array_equal(one[:4], first_batch)


def test_more_samples_tighten_the_bound_on_average():
    model, x = build(OPTIONS["vamp two layers"])
    small = -hierarchical_log_mean_weight(model, x, 1, np.random.default_rng(0), 100)
    large = -hierarchical_log_mean_weight(model, x, 2000, np.random.default_rng(0), 100)
    assert large.mean() < small.mean()
