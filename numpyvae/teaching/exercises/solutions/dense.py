"""Solution: the dense layer a = u W + b.

Index by index, a_nt = sum_c u_nc W_ct + b_t (n an image, c an input unit, t an output unit). W_ct reaches
every a_nt of column t with the factor u_nc, b_t reaches every row of column t with the factor 1, and u_nc
reaches every a_nt of row n with the factor W_ct; the chain rule sums over all of those:

    dL/dW_ct = sum_n u_nc g_nt   ->  dL/dW = u^T g    (D_in, D_out), like W
    dL/db_t  = sum_n g_nt        ->  the column sums of g: one shared b, used by all B rows
    dL/du_nc = sum_t g_nt W_ct   ->  dL/du = g W^T    (B, D_in), like u
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
