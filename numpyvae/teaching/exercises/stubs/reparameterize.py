"""Exercise: the reparameterization z = mu + sigma * eps, forward and backward.

eps ~ N(0, I) is drawn outside and then held fixed: z is an ordinary differentiable function of mu and
sigma. mu, sigma, eps and z are all (B, J). backward gets g = dL/dz, (B, J), and returns the pair
(dL/dmu, dL/dsigma). Stuck? python -m numpyvae.exercises hint reparameterize

Check it:  python -m numpyvae.exercises check reparameterize
"""

import numpy as np


class Reparameterize:
    def forward(self, mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """Return z = mu + sigma * eps; keep what backward will need."""
        raise NotImplementedError("forward: z = mu + sigma * eps")

    def backward(self, grad_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (dL/dmu, dL/dsigma) for grad_z = dL/dz."""
        raise NotImplementedError("backward: return (dL/dmu, dL/dsigma)")
