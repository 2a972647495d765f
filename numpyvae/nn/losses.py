"""The terms of the ELBO and of the IWAE bound, each with its hand-written gradient.

The ELBO's two terms (a log-likelihood and a KL estimator) return one value per example, shape (B,);
``backward(grad_out)`` takes dL/d(value) as a scalar or a (B,) array and returns the gradients with respect
to the inputs. The IWAE bound's log-weight (LogImportanceWeight) and log-mean-exp (ImportanceWeightedBound)
take (K, B) arrays, K samples of B images.
"""

from __future__ import annotations

import math

import numpy as np

from .layers import sigmoid

PROB_CLIP = 1e-8  # the seed clips the decoder's probabilities to [1e-8, 1 - 1e-8]
# sigmoid is monotonic, so clipping p to [c, 1 - c] is clipping the logit to +-log((1 - c) / c)
LOGIT_CLIP = math.log((1 - PROB_CLIP) / PROB_CLIP)  # 18.42...
VARIANCE_GUARD = 1e-8  # the seed's log(1e-8 + std^2)
LOG_2PI = math.log(2 * math.pi)


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
    """log N(x; p, I) = -0.5 * sum over the P pixels of (x - p)^2  -  (P/2) log 2 pi,  p = sigmoid(a) clipped.

    The squared-error reconstruction term, for comparison with the seed's cross-entropy. The constant
    (720.4 nats for 784 pixels) changes no gradient, but without it the -ELBO and the IWAE bound of such a
    model would bound nothing: with it they bound -log p(x) under this density (in nats, like the Bernoulli
    numbers, but of a density over real-valued pixels, so not comparable with them).
        d/da = (x - p) p (1 - p)   (0 where a was clipped).
    """

    def forward(self, logits: np.ndarray, x: np.ndarray) -> np.ndarray:
        _, self.p, self.inside = clipped_sigmoid(logits)
        self.residual = x - self.p
        constant = 0.5 * x.shape[1] * LOG_2PI
        return -0.5 * (self.residual * self.residual).sum(axis=1) - np.asarray(constant, dtype=x.dtype)

    def backward(self, grad_out) -> np.ndarray:
        grad = _per_example(grad_out, self.p) * self.residual * self.p * (1 - self.p)
        return _through_clip(grad, self.inside)


RECONSTRUCTIONS = {"bernoulli": BernoulliLogLikelihood, "mse": GaussianLogLikelihood}


def kl_per_dimension(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Each latent dimension's 0.5 * (std^2 + mean^2 - log(1e-8 + std^2) - 1): (B, D), summed by GaussianKL."""
    variance = std * std
    return 0.5 * (variance + mean * mean - np.log(VARIANCE_GUARD + variance) - 1)


class GaussianKL:
    """KL(N(mean, std^2) || N(0, 1)) summed over latent dimensions, in the seed's guarded form (the "analytic" KL):

        KL = 0.5 * sum[std^2 + mean^2 - log(1e-8 + std^2) - 1],
        dKL/dmean = mean,      dKL/dstd = std - std / (1e-8 + std^2).

    ``forward(mean, std, eps)`` takes the noise like SampledKL, so that either serves the VAE; the closed form
    does not depend on it.
    """

    def forward(self, mean: np.ndarray, std: np.ndarray, eps: np.ndarray | None = None) -> np.ndarray:
        self.mean, self.std = mean, std
        return kl_per_dimension(mean, std).sum(axis=1)

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray]:
        g = _per_example(grad_out, self.mean)
        return g * self.mean, g * (self.std - self.std / (VARIANCE_GUARD + self.std * self.std))


class FreeBitsKL:
    """The free-bits KL term of Kingma et al. (2016, "Improved variational inference with inverse autoregressive
    flow"), in its per-dimension, batch-mean variant: each latent dimension d pays at least
    ``free_bits`` = lambda nats,

        F = sum_d max(lambda, KL_d),      KL_d = (1/B) sum_b KL_bd,
        KL_bd = 0.5 * (std_bd^2 + mean_bd^2 - log(1e-8 + std_bd^2) - 1)      (GaussianKL's, per dimension).

    (The paper groups the latents and averages over a minibatch; here each group is one dimension, the
    minibatch is the batch.) The loss is a mean over the batch, so ``forward`` returns F split over the images,

        F_b = sum_d [a_d KL_bd + (1 - a_d) lambda],      a_d = 1 if KL_d > lambda else 0,

    whose mean over b is F exactly. Away from KL_d = lambda the active set a is constant, so

        dF_b/dmean_bd = a_d mean_bd,      dF_b/dstd_bd = a_d (std_bd - std_bd / (1e-8 + std_bd^2)):

    GaussianKL's gradient where the dimension's mean KL is above lambda, zero where it is under (there the
    max is the constant lambda: a dimension below its free bits feels no pull towards the prior). At a tie
    the gradient is taken as zero. ``forward(mean, std, eps)`` takes the noise like the other KL estimators
    and ignores it.
    """

    def __init__(self, free_bits: float) -> None:
        self.free_bits = free_bits

    def forward(self, mean: np.ndarray, std: np.ndarray, eps: np.ndarray | None = None) -> np.ndarray:
        self.mean, self.std = mean, std
        per_dim = kl_per_dimension(mean, std)                                   # KL_bd (B, D)
        self.dimension_kl = per_dim.mean(axis=0)                                # KL_d (D,)
        self.active = self.dimension_kl > self.free_bits                        # a_d (D,)
        floor = np.asarray(self.free_bits * np.count_nonzero(~self.active), dtype=mean.dtype)
        return (per_dim * self.active).sum(axis=1) + floor                      # F_b (B,)

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray]:
        g = _per_example(grad_out, self.mean) * self.active
        return g * self.mean, g * (self.std - self.std / (VARIANCE_GUARD + self.std * self.std))


