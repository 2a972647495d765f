"""The lean IWAE(k) pass of ``lean_iwae`` for a HierarchicalVAE: L stochastic layers, a standard or VampPrior.

For each image x, with the samples drawn through every layer, z_1 = mu_1(x) + s_1(x) eps_1 and
z_i = mu_i(z_{i-1}) + s_i(z_{i-1}) eps_i (i = 2..L), eps_i ~ N(0, I), the weights

    log w = log p(x | z_1) + sum_{i<L} log p(z_i | z_{i+1}) + log p(z_L) - sum_i log q(z_i | .)

with  log q(z_i | .) = -|eps_i|^2 / 2 - sum log s_i,   log p(z_i | z_{i+1}) = -|(z_i - m_i) / t_i|^2 / 2 - sum log t_i
(the (D_i / 2) log 2 pi of every Gaussian cancels between p and q: each z_i has one density on each side).
It returns log (1/k) sum w, the negated IWAE bound, computed as ``lean_iwae`` does the one-layer model's:

- the samples of all the batch's images go through every network together, ``rows`` at a time, dropout off, in
  the model's dtype, the dense layers and tanh/ELU in place (``lean_iwae._hidden_forward``), the clipped Bernoulli
  likelihood with one exponential per pixel (``lean_iwae.bernoulli_log_likelihood``);
- the VampPrior's components q(z_L | u_m) are computed once per batch and its mixture log-density is taken in
  float64 (``MixtureLogDensity``, whose expanded square would lose digits in float32): M D_L multiply-adds per
  sample, a quarter of the decoders' work for Burda's two-layer model with M = 500;
- the weights are reduced chunk by chunk with a running log-sum-exp in float64: no (B, k) array is ever held.

Draws: per chunk of n samples, eps_1 (n, B, D_1), then eps_2 (n, B, D_2), ..., from ``rng``, so that the same
noise through ``HierarchicalVAE.iwae`` gives the same weights (tests/test_lean_hierarchical.py checks that and a
float64 brute force).
"""

from __future__ import annotations

import math

import numpy as np

from ..models.gaussian_mlp import STD_FLOOR
from ..nn.layers import Dense
from ..nn.losses import LOG_2PI, BernoulliLogLikelihood
from ..nn.mixture import MixtureLogDensity
from .lean_iwae import _hidden_forward, bernoulli_log_likelihood, iwae_bound_parallel


def _gaussian_forward(network, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A GaussianMLP in evaluation mode, its trunk in place: (mean, std) of (rows, n_out)."""
    for layer in network.trunk.layers:
        h = _hidden_forward(layer, h)
    return _hidden_forward(network.mean_head, h), network.std_head.forward(h, training=False) + STD_FLOOR


def _half_square(u: np.ndarray) -> np.ndarray:
    """sum over the last axis of u^2 / 2, in float64: (n, B, D) -> (n, B)."""
    return 0.5 * np.einsum("nbd,nbd->nb", u, u, dtype=np.float64)


def hierarchical_log_mean_weight(model, x: np.ndarray, k: int, rng: np.random.Generator, rows: int,
                                 labels=None) -> np.ndarray:
    """log (1/k) sum_i w_i for each image of the batch x (B, D) in the model's dtype: (B,) float64 (``labels``:
    None, the model is unconditional; as ``lean_iwae.iwae_log_mean_weight``'s arguments)."""
    model.one_hot(labels, len(x))
    mean, std = model.encode(x)
    batch = len(x)
    first_log_std = np.sum(np.log(std.astype(np.float64)), axis=-1)
    layers = model.decoder.layers
    fast_output = isinstance(layers[-1], Dense) and type(model.reconstruction) is BernoulliLogLikelihood
    if model.prior == "vampprior":
        means, stds = (part.astype(np.float64) for part in model.prior_components())
        mixture = MixtureLogDensity()
    peak, total = np.full(batch, -np.inf), np.zeros(batch)
    samples_per_chunk = max(1, rows // batch)
    for first in range(0, k, samples_per_chunk):
        n = min(samples_per_chunk, k - first)
        eps = [rng.standard_normal((n, batch, width), dtype=model.dtype) for width in model.latent_dims]
        # up through the encoders: z_i and log q(z_i | .) = -|eps_i|^2 / 2 - sum log s_i
        z = [mean + std * eps[0]]
        weights = _half_square(eps[0]) + first_log_std                                  # -log q, so far
        for encoder, noise in zip(model.encoders[1:], eps[1:], strict=True):
            layer_mean, layer_std = _gaussian_forward(encoder, z[-1].reshape(n * batch, -1))
            z.append(layer_mean.reshape(noise.shape) + layer_std.reshape(noise.shape) * noise)
            weights += _half_square(noise) + np.log(layer_std.astype(np.float64)).sum(-1).reshape(n, batch)
        # log p(x | z_1)
        h = z[0].reshape(n * batch, -1)
        if fast_output:
            for layer in layers[:-1]:
                h = _hidden_forward(layer, h)
            log_likelihood = bernoulli_log_likelihood(_hidden_forward(layers[-1], h).reshape(n, batch, -1), x)
        else:
            logits = model.decoder.forward(h, training=False)
            log_likelihood = model.reconstruction.forward(logits, np.tile(x, (n, 1))).reshape(n, batch)
        weights += log_likelihood
        # log p(z_i | z_{i+1}) down the generative chain
        for i in range(model.levels - 1):
            prior_mean, prior_std = _gaussian_forward(model.decoders[i + 1], z[i + 1].reshape(n * batch, -1))
            shape = z[i].shape
            weights -= _half_square((z[i] - prior_mean.reshape(shape)) / prior_std.reshape(shape))
            weights -= np.log(prior_std.astype(np.float64)).sum(-1).reshape(n, batch)
        # log p(z_L), without its (D_L / 2) log 2 pi like every other density here
        top = z[-1].reshape(n * batch, -1)
        if model.prior == "vampprior":
            constant = 0.5 * top.shape[-1] * LOG_2PI
            weights += mixture.forward(top.astype(np.float64), means, stds).reshape(n, batch) + constant
        else:
            weights -= _half_square(z[-1])
        new_peak = np.maximum(peak, weights.max(axis=0))
        total = total * np.exp(peak - new_peak) + np.exp(weights - new_peak).sum(axis=0)
        peak = new_peak
    return peak + np.log(total) - math.log(k)


# -- several processes: lean_iwae's pool, one generator per batch, default_rng([seed, index]) --------------

def hierarchical_bound_parallel(model, images: np.ndarray, *, k: int, batch_size: int = 100, seed: int = 0,
                                workers: int = 2, rows: int = 2000, progress: bool = False) -> np.ndarray:
    """Per-image IWAE estimate of -log p(x) for uint8 ``images`` (N, D) as they are (binarize them before):
    (N,) float64, computed by ``workers`` processes (1: in this one); the same numbers for any number of workers
    (``lean_iwae.iwae_bound_parallel`` with this module's pass)."""
    return iwae_bound_parallel(model, images, k=k, batch_size=batch_size, seed=seed, workers=workers, rows=rows,
                               progress=progress, log_mean_weight=hierarchical_log_mean_weight)
