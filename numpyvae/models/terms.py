"""What a model's forward pass returns: ``LossTerms``, the loss's terms image by image.

Both models (``VAE`` and ``HierarchicalVAE``) return them from ``loss_terms``, ``elbo_terms`` and ``iwae_terms``;
their ``loss``, ``elbo`` and ``iwae`` are the mean of ``losses``. Whoever needs a term of the last pass reads it
here, not off the model: what a model keeps between ``loss`` and ``backward`` is the backward pass's cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LossTerms:
    """What one forward pass of the loss computed, image by image: the loss is the mean of ``losses``.

    ELBO (``elbo_terms``), all (B,):  log_likelihood = log p(x | z), kl = the KL (of the estimator used),
        losses = kl_weight KL - log p(x | z) (the plain autoencoder: -log p(x | z)).
    IWAE (``iwae_terms``):  log_likelihood (K, B), log_weights (K, B) = log w_k, kl (K, B) = the sampled
        log q(z_k | x) - log p(z_k) = log p(x | z_k) - log w_k, losses (B,) = -log (1/K) sum_k w_k.
    Both: mean and std (B, latent), the posterior q(z | x) = N(mean, std^2) (for ``HierarchicalVAE``, q(z1 | x),
    the latent layer next to the data, with kl the KL of all its layers).
    """

    log_likelihood: np.ndarray
    kl: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    losses: np.ndarray
    log_weights: np.ndarray | None = None
