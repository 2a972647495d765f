"""Exercise: softplus(a) = log(1 + e^a) and its derivative, the sigmoid.

d/da log(1 + e^a) = e^a / (1 + e^a) = 1 / (1 + e^-a) = sigmoid(a).

The check also feeds a = +-1000: log(1 + e^a) written as it stands overflows there (e^1000 is inf).
Use softplus(a) = max(a, 0) + log(1 + e^-|a|) (np.log1p helps), and a sigmoid that never computes e^(large).

Check it:  python -m numpyvae.exercises check softplus
"""

import numpy as np


class Softplus:
    def forward(self, a: np.ndarray) -> np.ndarray:
        """Return softplus(a), elementwise; keep what backward will need."""
        raise NotImplementedError("forward: compute log(1 + e^a) without overflow")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/da = dL/dy * softplus'(a)."""
        raise NotImplementedError("backward: multiply the upstream gradient by sigmoid(a)")

