"""Exercise: inverted dropout r = v * m / rho, forward and backward.

rho is the keep probability (0.9 in the seed); m is the mask, 1 for a unit kept and 0 for a unit dropped,
drawn with probability rho of a 1. Here the check hands you the mask, so that forward and backward see the
same one. v and m are (B, D); backward gets g = dL/dr, (B, D), and returns dL/dv. Why the division by rho?
(What is the expected value of r?) Stuck? python -m numpyvae.exercises hint dropout

Check it:  python -m numpyvae.exercises check dropout
"""

import numpy as np


class Dropout:
    def __init__(self, rho: float) -> None:
        self.rho = rho

    def forward(self, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Return r = v * m / rho; keep what backward will need."""
        raise NotImplementedError("forward: compute r = v * m / rho")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/dv for grad_out = dL/dr."""
        raise NotImplementedError("backward: return dL/dv")
