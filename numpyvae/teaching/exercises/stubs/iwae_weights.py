"""Exercise: the IWAE bound of K log importance weights, and its gradient.

For each image, K samples z_k of q(z | x) give the log importance weights

    log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x),       k = 1..K

laid out as in numpyvae, (K, B): row k holds sample k of every image, column n one image's K samples.
The bound of each image is

    L_K = log (1/K) sum over k of w_k = log (1/K) sum over k of e^{log w_k}          (B,)

backward gets g = dL/dL_K, one number per image, (B,), and returns dL/d(log w), (K, B). Derive it: the
answer is a well-known function of the log weights, and explains why IWAE's gradient is a weighted average
of the K samples' gradients. The check feeds log weights near -1000 (MNIST's are near -100) and near +1000:
e^{log w} does not survive either in float64. Stuck? python -m numpyvae.exercises hint iwae_weights

Check it:  python -m numpyvae.exercises check iwae_weights
"""

import numpy as np


class IWAEBound:
    def forward(self, log_w: np.ndarray) -> np.ndarray:
        """Return L_K = log (1/K) sum_k e^{log w_k} of each image (column), (B,); keep what backward needs."""
        raise NotImplementedError("forward: a log-mean-exp over the K samples (axis 0), safe for any log w")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/d(log w), (K, B), for grad_out = dL/dL_K, (B,)."""
        raise NotImplementedError("backward: return dL/d(log w)")
