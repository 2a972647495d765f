"""The checks of the loss exercises: bernoulli, gaussian_kl, reparameterize, std_head, iwae_weights.

Symbols as in docs/elbo_backprop.md: B images, P pixels, J latent dimensions, K importance samples; the
logits l, the pixel probabilities xhat = sigmoid(l), the posterior's mu and sigma = 1e-6 + softplus(a_sigma),
the noise eps, the log importance weights log w_k laid out (K, B).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ..diagnosis import Mistake, Row
from .common import call, forward_row, gradient_rows
from .layers import _sigmoid, away_from_zero

GUARD = 1e-8      # the seed's log(1e-8 + sigma^2)
STD_FLOOR = 1e-6  # the seed's sigma = 1e-6 + softplus(a_sigma)


def check_bernoulli(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(8)
    logits, x = away_from_zero(rng, 0.1, 6, (4, 10)), rng.uniform(0, 1, (4, 10))  # grey levels, as the seed's
    far = np.array([[-1000.0, -40.0, 40.0, 1000.0], [1000.0, 40.0, -40.0, -1000.0]])
    far_x = np.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.3, 0.7, 0.0]])

    def log_likelihood(x):
        return lambda logits: np.einsum("ij,ij->i", x, logits) - np.logaddexp(0, logits).sum(axis=1)

    def pixel_terms(x):  # g_n (x l - log(1 + e^l)) for each pixel: the sum is sum_n g_n log p(x_n | z_n)
        return lambda g, logits: g[:, None] * (x * logits - np.logaddexp(0, logits))

    def student(x):
        def run(tensors, g):
            term = call(module.BernoulliLogLikelihood)
            call(term.forward, tensors["logits"], x.copy())
            return {"logits": call(term.backward, g)}
        return run

    def mistakes(x):
        def known(tensors, g):
            xhat = _sigmoid(tensors["logits"])
            return {"logits": [Mistake("x - xhat without the upstream gradient g (one number per image, (B,)) "
                                       "multiplied in", np.broadcast_to(x - xhat, xhat.shape)),
                               Mistake("g xhat (1 - xhat): the derivative of xhat, not of log p(x | z)",
                                       g[:, None] * xhat * (1 - xhat))]}
        return known

    def large_context(i):
        return f"at logit {far[i]:g}, x = {far_x[i]:g}"

    return [forward_row("forward  log p(x | z)", lambda: module.BernoulliLogLikelihood().forward(logits.copy(),
                                                                                                  x.copy()),
                        log_likelihood(x)(logits)),
            *gradient_rows({"logits": logits}, log_likelihood(x), student(x), {"logits": "dL/dl"},
                           mistakes=mistakes(x), terms=pixel_terms(x),
                           contexts={"logits": lambda i: f"at logit {logits[i]:.6g}, x = {x[i]:.6g}"}),
            forward_row("forward at logits -1000 ... 1000",
                        lambda: module.BernoulliLogLikelihood().forward(far.copy(), far_x.copy()),
                        log_likelihood(far_x)(far)),
            *gradient_rows({"logits": far}, log_likelihood(far_x), student(far_x), {"logits": "dL/dl"},
                           mistakes=mistakes(far_x), at=" at logits -1000 ... 1000", terms=pixel_terms(far_x),
                           contexts={"logits": large_context})]


def kl_terms(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The seed's KL of each latent dimension of each image, (B, J), guard included."""
    return 0.5 * (sigma ** 2 + mu ** 2 - np.log(GUARD + sigma ** 2) - 1)


