"""Independent references for the tests: the IWAE log-weights by the textbook formula, in float64.

Nothing in numpyvae imports this. It evaluates log p(z) and log q(z | x) as full Gaussian log-densities at z
(the 2 pi terms and all), where the library uses their difference (|eps|^2 - |z|^2) / 2 + sum log std.
"""

import math

import numpy as np

LOG_2PI = math.log(2 * math.pi)


def log_normal(z, mean=0.0, std=1.0) -> np.ndarray:
    """log N(z; mean, diag(std^2)) summed over the last axis, in float64."""
    standardized = (np.asarray(z, np.float64) - mean) / std
    return -0.5 * np.sum(standardized ** 2 + LOG_2PI + 2 * np.log(std), axis=-1)


def logsumexp(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """log sum exp over ``axis``, shifted by the maximum so that no term overflows or underflows to 0."""
    peak = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(peak, axis) + np.log(np.sum(np.exp(values - peak), axis=axis))


def iwae_log_weights(model, x: np.ndarray, k: int, rng: np.random.Generator, rows: int = 2000,
                     labels: np.ndarray | None = None) -> np.ndarray:
    """log w = log p(x | z) + log p(z) - log q(z | x) for k samples per image: (B, k) float64.

    The noise is drawn as the lean pass draws it (eps of shape (n, B, latent), n = max(1, rows // B) samples
    per draw), so that both see the same z; the likelihood is the model's own ``reconstruction.forward``.
    """
    y = model.one_hot(labels, len(x))
    mean, std = model.encode(x, y)
    log_weights = np.empty((len(x), k))
    samples_per_chunk = max(1, rows // len(x))
    for first in range(0, k, samples_per_chunk):
        n = min(samples_per_chunk, k - first)
        eps = rng.standard_normal((n, *mean.shape), dtype=model.dtype)        # (n, B, latent)
        z = mean + std * eps
        logits = model.decoder_logits(z.reshape(-1, z.shape[-1]), None if y is None else np.tile(y, (n, 1)))
        log_likelihood = model.reconstruction.forward(logits, np.tile(x, (n, 1))).reshape(n, len(x))
        # both densities at z itself, in float64
        log_ratio = log_normal(z) - log_normal(z, mean.astype(np.float64), std.astype(np.float64))
        log_weights[:, first:first + n] = (log_likelihood + log_ratio).T
    return log_weights


def iwae_log_mean_weight(model, x, k, rng, rows=2000, labels=None) -> np.ndarray:
    """log (1/k) sum_i w_i per image, from ``iwae_log_weights``: (B,) float64."""
    return logsumexp(iwae_log_weights(model, x, k, rng, rows, labels)) - math.log(k)
