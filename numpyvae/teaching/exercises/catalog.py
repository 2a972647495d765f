"""The exercises: what each asks, what the student's file must define, its check, and its graded hints.

Hints go from where to start (level 1) to the key step (level 2) to the last step before the answer
(level 3, where there is one); ``solution NAME`` prints the worked solution. The stubs themselves state
what to compute and the shapes, never the derivative asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .checks.capstone import check_capstone, check_capstone_reference
from .checks.layers import check_dense, check_dropout, check_elu, check_softplus, check_tanh
from .checks.losses import check_bernoulli, check_gaussian_kl, check_iwae_weights, check_reparameterize, check_std_head
from .diagnosis import Row

HERE = Path(__file__).parent
STUBS, SOLUTIONS = HERE / "stubs", HERE / "solutions"


@dataclass(frozen=True)
class Exercise:
    name: str
    defines: str                                 # the class or function the student's file must define
    title: str                                   # one line for ``list``
    check: Callable[[ModuleType], list[Row]]
    hints: tuple[str, ...]
    reference_check: Callable[[ModuleType], list[Row]] | None = None  # for ``--reference``, when it differs

    @property
    def stub(self) -> Path:
        return STUBS / f"{self.name}.py"

    @property
    def solution(self) -> Path:
        return SOLUTIONS / f"{self.name}.py"


EXERCISES: dict[str, Exercise] = {exercise.name: exercise for exercise in [
    Exercise("dense", "Dense", "the dense layer a = u W + b: dL/du, dL/dW, dL/db", check_dense, (
        "Write one output element as a sum over indices: a_no = sum_c u_nc W_co + b_o (n an image, c an input "
        "unit, o an output unit). For one weight W_co, list the outputs a_no it appears in, and with which "
        "factor. The chain rule then sums g_no times that factor over every place W_co is used.",
        "da_no / dW_co = u_nc, for every image n: so dL/dW_co = sum_n u_nc g_no. Read that sum over n as a "
        "matrix product and check its shape against W's, (D_in, D_out). The bias b_o is added to every row n: "
        "the same reasoning with the factor 1. For u_nc, sum over the outputs o instead.",
        "dL/dW = u^T g, dL/db = the sum of g over the batch (axis 0: not the mean; the loss's 1/B is already "
        "in g), dL/du = g W^T. Keep u in forward: backward needs it.")),
    Exercise("softplus", "Softplus", "softplus(a) = log(1 + e^a), stable at a = +-1000", check_softplus, (
        "Differentiate log(1 + e^a) with the chain rule: the log's derivative is 1/(its argument), times the "
        "derivative of the argument. Then simplify: the result is a function you know by name.",
        "e^a / (1 + e^a): divide numerator and denominator by e^a. For the forward pass at a = 1000, e^a is "
        "inf in float64; take max(a, 0) out of the log first: log(1 + e^a) = max(a, 0) + log(1 + e^-|a|) "
        "(check both signs of a). np.log1p(t) computes log(1 + t) accurately for small t.",
        "softplus'(a) = sigmoid(a) = 1 / (1 + e^-a). Compute it from e^-|a| too, which lies in (0, 1]: "
        "1 / (1 + e^-|a|) for a >= 0 and e^-|a| / (1 + e^-|a|) for a < 0. Keep it from forward for backward.")),
    Exercise("tanh", "Tanh", "the activation tanh: its derivative from its output", check_tanh, (
        "Write tanh(a) = (e^a - e^-a) / (e^a + e^-a) and use the quotient rule: (f/g)' = (f' g - f g') / g^2. "
        "Here f' = g and g' = f.",
        "The quotient rule gives (g^2 - f^2) / g^2 = 1 - (f/g)^2. What is f/g? Write the derivative with the "
        "output v of the forward pass, which you can keep. np.tanh is safe at +-1000; e^1000 is not.",
        "tanh'(a) = 1 - tanh(a)^2 = 1 - v^2: dL/da = g (1 - v^2).")),
    Exercise("elu", "ELU", "the activation ELU: two branches, one derivative each", check_elu, (
        "Differentiate each branch on its own side of 0: a for a > 0, e^a - 1 for a <= 0.",
        "The slopes are 1 and e^a. np.where(c, x, y) computes both x and y everywhere before choosing, so "
        "e^a at a = 1000 is computed (inf) even if it is not chosen, and inf times 0 is nan: take the "
        "exponential of min(a, 0) instead.",
        "ELU'(a) = 1 for a > 0, e^a for a <= 0; ELU(a) = max(a, 0) + (e^{min(a, 0)} - 1), and np.expm1 "
        "computes e^t - 1 accurately.")),
    Exercise("dropout", "Dropout", "inverted dropout r = v m / rho, the mask held fixed", check_dropout, (
        "With the mask fixed, r = v * m / rho is linear in v, elementwise. What is dr/dv for one element?",
        "dr/dv = m / rho: kept units (m = 1) pass the gradient scaled by 1/rho, dropped ones (m = 0) pass none. "
        "The forward pass's 1/rho makes E[r] = v, since E[m] = rho; the backward pass has the same factor.")),
    Exercise("bernoulli", "BernoulliLogLikelihood", "the Bernoulli log-likelihood from the logits l",
             check_bernoulli, (
        "Write log xhat and log(1 - xhat) with l: xhat = 1 / (1 + e^-l), and 1 - xhat = sigmoid(-l). Then "
        "simplify one pixel's term x log xhat + (1 - x) log(1 - xhat) before differentiating.",
        "log(1 + e^-l) = log(1 + e^l) - l, so the pixel's term is x l - log(1 + e^l) = x l - softplus(l). Its "
        "derivative uses the softplus exercise's result. For the forward pass at l = -1000, xhat is 0 in "
        "float64 and log 0 = -inf: the simplified form never takes that log.",
        "d/dl [x l - softplus(l)] = x - sigmoid(l) = x - xhat. The upstream g is one number per image: "
        "dL/dl = g[:, None] * (x - xhat).")),
    Exercise("gaussian_kl", "GaussianKL", "KL(N(mu, sigma^2) || N(0, I)) and its gradient", check_gaussian_kl, (
        "Differentiate 0.5 (sigma^2 + mu^2 - log(1e-8 + sigma^2) - 1) term by term; the sum over j splits into "
        "one term per dimension, so only term j depends on mu_j and sigma_j.",
        "For sigma, the log term needs the chain rule: d/dsigma log(1e-8 + sigma^2) = (1/(1e-8 + sigma^2)) * "
        "2 sigma. Do not drop the 1e-8: at sigma = 0.01 it changes the answer by 1e-4 of itself, which the "
        "check sees. The KL is one number per image: g, (B,), multiplies all J dimensions of its image.",
        "dKL/dmu_j = mu_j and dKL/dsigma_j = sigma_j - sigma_j / (1e-8 + sigma_j^2); times g[:, None].")),
    Exercise("reparameterize", "Reparameterize", "z = mu + sigma eps: the gradient through a sample",
             check_reparameterize, (
        "eps is a fixed number here, like a weight you do not train. Differentiate z = mu + sigma * eps with "
        "respect to mu, then sigma, elementwise.",
        "dz/dmu = 1 and dz/dsigma = eps: dL/dmu = g, dL/dsigma = g * eps.")),
    Exercise("std_head", "StdHead", "the std head as one chain: dense, softplus, the floor, the KL",
             check_std_head, (
        "Name every intermediate: a_sigma, sigma, KL. Go backwards one link at a time: dL/dsigma from the KL "
        "(your gaussian_kl), then dL/da_sigma, then the dense layer (your dense).",
        "sigma = 1e-6 + softplus(a_sigma): the constant 1e-6 has derivative 0, but the softplus has one, and "
        "it must multiply: dL/da_sigma = dL/dsigma * softplus'(a_sigma). Forgetting this factor is the classic "
        "mistake (the check names it when it sees it).",
        "dL/da_sigma = dL/dsigma * sigmoid(a_sigma); then dL/dW_sigma = h^T dL/da_sigma, dL/db_sigma = its "
        "column sums, dL/dh = dL/da_sigma W_sigma^T.")),
    Exercise("iwae_weights", "IWAEBound", "the IWAE bound's gradient as self-normalized weights, (K, B)",
             check_iwae_weights, (
        "Differentiate log((1/K) sum_k e^{log w_k}) with respect to one log w_k: the log's derivative, then "
        "the exponential's. The sum is over axis 0, the K samples of each image.",
        "You get e^{log w_k} / sum_l e^{log w_l} = w_k / sum_l w_l: the 1/K cancels. This is the softmax over k, "
        "the normalized weight of sample k. For the numbers: subtract each image's largest log w (m) before "
        "the exponential, and add it back after the log: log sum_k e^{log w_k} = m + log sum_k e^{log w_k - m}.",
        "dL/d(log w) = g * softmax over axis 0 of log w, computed from the shifted exponentials, with "
        "g (B,) broadcast over the K rows.")),
    Exercise("capstone", "backward", "capstone: the whole VAE.backward from its parts, against the real model",
             check_capstone, (
        "Start where the loss starts: L = (1/B) sum_n [beta KL_n - log p(x_n | z_n)]. What is dL/d(log p(x_n "
        "| z_n)), and dL/dKL_n? Then follow the graph (python -m numpyvae.explain graph) from the logits down: "
        "the decoder's layers in reverse, to z.",
        "At z = mu + sigma * eps the gradient splits: dL/dmu = dL/dz + the KL's part, dL/dsigma = dL/dz * eps "
        "+ the KL's part (model.kl.backward(beta / B) gives both parts, beta = model.effective_kl_weight()). "
        "The std head is a Dense then a Softplus: go back through the Softplus first (your std_head exercise).",
        "Both heads read h: dL/dh = mean_head.backward(dL/dmu) + dense_sigma.backward(softplus.backward("
        "dL/dsigma)). Then the encoder's layers in reverse order. Each Dense layer fills its own gradients in "
        "model.grads."), reference_check=check_capstone_reference),
]}