def gaussian_kl(mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The seed's KL per image, (B,)."""
    return kl_terms(mu, sigma).sum(axis=1)


def kl_sigma_mistakes(sigma: np.ndarray, upstream: np.ndarray) -> list[Mistake]:
    """The usual wrong dKL/dsigma, times the upstream gradient (B, J)."""
    return [Mistake("sigma - 1/sigma, the KL without the seed's 1e-8 guard: differentiate "
                    "log(1e-8 + sigma^2) as written", upstream * (sigma - 1 / sigma)),
            Mistake("sigma - sigma / (2 (1e-8 + sigma^2)): the 2 of d log(1e-8 + sigma^2) / dsigma = "
                    "2 sigma / (1e-8 + sigma^2) lost", upstream * (sigma - 0.5 * sigma / (GUARD + sigma ** 2)))]


def check_gaussian_kl(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(2)
    mu = away_from_zero(rng, 0.3, 2, (4, 3))
    # stds on both sides of 1 (where dKL/dsigma = 0), and down to 0.01, where the seed's 1e-8 guard changes the
    # gradient by 1e-4 of itself: the unguarded formula fails by far, not by a hair
    sigma = np.where(rng.uniform(size=(4, 3)) < 0.5, rng.uniform(0.3, 0.8, (4, 3)), rng.uniform(1.3, 2, (4, 3)))
    sigma[0, 0], sigma[1, 2], sigma[3, 1] = 0.01, 0.02, 0.05

    def student(tensors, g):
        kl = call(module.GaussianKL)
        call(kl.forward, tensors["mu"], tensors["sigma"])
        grads = call(kl.backward, g)
        return dict(zip(("mu", "sigma"), grads, strict=False)) if isinstance(grads, tuple) else None

    def mistakes(tensors, g):
        return {"sigma": kl_sigma_mistakes(tensors["sigma"], g[:, None])}

    def context(i):
        return f"at mu = {mu[i]:.6g}, sigma = {sigma[i]:.6g}"

    return [forward_row("forward  KL per image", lambda: module.GaussianKL().forward(mu.copy(), sigma.copy()),
                        gaussian_kl(mu, sigma)),
            *gradient_rows({"mu": mu, "sigma": sigma}, gaussian_kl, student, {"mu": "dL/dmu", "sigma": "dL/dsigma"},
                           mistakes=mistakes, h=1e-5, contexts={"mu": context, "sigma": context},
                           terms=lambda g, mu, sigma: g[:, None] * kl_terms(mu, sigma))]


def check_reparameterize(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(3)
    mu, sigma = rng.standard_normal((4, 3)), rng.uniform(0.05, 2, (4, 3))
    eps = away_from_zero(rng, 0.2, 2, (4, 3))

    def student(tensors, g):
        step = call(module.Reparameterize)
        call(step.forward, tensors["mu"], tensors["sigma"], eps.copy())
        grads = call(step.backward, g)
        return dict(zip(("mu", "sigma"), grads, strict=False)) if isinstance(grads, tuple) else None

    def mistakes(tensors, g):
        return {"sigma": [Mistake("g, the gradient of z itself: dz/dsigma is eps, not 1", g),
                          Mistake("g sigma: dz/dsigma is eps, not sigma", g * tensors["sigma"])]}

    return [forward_row("forward  z = mu + sigma * eps",
                        lambda: module.Reparameterize().forward(mu.copy(), sigma.copy(), eps.copy()), mu + sigma * eps),
            *gradient_rows({"mu": mu, "sigma": sigma}, lambda mu, sigma: mu + sigma * eps, student,
                           {"mu": "dL/dmu", "sigma": "dL/dsigma"}, mistakes=mistakes)]


def std_head_kl(mu: np.ndarray, per_dimension: bool = False):
    """h, W_sigma, b_sigma -> the KL per image (or per dimension), through a_sigma = h W_sigma + b_sigma, the
    softplus and the floor."""
    def kl(h, weight, bias):
        terms = kl_terms(mu, STD_FLOOR + np.logaddexp(0, h @ weight + bias))
        return terms if per_dimension else terms.sum(axis=1)
    return kl


def check_std_head(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(9)
    h = rng.uniform(-1, 1, (4, 5))
    weight, bias = 0.8 * rng.standard_normal((5, 3)), np.array([-2.0, 0.2, 1.5])  # a_sigma from about -5 to 4
    mu = away_from_zero(rng, 0.3, 2, (4, 3))
    chain = std_head_kl(mu)

    def student(tensors, g):
        head = call(module.StdHead, tensors["weight"], tensors["bias"])
        call(head.forward, tensors["h"], mu.copy())
        grad_h = call(head.backward, g)
        return {"h": grad_h, "weight": getattr(head, "grad_weight", None), "bias": getattr(head, "grad_bias", None)}

    def mistakes(tensors, g):
        a_sigma = tensors["h"] @ tensors["weight"] + tensors["bias"]
        sigma = STD_FLOOR + np.logaddexp(0, a_sigma)
        grad_sigma = g[:, None] * (sigma - sigma / (GUARD + sigma ** 2))
        unguarded = g[:, None] * (sigma - 1 / sigma)
        found = {"h": [], "weight": [], "bias": []}
        for label, grad_a in (("the gradient with the softplus's factor left out: dL/da_sigma is dL/dsigma times "
                               "softplus'(a_sigma) = sigmoid(a_sigma)", grad_sigma),
                              ("the gradient of the KL without the seed's 1e-8 guard (sigma - 1/sigma in place of "
                               "sigma - sigma / (1e-8 + sigma^2))", unguarded * _sigmoid(a_sigma))):
            for name, value in (("h", grad_a @ tensors["weight"].T), ("weight", tensors["h"].T @ grad_a),
                                ("bias", grad_a.sum(axis=0))):
                found[name].append(Mistake(label, value))
        return found

    return [forward_row("forward  KL per image", lambda: module.StdHead(weight.copy(), bias.copy()).forward(
                            h.copy(), mu.copy()), chain(h, weight, bias)),
            *gradient_rows({"weight": weight, "bias": bias, "h": h}, chain, student,
                           {"weight": "dL/dW_sigma", "bias": "dL/db_sigma", "h": "dL/dh"}, mistakes=mistakes,
                           h=1e-3, batch=len(h), terms=lambda g, **t: g[:, None] * std_head_kl(mu, True)(**t))]


def log_mean_exp(log_w: np.ndarray) -> np.ndarray:
    """log (1/K) sum_k e^{log w_k} over axis 0 of (K, B), shifted by the largest so that nothing overflows."""
    peak = log_w.max(axis=0)
    return peak + np.log(np.mean(np.exp(log_w - peak), axis=0))


def check_iwae_weights(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(4)
    log_w = rng.uniform(-2, 2, (6, 3))  # K = 6 samples (rows) of B = 3 images (columns)

    def student(tensors, g):
        bound = call(module.IWAEBound)
        call(bound.forward, tensors["log_w"])
        return {"log_w": call(bound.backward, g)}

    def mistakes(tensors, g):
        w = np.exp(tensors["log_w"] - tensors["log_w"].max(axis=0))
        normalized = w / w.sum(axis=0)
        across = w / w.sum(axis=1, keepdims=True)
        return {"log_w": [Mistake("the normalized weights divided by K: the 1/K of the mean cancels in "
                                  "d log(1/K sum_k w_k)", g * normalized / len(w)),
                          Mistake("weights normalized over the images (axis 1) instead of over the K samples of "
                                  "each image (axis 0)", g * across),
                          Mistake("the normalized weights without the upstream gradient g (B,) multiplied in",
                                  normalized)]}

    rows = [forward_row("forward  log (1/K) sum_k w_k", lambda: module.IWAEBound().forward(log_w.copy()),
                        log_mean_exp(log_w)),
            *gradient_rows({"log_w": log_w}, log_mean_exp, student, {"log_w": "dL/dlog w"}, mistakes=mistakes)]
    for shift, words in ((-1000, "near -1000"), (1000, "near +1000")):  # MNIST's are near -100
        far = log_w + shift
        rows += [forward_row(f"forward at log w {words}", lambda far=far: module.IWAEBound().forward(far.copy()),
                             log_mean_exp(far), context=lambda i, far=far: f"log w of that image from "
                             f"{far[:, i[0]].min():g} to {far[:, i[0]].max():g}"),
                 # log-mean-exp's gradient does not change when every log w moves by the same shift: the
                 # numerical gradient is taken where the values are small, so its rounding is too
                 *gradient_rows({"log_w": far}, log_mean_exp, student, {"log_w": "dL/dlog w"}, mistakes=mistakes,
                                at=f" at log w {words}", numeric_at={"log_w": log_w},
                                contexts={"log_w": lambda i, far=far: f"at log w = {far[i]:g}"})]
    return rows
