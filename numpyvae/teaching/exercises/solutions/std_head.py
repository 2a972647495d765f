"""Solution: the std head and the KL as one chain.

From the KL back to h, one link at a time (g = dL/dKL, (B,)):

    dL/dsigma   = g[:, None] * (sigma - sigma / (1e-8 + sigma^2))      the KL (gaussian_kl)
    dL/da_sigma = dL/dsigma * sigmoid(a_sigma)                         the softplus (its derivative); the
                                                                       floor 1e-6 is a constant: factor 1
    dL/dW_sigma = h^T dL/da_sigma,  dL/db_sigma = column sums,  dL/dh = dL/da_sigma W_sigma^T   (dense)

The classic mistake is the second line: passing dL/dsigma on as if it were dL/da_sigma.
"""

import numpy as np


class StdHead:
    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight, self.bias = weight, bias

    def forward(self, h: np.ndarray, mu: np.ndarray) -> np.ndarray:
        a_sigma = h @ self.weight + self.bias
        small = np.exp(-np.abs(a_sigma))
        self.h = h
        self.softplus_slope = np.where(a_sigma >= 0, 1.0, small) / (1 + small)  # sigmoid(a_sigma)
        self.sigma = 1e-6 + np.maximum(a_sigma, 0) + np.log1p(small)
        return 0.5 * (self.sigma ** 2 + mu ** 2 - np.log(1e-8 + self.sigma ** 2) - 1).sum(axis=1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        sigma = self.sigma
        grad_sigma = np.asarray(grad_out)[:, None] * (sigma - sigma / (1e-8 + sigma ** 2))
        grad_a = grad_sigma * self.softplus_slope
        self.grad_weight = self.h.T @ grad_a
        self.grad_bias = grad_a.sum(axis=0)
        return grad_a @ self.weight.T
