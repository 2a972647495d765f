"""Exercise: the affine layer a = u W + b and its backward pass.

Shapes: the input u (B, n_in), W (n_in, n_out), b (n_out,), the output a (B, n_out). The upstream gradient
g = dL/da is (B, n_out). Derive, in index notation, a_bj = sum_i u_bi W_ij + b_j:

    dL/dW_ij = sum_b u_bi g_bj        ->  dL/dW = u^T g        (n_in, n_out), like W
    dL/db_j  = sum_b g_bj             ->  the sum over the batch: b is added to every row
    dL/du_bi = sum_j g_bj W_ij        ->  dL/du = g W^T        (B, n_in), like u

Check it:  python -m numpyvae.exercises check dense
"""

import numpy as np


class Dense:
    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight, self.bias = weight, bias

    def forward(self, u: np.ndarray) -> np.ndarray:
        """Return a = u W + b, and keep what backward will need."""
        raise NotImplementedError("forward: compute a = u W + b (and remember u)")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Set self.grad_weight and self.grad_bias; return dL/du."""
        raise NotImplementedError("backward: set self.grad_weight, self.grad_bias and return dL/du")
