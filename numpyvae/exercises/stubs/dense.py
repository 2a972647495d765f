"""Exercise: the affine layer y = x W + b and its backward pass.

Shapes: x (B, n_in), W (n_in, n_out), b (n_out,), y (B, n_out). The upstream gradient g = dL/dy is (B, n_out).
Derive, in index notation, y_bj = sum_i x_bi W_ij + b_j:

    dL/dW_ij = sum_b x_bi g_bj        ->  dL/dW = x^T g        (n_in, n_out), like W
    dL/db_j  = sum_b g_bj             ->  the sum over the batch: b is added to every row
    dL/dx_bi = sum_j g_bj W_ij        ->  dL/dx = g W^T        (B, n_in), like x

Check it:  python -m numpyvae.exercises check dense
"""

import numpy as np


class Dense:
    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight, self.bias = weight, bias

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Return y = x W + b, and keep what backward will need."""
        raise NotImplementedError("forward: compute y = x W + b (and remember x)")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Set self.grad_weight and self.grad_bias; return dL/dx."""
        raise NotImplementedError("backward: set self.grad_weight, self.grad_bias and return dL/dx")
