"""The package's own versions of the exercises, behind the exercises' interfaces (``check NAME --reference``).

Each wraps the very code numpyvae trains with, so that the checker is shown to pass the real thing.
"""

from __future__ import annotations

import numpy as np

from ...models.vae import STD_FLOOR, reparameterization_backward
from ...nn import layers, losses


class Dense:
    """``layers.Dense`` holding the given weight and bias."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.layer = layers.Dense(*weight.shape, dtype=weight.dtype)
        self.layer.params["weight"], self.layer.params["bias"] = weight, bias
        self.layer.grads = {name: np.zeros_like(p) for name, p in self.layer.params.items()}

    def forward(self, u: np.ndarray) -> np.ndarray:
        return self.layer.forward(u)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_u = self.layer.backward(grad_out)
        self.grad_weight, self.grad_bias = self.layer.grads["weight"], self.layer.grads["bias"]
        return grad_u


Softplus, Tanh, ELU = layers.Softplus, layers.Tanh, layers.ELU
GaussianKL = losses.GaussianKL
BernoulliLogLikelihood = losses.ExactBernoulliLogLikelihood  # the logits unclipped: exact at l = +-1000
IWAEBound = losses.ImportanceWeightedBound                   # log w laid out (K, B), as in the exercise


class Dropout:
    """``layers.Dropout`` with the exercise's mask in place of its own draw: its scaled mask is m / rho."""

    def __init__(self, rho: float) -> None:
        self.layer = layers.Dropout(rho)

    def forward(self, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.layer.scaled_mask = mask / self.layer.keep_prob
        return v * self.layer.scaled_mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return self.layer.backward(grad_out)


class Reparameterize:
    """The lines of ``VAE.elbo`` and ``VAE.backward`` that draw z and split its gradient."""

    def forward(self, mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
        self.eps = eps
        return mu + sigma * eps

    def backward(self, grad_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return reparameterization_backward(grad_z, self.eps, 0, 0)


class StdHead:
    """The std head as ``VAE`` builds it (Dense, Softplus, the floor) followed by ``losses.GaussianKL``."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.dense, self.softplus, self.kl = Dense(weight, bias), layers.Softplus(), losses.GaussianKL()

    def forward(self, h: np.ndarray, mu: np.ndarray) -> np.ndarray:
        return self.kl.forward(mu, self.softplus.forward(self.dense.forward(h)) + STD_FLOOR)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        _, grad_sigma = self.kl.backward(grad_out)
        grad_h = self.dense.backward(self.softplus.backward(grad_sigma))
        self.grad_weight, self.grad_bias = self.dense.grad_weight, self.dense.grad_bias
        return grad_h


def backward(model, terms, eps) -> None:
    """The capstone: the package's own ``VAE.backward`` (which keeps what it needs of the pass itself)."""
    model.backward()
