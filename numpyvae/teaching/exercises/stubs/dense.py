"""Exercise: the dense (affine) layer a = u W + b, forward and backward.

Shapes (symbols as in docs/elbo_backprop.md, section 0): the input u is (B, D_in), the weight W is
(D_in, D_out), the bias b is (D_out,), the output a is (B, D_out). backward gets g = dL/da, (B, D_out), and
must give the gradient of the loss L with respect to each of u, W and b, each shaped like its variable.

Derive them yourself: write one element of a as a sum over indices and ask which elements of a each W, b
and u element reaches. Stuck? python -m numpyvae.exercises hint dense

Check it:  python -m numpyvae.exercises check dense
"""

import numpy as np


class Dense:
    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight, self.bias = weight, bias

    def forward(self, u: np.ndarray) -> np.ndarray:
        """Return a = u W + b, (B, D_out), and keep what backward will need."""
        raise NotImplementedError("forward: compute a = u W + b (and keep what backward needs)")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """grad_out is g = dL/da. Set self.grad_weight (dL/dW) and self.grad_bias (dL/db); return dL/du."""
        raise NotImplementedError("backward: set self.grad_weight and self.grad_bias, return dL/du")
