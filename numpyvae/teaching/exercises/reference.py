"""The package's own versions of the exercises, behind the exercises' interfaces (``check NAME --reference``).

Each wraps the very code numpyvae trains with, so that the checker is shown to pass the real thing.
"""

from __future__ import annotations

import numpy as np

from ...models.vae import reparameterization_backward
from ...nn import layers, losses


class Dense:
    """``layers.Dense`` holding the given weight and bias."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.layer = layers.Dense(*weight.shape, dtype=weight.dtype)
        self.layer.params["weight"], self.layer.params["bias"] = weight, bias

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layer.forward(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_x = self.layer.backward(grad_out)
        self.grad_weight, self.grad_bias = self.layer.grads["weight"], self.layer.grads["bias"]
        return grad_x


Softplus = layers.Softplus
GaussianKL = losses.GaussianKL


class Reparameterize:
    """The lines of ``VAE.loss`` and ``VAE.backward`` that draw z and split its gradient."""

    def forward(self, mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
        self.eps = eps
        return mu + sigma * eps

    def backward(self, grad_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return reparameterization_backward(grad_z, self.eps, 0, 0)


class IWAEBound:
    """``losses.ImportanceWeightedBound``, which holds the k samples on axis 0: (k, B); the exercise's rows are
    images, (B, k), so the log weights go in transposed and their gradient comes out transposed back."""

    def forward(self, log_weights: np.ndarray) -> np.ndarray:
        self.bound = losses.ImportanceWeightedBound()
        return self.bound.forward(log_weights.T)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return self.bound.backward(grad_out).T
