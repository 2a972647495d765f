"""Solution: inverted dropout r = v * m / rho.

E[m] = rho, so E[r] = v: dividing by rho keeps the expected activation, and evaluation (no dropout) needs no
rescaling. With the mask fixed, r is linear in v: dr/dv = m / rho elementwise, and dL/dv = g * m / rho.
A dropped unit gets no gradient.
"""

import numpy as np


class Dropout:
    def __init__(self, rho: float) -> None:
        self.rho = rho

    def forward(self, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.mask = mask
        return v * mask / self.rho

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.mask / self.rho
