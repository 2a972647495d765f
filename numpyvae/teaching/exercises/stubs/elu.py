"""Exercise: the activation ELU (alpha = 1), elementwise, forward and backward.

    ELU(a) = a             for a > 0
    ELU(a) = e^a - 1       for a <= 0

The seed's encoder and decoder each have one. a is any shape; backward gets g = dL/dv (v = ELU(a)), shaped
like a, and returns dL/da. Derive the derivative on each side of 0 yourself. The check also feeds
a = -1000 and +1000: a branch that is computed and then thrown away can still overflow. Stuck?
python -m numpyvae.exercises hint elu

Check it:  python -m numpyvae.exercises check elu
"""

import numpy as np


class ELU:
    def forward(self, a: np.ndarray) -> np.ndarray:
        """Return v = ELU(a); keep what backward will need."""
        raise NotImplementedError("forward: compute ELU(a)")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/da for grad_out = dL/dv."""
        raise NotImplementedError("backward: return dL/da")
