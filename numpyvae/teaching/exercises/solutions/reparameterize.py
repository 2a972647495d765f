"""Solution: z = mu + sigma * eps.

Elementwise, dz/dmu = 1 and dz/dsigma = eps (eps is held fixed), so dL/dmu = g and dL/dsigma = g * eps.
"""

import numpy as np


class Reparameterize:
    def forward(self, mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
        self.eps = eps
        return mu + sigma * eps

    def backward(self, grad_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return grad_z, grad_z * self.eps
