"""Solution: v = tanh(a).

By the quotient rule on (e^a - e^-a) / (e^a + e^-a):

    tanh'(a) = [(e^a + e^-a)^2 - (e^a - e^-a)^2] / (e^a + e^-a)^2 = 1 - tanh(a)^2 = 1 - v^2,

so the backward pass needs only the output v. np.tanh is safe at a = +-1000; the quotient written out is
not (e^1000 overflows, and inf / inf is nan).
"""

import numpy as np


class Tanh:
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.v = np.tanh(a)
        return self.v

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * (1 - self.v ** 2)
