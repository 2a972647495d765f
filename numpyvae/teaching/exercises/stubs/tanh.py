"""Exercise: the activation v = tanh(a), elementwise, forward and backward.

The seed's encoder and decoder each have a tanh layer. a is any shape; backward gets g = dL/dv, shaped like
a, and returns dL/da. Derive tanh'(a) from tanh(a) = (e^a - e^-a) / (e^a + e^-a), and write it in terms of
what the forward pass already computed. The check also feeds a = -1000 and +1000. Stuck?
python -m numpyvae.exercises hint tanh

Check it:  python -m numpyvae.exercises check tanh
"""

import numpy as np


class Tanh:
    def forward(self, a: np.ndarray) -> np.ndarray:
        """Return v = tanh(a); keep what backward will need."""
        raise NotImplementedError("forward: compute tanh(a)")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/da for grad_out = dL/dv."""
        raise NotImplementedError("backward: return dL/da")
