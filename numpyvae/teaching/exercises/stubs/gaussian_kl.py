"""Exercise: KL(N(mu, sigma^2) || N(0, 1)), summed over the latent dimensions, and its gradient.

In the seed's guarded form (as numpyvae computes it):

    KL = 0.5 * sum_j (sigma_j^2 + mu_j^2 - log(1e-8 + sigma_j^2) - 1)            one value per image: (B,)

mu and sigma are (B, J). backward(grad_out) gets dL/dKL, a (B,) array (one number per image), and returns
(dL/dmu, dL/dsigma), both (B, J). Derive dKL/dmu_j and dKL/dsigma_j yourself (mind the chain rule inside the log).

Check it:  python -m numpyvae.exercises check gaussian_kl
"""

import numpy as np


class GaussianKL:
    def forward(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Return the KL of each image, shape (B,)."""
        raise NotImplementedError("forward: 0.5 * sum over dimensions of (sigma^2 + mu^2 - log(1e-8 + sigma^2) - 1)")

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (dL/dmu, dL/dsigma) for dL/dKL = grad_out, (B,)."""
        raise NotImplementedError("backward: grad_out[:, None] times dKL/dmu and dKL/dsigma")

