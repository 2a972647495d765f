"""Exercise: the IWAE bound's log-mean-exp of k log weights, and its gradient, the normalised weights.

For each image, log weights w_1..w_k (w_i = log p(x, z_i) - log q(z_i | x)), shape (B, k):

    forward:   log (1/k) sum_i e^{w_i}                                    (B,)
    backward:  d/dw_i = e^{w_i} / sum_l e^{w_l} = softmax(w)_i            (B, k), times grad_out (B,)

The weights are near -100 nats for MNIST, and the check feeds -1000: e^{-1000} is 0 in floating point, so
subtract each row's maximum first: log sum e^{w} = w_max + log sum e^{w - w_max}.

Check it:  python -m numpyvae.exercises check iwae_weights
"""

import numpy as np


class IWAEBound:
    def forward(self, log_weights: np.ndarray) -> np.ndarray:
        """Return log mean_i exp(w_i) for each row, shape (B,); keep what backward will need."""
        raise NotImplementedError("forward: a stable log-mean-exp over axis 1")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/dw, (B, k), for dL/d(bound) = grad_out, (B,)."""
        raise NotImplementedError("backward: grad_out[:, None] times the softmax of each row")

