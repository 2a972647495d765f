"""Models: the VAE and its family (``numpyvae.models.vae``), the shape of its networks (``.architecture``) and its
typed settings (``.config``); the VAE with several stochastic layers (``.hierarchical``) and its Gaussian
conditionals (``.gaussian_mlp``); and ``LossTerms`` (``.terms``), what every model's forward pass returns.

``build(config, seed)`` is the one way from a ``ModelConfig`` to a model: every caller that holds a
configuration (training, checkpoints, exports) builds through it."""

from __future__ import annotations

import dataclasses

from .config import ModelConfig
from .hierarchical import HierarchicalVAE
from .vae import VAE


def build(config: ModelConfig, seed: int = 0) -> VAE | HierarchicalVAE:
    """The model ``config`` describes, its weights drawn from ``seed``: a HierarchicalVAE when
    ``config.latent_dims`` lists the stochastic layers' sizes, the one-layer VAE otherwise."""
    if config.hierarchical:
        return HierarchicalVAE(**config.hierarchical_arguments(), seed=seed)
    return VAE(**dataclasses.asdict(config), seed=seed)
