"""Exercise: the Bernoulli log-likelihood from the logits l, forward and backward.

Each pixel is Bernoulli with probability xhat = sigmoid(l) = 1 / (1 + e^-l), so for one image

    log p(x | z) = sum over the P pixels of  x log xhat + (1 - x) log(1 - xhat)

The logits l and the images x are (B, P), x in [0, 1] (grey levels, as the seed trains on); forward returns
one number per image, (B,). backward gets g = dL/d(log p(x | z)), one number per image, (B,), and returns
dL/dl, (B, P).

Derive it yourself: write log xhat and log(1 - xhat) in terms of l first; the result is short. The check
also feeds logits of -1000 and +1000, where xhat rounds to exactly 0 or 1: write the forward pass so that it
never takes the log of a number that rounded to 0. Stuck? python -m numpyvae.exercises hint bernoulli

Check it:  python -m numpyvae.exercises check bernoulli
"""

import numpy as np


class BernoulliLogLikelihood:
    def forward(self, logits: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Return log p(x | z) of each image, (B,); keep what backward will need."""
        raise NotImplementedError("forward: sum over the pixels of x log xhat + (1 - x) log(1 - xhat)")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Return dL/dl, (B, P), for grad_out = dL/d(log p(x | z)), (B,)."""
        raise NotImplementedError("backward: return dL/dl")