# -- options beside the seed's terms: the exact likelihood, the sampled KL, the IWAE bound -----------------


class ExactBernoulliLogLikelihood:
    """log p(x | a) = sum over pixels of x log sigmoid(a) + (1 - x) log(1 - sigmoid(a)), with no clip.

    Both logs are written so that neither overflows nor takes log 0 for any finite a:

        log sigmoid(a) = -logaddexp(0, -a),      log(1 - sigmoid(a)) = -logaddexp(0, a),

    and since logaddexp(0, -a) = logaddexp(0, a) - a, the sum is  x . a - sum logaddexp(0, a).
        d/da = x - sigmoid(a)   everywhere (no clip, so no region where the gradient is zero).
    """

    def forward(self, logits: np.ndarray, x: np.ndarray) -> np.ndarray:
        self.p, self.x = sigmoid(logits), x
        return np.einsum("ij,ij->i", x, logits) - np.logaddexp(0, logits).sum(axis=1)

    def backward(self, grad_out) -> np.ndarray:
        grad = self.x - self.p
        grad *= _per_example(grad_out, self.p)
        return grad


LIKELIHOODS = ("clipped", "exact")  # the seed's clipped Bernoulli, or ExactBernoulliLogLikelihood


class StandardNormalLogDensity:
    """log p(z) = log N(z; 0, I) = -0.5 * sum_d z_d^2 - (D / 2) log(2 pi), summed over the last axis.

    z is (..., D); the value is (...). d log p / dz = -z.
    """

    def forward(self, z: np.ndarray) -> np.ndarray:
        self.z = z
        return -0.5 * np.sum(z * z, axis=-1) - 0.5 * z.shape[-1] * LOG_2PI

    def backward(self, grad_out) -> np.ndarray:
        return -self.z * np.asarray(grad_out, dtype=self.z.dtype)[..., None]


class GaussianLogDensity:
    """log q(z) = log N(z; mean, diag(std^2)) = -0.5 sum_d u_d^2 - sum_d log std_d - (D / 2) log(2 pi),
    with u = (z - mean) / std, summed over the last axis. z, mean, std broadcast to (..., D); value (...).

    Its partial derivatives, each input held apart from the others:

        d/dz = -u / std,      d/dmean = u / std,      d/dstd = (u^2 - 1) / std.

    ``backward`` returns the three in that order, shaped like the broadcast inputs (a caller whose mean
    is shared by several z sums over the shared axis itself).
    """

    def forward(self, z: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        self.u = (z - mean) / std
        self.std = std
        return -0.5 * np.sum(self.u * self.u, axis=-1) - np.sum(np.log(std), axis=-1) - 0.5 * z.shape[-1] * LOG_2PI

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = np.asarray(grad_out, dtype=self.u.dtype)[..., None]
        u_over_std = g * self.u / self.std
        return -u_over_std, u_over_std, g * (self.u * self.u - 1) / self.std


class LogDensityRatio:
    """log p(z) - log q(z | x) at z = mean + std * eps, with p = N(0, I) and q = N(mean, diag(std^2)):

        log p(z)     = -|z|^2 / 2 - (D / 2) log 2 pi,
        log q(z | x) = -|eps|^2 / 2 - sum_d log std_d - (D / 2) log 2 pi      since (z - mean) / std = eps,
        so  log p(z) - log q(z | x) = (|eps|^2 - |z|^2) / 2 + sum_d log std_d    (the 2 pi terms cancel).

    z and eps are (..., D), std broadcasts against them (the K samples of an image share its (B, D) std); the
    value is (...), in the inputs' promoted dtype (float32 stays float32; a float64 std makes it float64).
    Its partial derivatives, eps held fixed (it is the noise; the caller chains z = mean + std * eps):

        d/dz = -z,      d/dstd = 1 / std      (summed over the axes std was broadcast along).
    """

    def forward(self, z: np.ndarray, eps: np.ndarray, std: np.ndarray) -> np.ndarray:
        self.z, self.std = z, std
        squares = np.einsum("...d,...d->...", eps, eps) - np.einsum("...d,...d->...", z, z)
        return 0.5 * squares + np.log(std).sum(axis=-1)

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray]:
        g = np.broadcast_to(np.asarray(grad_out, dtype=self.z.dtype), self.z.shape[:-1])
        grad_z = -self.z * g[..., None]
        shared = g.ndim - (self.std.ndim - 1)  # the leading axes std was broadcast along
        g_std = g.sum(axis=tuple(range(shared))) if shared > 0 else g
        return grad_z, g_std[..., None] / self.std


