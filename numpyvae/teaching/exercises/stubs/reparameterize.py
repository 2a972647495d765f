"""Exercise: the reparameterization step z = mu + sigma * eps and its backward pass.

eps ~ N(0, I) is drawn outside and held fixed: z is then an ordinary differentiable function of mu and sigma.
All arrays are (B, J). backward(grad_z) gets dL/dz and returns (dL/dmu, dL/dsigma).

Check it:  python -m numpyvae.exercises check reparameterize
"""

import numpy as np


class Reparameterize:
    def forward(self, mu: np.ndarray, sigma: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """Return z = mu + sigma * eps; keep what backward will need."""
        raise NotImplementedError("forward: z = mu + sigma * eps")

    def backward(self, grad_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return (dL/dmu, dL/dsigma)."""
        raise NotImplementedError("backward: dz/dmu = 1 and dz/dsigma = eps, elementwise")

