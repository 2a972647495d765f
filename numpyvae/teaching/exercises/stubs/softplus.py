"""Exercise: softplus(a) = log(1 + e^a), elementwise, forward and backward.

The std head of the encoder uses it: sigma = 1e-6 + softplus(a_sigma). a is any shape; backward gets
g = dL/d(softplus(a)), shaped like a, and returns dL/da.

Derive the derivative of log(1 + e^a) yourself. The check also feeds a = -1000 and a = +1000, where the
formula as written is not safe to compute in float64: find a form that is. Stuck?
python -m numpyvae.exercises hint softplus

Check it:  python -m numpyvae.exercises check softplus
"""

import numpy as np


class Softplus:
    def forward(self, a: np.ndarray) -> np.ndarray:
        """Return softplus(a), elementwise; keep what backward will need."""
        raise NotImplementedError("forward: compute log(1 + e^a) in a form safe for every finite a")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/da for grad_out = dL/d(softplus(a))."""
        raise NotImplementedError("backward: return dL/da")