class LogImportanceWeight:
    """The log importance weight of the IWAE bound, for sample z = mean + std * eps of q(z | x):

        log w = log p(x | z) + log p(z) - log q(z | x) = log p(x | z) + (|eps|^2 - |z|^2) / 2 + sum_d log std_d

    (LogDensityRatio gives the last two terms). Inputs: log p(x | z) (...,), e.g. (K, B), z and eps (..., D),
    std (B, D) or anything that broadcasts; the value is (...). Training, the evaluation's IWAE passes and
    ``explain`` all compute the weights with this one class. Its partial derivatives, eps held fixed:

        dlog w / dlog p(x | z) = 1,      dlog w / dz = -z,      dlog w / dstd = 1 / std (summed over K).

    ``backward`` returns the three in that order; the caller sends the first through the likelihood and the
    decoder, adds what comes back to the second, and chains z = mean + std * eps.
    """

    def __init__(self) -> None:
        self.ratio = LogDensityRatio()

    def forward(self, log_likelihood: np.ndarray, z: np.ndarray, eps: np.ndarray, std: np.ndarray) -> np.ndarray:
        return log_likelihood + self.ratio.forward(z, eps, std)

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        grad_z, grad_std = self.ratio.backward(grad_out)
        return np.asarray(grad_out, dtype=grad_z.dtype), grad_z, grad_std


class SampledKL:
    """The one-sample estimate of KL(q(z | x) || p(z)) at z = mean + std * eps (Kingma & Welling's estimator A;
    the "sampled" KL):

        KL ~ log q(z | x) - log p(z) = -(LogDensityRatio) = (|z|^2 - |eps|^2) / 2 - sum_d log std_d,   (B,).

    Its gradient by hand: the ratio's partials (eps held fixed), negated, then the chain rule through z
    (dz/dmean = 1, dz/dstd = eps):

        dKL/dmean = z,      dKL/dstd = z eps - 1 / std.

    Its expectation over eps is the analytic KL's gradient; unlike GaussianKL it has no 1e-8 guard.
    """

    def __init__(self) -> None:
        self.ratio = LogDensityRatio()

    def forward(self, mean: np.ndarray, std: np.ndarray, eps: np.ndarray | None = None) -> np.ndarray:
        if eps is None:
            raise ValueError("the sampled KL is evaluated at z = mean + std * eps: it needs eps")
        self.eps = eps
        return -self.ratio.forward(mean + std * eps, eps, std)

    def backward(self, grad_out) -> tuple[np.ndarray, np.ndarray]:
        grad_z, grad_std = self.ratio.backward(-np.asarray(grad_out, dtype=self.eps.dtype))
        return grad_z, grad_std + grad_z * self.eps


# each KL estimator by the name the VAE's ``kl=`` setting takes
KL_ESTIMATORS = {"analytic": GaussianKL, "sampled": SampledKL}


class ImportanceWeightedBound:
    """The IWAE bound of Burda et al. (2016) from its K log-weights per example:

        L_K = log (1/K) sum_k w_k = logsumexp_k(log w_k) - log K,     log w (K, B) -> L_K (B,).

    Computed shifted by the largest log-weight m: L_K = m + log sum_k exp(log w_k - m) - log K, so no term
    overflows. Its gradient is the normalized importance weights, the softmax over k:

        dL_K / dlog w_k = w_k / sum_j w_j = exp(log w_k - m) / sum_j exp(log w_j - m).

    With K = 1 the weight is 1 and L_1 = log w_1: the one-sample ELBO with the KL sampled.
    """

    def forward(self, log_weights: np.ndarray) -> np.ndarray:
        peak = log_weights.max(axis=0)
        shifted = np.exp(log_weights - peak)
        total = shifted.sum(axis=0)
        self.normalized_weights = shifted / total
        return peak + np.log(total) - math.log(len(log_weights))

    def backward(self, grad_out) -> np.ndarray:
        return self.normalized_weights * np.asarray(grad_out, dtype=self.normalized_weights.dtype)
