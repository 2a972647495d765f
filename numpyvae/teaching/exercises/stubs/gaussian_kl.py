"""Exercise: KL(N(mu, sigma^2) || N(0, 1)), summed over the J latent dimensions, forward and backward.

In the seed's guarded form, as numpyvae computes it (section 2 of docs/elbo_backprop.md derives it):

    KL = 0.5 * sum over j of (sigma_j^2 + mu_j^2 - log(1e-8 + sigma_j^2) - 1)       one number per image, (B,)

mu and sigma are (B, J). backward gets g = dL/dKL, one number per image, (B,), and returns the pair
(dL/dmu, dL/dsigma), both (B, J). Derive both partial derivatives yourself, the 1e-8 included: the check
uses stds as small as 0.01, where leaving the guard out is a visible difference. Stuck?
python -m numpyvae.exercises hint gaussian_kl

Check it:  python -m numpyvae.exercises check gaussian_kl
"""

import numpy as np


class GaussianKL:
    def forward(self, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """Return the KL of each image, (B,); keep what backward will need."""
        raise NotImplementedError("forward: 0.5 * sum over j of (sigma^2 + mu^2 - log(1e-8 + sigma^2) - 1)")

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (dL/dmu, dL/dsigma), both (B, J), for grad_out = dL/dKL, (B,)."""
        raise NotImplementedError("backward: return (dL/dmu, dL/dsigma)")
