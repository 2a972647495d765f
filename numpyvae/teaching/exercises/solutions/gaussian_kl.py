"""Solution: KL(N(mu, sigma^2) || N(0, 1)) in the seed's guarded form.

Term by term, per latent dimension j:

    dKL/dmu_j    = 0.5 * 2 mu_j = mu_j
    dKL/dsigma_j = 0.5 * (2 sigma_j - 2 sigma_j / (1e-8 + sigma_j^2)) = sigma_j - sigma_j / (1e-8 + sigma_j^2)

(d/dsigma log(1e-8 + sigma^2) = 2 sigma / (1e-8 + sigma^2) by the chain rule). The KL is one number per
image, so g = dL/dKL, (B,), multiplies every dimension of its image: g[:, None].
"""

import numpy as np


class GaussianKL:
    def forward(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        self.mu, self.sigma = mu, sigma
        return 0.5 * (sigma ** 2 + mu ** 2 - np.log(1e-8 + sigma ** 2) - 1).sum(axis=1)

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = np.asarray(grad_out)[:, None]
        return g * self.mu, g * (self.sigma - self.sigma / (1e-8 + self.sigma ** 2))
