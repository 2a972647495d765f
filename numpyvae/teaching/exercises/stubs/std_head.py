"""Exercise: the encoder's std head and the KL, as one chain, forward and backward.

From the trunk's output h to the KL, for the seed's model:

    a_sigma = h W_sigma + b_sigma                      (B, J)   a dense layer
    sigma   = 1e-6 + softplus(a_sigma)                 (B, J)   the softplus and the floor
    KL      = 0.5 * sum over j of (sigma_j^2 + mu_j^2 - log(1e-8 + sigma_j^2) - 1)      (B,)

h is (B, D), W_sigma (D, J), b_sigma (J,); mu (B, J) comes from the other head and is held fixed here.
backward gets g = dL/dKL, (B,), sets self.grad_weight (dL/dW_sigma) and self.grad_bias (dL/db_sigma), and
returns dL/dh, (B, D). Walk the chain from the KL back to h one link at a time; every link has a factor.
(The exercises dense, softplus and gaussian_kl are its parts.) Stuck?
python -m numpyvae.exercises hint std_head

Check it:  python -m numpyvae.exercises check std_head
"""

import numpy as np


class StdHead:
    def __init__(self, weight: np.ndarray, bias: np.ndarray) -> None:
        self.weight, self.bias = weight, bias

    def forward(self, h: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Return the KL of each image, (B,), through sigma = 1e-6 + softplus(h W_sigma + b_sigma)."""
        raise NotImplementedError("forward: a_sigma, then sigma, then the KL")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Set self.grad_weight and self.grad_bias; return dL/dh, for grad_out = dL/dKL, (B,)."""
        raise NotImplementedError("backward: from dL/dKL back to a_sigma, then through the dense layer")
