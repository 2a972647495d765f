"""The two terms of the ELBO, each with its hand-written gradient.

Both return one value per example, shape (B,); ``backward(grad_out)`` takes dL/d(value) as a scalar or
a (B,) array and returns the gradients with respect to the inputs.
"""

from __future__ import annotations

import math

import numpy as np

PROB_CLIP = 1e-8  # the seed clips the decoder's probabilities to [1e-8, 1 - 1e-8]
# sigmoid is monotonic, so clipping p to [c, 1 - c] is clipping the logit to +-log((1 - c) / c)
LOGIT_CLIP = math.log((1 - PROB_CLIP) / PROB_CLIP)  # 18.42...
VARIANCE_GUARD = 1e-8  # the seed's log(1e-8 + std^2)


def _per_example(grad_out, like: np.ndarray) -> np.ndarray:
    """A scalar or (B,) upstream gradient as a (B, 1) or (1, 1) column in the inputs' dtype."""
    return np.asarray(grad_out, dtype=like.dtype).reshape(-1, 1)


def clipped_sigmoid(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The seed's clip(sigmoid(a), 1e-8, 1 - 1e-8), done on the logits.

    Returns (a, p, inside): the clipped logits (``logits`` itself when no clip was needed),
    p = 1 / (1 + e^-a) (e^-a is at most e^18.42 ~ 1e8, so no overflow even in float32), and the mask
    of where the clip let the logit through (elsewhere the gradient is zero), or None when it let
    everything through, the common case, which then costs no multiplication in the backward pass.
    """
    if logits.size and logits.min() >= -LOGIT_CLIP and logits.max() <= LOGIT_CLIP:  # cheaper than clip + compare
        a, inside = logits, None
    else:
        a = np.clip(logits, -LOGIT_CLIP, LOGIT_CLIP)
        inside = a == logits
        inside = None if inside.all() else inside
    p = np.negative(a)
    np.exp(p, out=p)
    p += 1
    np.reciprocal(p, out=p)
    return a, p, inside


def _through_clip(grad: np.ndarray, inside: np.ndarray | None) -> np.ndarray:
    """Zero the gradient where the clip held the logit (``inside`` False)."""
    if inside is not None:
        grad *= inside
    return grad


class BernoulliLogLikelihood:
    """log p(x | a) = sum over pixels of x log p + (1 - x) log(1 - p),  p = sigmoid(a) clipped.

    Inputs: logits a (B, D) and targets x (B, D) in [0, 1]. The clip is applied to the logits, where it
    is exact in float32 too (in float32, 1 - 1e-8 rounds to 1 and log(1 - p) would be log 0).
    As log(1 - p) = log p - a:

        log p(x | a) = sum[log p - (1 - x) a] = sum(log p) - sum(a) + x . a,
        d/da = x - p  (0 where a was clipped).
    """

    def forward(self, logits: np.ndarray, x: np.ndarray) -> np.ndarray:
        a, self.p, self.inside = clipped_sigmoid(logits)
        self.x = x
        # three row reductions instead of a (B, D) temporary per term; einsum is the row-wise x . a
        return np.log(self.p).sum(axis=1) - a.sum(axis=1) + np.einsum("ij,ij->i", x, a)

    def backward(self, grad_out) -> np.ndarray:
        grad = self.x - self.p
        grad *= _per_example(grad_out, self.p)
        return _through_clip(grad, self.inside)


class GaussianLogLikelihood:
    """log N(x; p, I) up to its constant: -0.5 * sum over pixels of (x - p)^2,  p = sigmoid(a) clipped.

    The squared-error reconstruction term, for comparison with the seed's cross-entropy.
        d/da = (x - p) p (1 - p)   (0 where a was clipped).
    """

    def forward(self, logits: np.ndarray, x: np.ndarray) -> np.ndarray:
        _, self.p, self.inside = clipped_sigmoid(logits)
        self.residual = x - self.p
        return -0.5 * (self.residual * self.residual).sum(axis=1)

    def backward(self, grad_out) -> np.ndarray:
        grad = _per_example(grad_out, self.p) * self.residual * self.p * (1 - self.p)
        return _through_clip(grad, self.inside)


RECONSTRUCTIONS = {"bernoulli": BernoulliLogLikelihood, "mse": GaussianLogLikelihood}


def kl_per_dimension(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Each latent dimension's 0.5 * (std^2 + mean^2 - log(1e-8 + std^2) - 1): (B, D), summed by GaussianKL."""
    variance = std * std
    return 0.5 * (variance + mean * mean - np.log(VARIANCE_GUARD + variance) - 1)


class GaussianKL:
    """KL(N(mean, std^2) || N(0, 1)) summed over latent dimensions, in the seed's guarded form:

        KL = 0.5 * sum[std^2 + mean^2 - log(1e-8 + std^2) - 1],
        dKL/dmean = mean,      dKL/dstd = std - std / (1e-8 + std^2).
    """

    def forward(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        self.mean, self.std = mean, std
        return kl_per_dimension(mean, std).sum(axis=1)

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray]:
        g = _per_example(grad_out, self.mean)
        return g * self.mean, g * (self.std - self.std / (VARIANCE_GUARD + self.std * self.std))
