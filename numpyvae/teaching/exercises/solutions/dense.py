"""Solution: the dense layer a = u W + b.

Index by index, a_no = sum_c u_nc W_co + b_o (n an image, c an input unit, o an output unit). W_co reaches
every a_no of column o with the factor u_nc, b_o reaches every row of column o with the factor 1, and u_nc
reaches every a_no of row n with the factor W_co; the chain rule sums over all of those:

    dL/dW_co = sum_n u_nc g_no   ->  dL/dW = u^T g    (D_in, D_out), like W
    dL/db_o  = sum_n g_no        ->  the column sums of g: one shared b, used by all B rows
    dL/du_nc = sum_o g_no W_co   ->  dL/du = g W^T    (B, D_in), like u
"""

import numpy as np


class Dense:
    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight, self.bias = weight, bias

    def forward(self, u: np.ndarray) -> np.ndarray:
        self.u = u
        return u @ self.weight + self.bias

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self.grad_weight = self.u.T @ grad_out
        self.grad_bias = grad_out.sum(axis=0)
        return grad_out @ self.weight.T
