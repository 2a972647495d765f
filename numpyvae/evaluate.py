"""Evaluating a trained model on a whole image set, in batches so memory stays bounded."""

from __future__ import annotations

import numpy as np

from .data import to_float
from .vae import VAE


def elbo_terms(model: VAE, images: np.ndarray, *, batch_size: int = 1000,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-image log p(x | z) and KL(q(z | x) || p(z)), both (N,) float64, dropout off.

    ``images`` are the stored uint8 rows (N, input_dim). The noise eps comes from its own generator
    (``seed``), so evaluating never disturbs the training run's random stream.
    """
    rng = np.random.default_rng(seed)
    log_likelihood, kl = np.empty(len(images)), np.empty(len(images))
    for start in range(0, len(images), batch_size):
        x = to_float(images[start:start + batch_size], model.dtype)
        eps = rng.standard_normal((len(x), model.config["latent_dim"]), dtype=model.dtype)
        model.loss(x, training=False, eps=eps)
        log_likelihood[start:start + len(x)] = model.log_likelihood
        kl[start:start + len(x)] = model.kl_divergence
    return log_likelihood, kl


def negative_elbo(model: VAE, images: np.ndarray, *, batch_size: int = 1000, seed: int = 0) -> float:
    """The mean over ``images`` of -ELBO = KL - log p(x | z), in nats (for the plain autoencoder, which
    has no KL term, its reconstruction loss -log p(x | z))."""
    log_likelihood, kl = elbo_terms(model, images, batch_size=batch_size, seed=seed)
    return float(np.mean(kl - log_likelihood) if model.variational else -np.mean(log_likelihood))
