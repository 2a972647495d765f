"""How noisy is the encoder's gradient? ``python -m numpyvae.explain variance CHECKPOINT``.

On a trained model and a fixed batch of test images (dropout off), the gradient of the loss with respect to
every encoder parameter (trunk and both heads) is computed again and again, each time with fresh noise eps,
by four estimators of the same quantity, the gradient of the -ELBO:

    B                reparameterization, the KL in closed form        (the seed's; Kingma & Welling's estimator B)
    A                reparameterization, the KL sampled at the same z: log q(z | x) - log p(z)    (their estimator A)
    score            the score function (REINFORCE) for the reconstruction term, the KL in closed form:
                     d/dphi E_q[F(z)] estimated by F(z) d/dphi log q(z | x), z held fixed, F(z) = log p(x | z)
    score-baseline   the same with F(z) - F(mu) in place of F(z): the reconstruction at the posterior mean is
                     a baseline that does not depend on eps, so E[F(mu) d log q] = F(mu) E[d log q] = 0 and
                     the estimate stays unbiased, while the number multiplying the score shrinks

All four draw the same eps on each draw. For each, with R draws G_1..G_R of the gradient vector (symbols
as in docs/elbo_backprop.md, section 3):

    total variance     S = sum over parameters of each one's unbiased variance = (Q - |T|^2 / R) / (R - 1),
                       T = sum_r G_r, Q = sum_r |G_r|^2; E[S] = tr Sigma, Sigma the covariance of one draw
    |mean|^2           |T / R|^2 is biased: E|mean|^2 = |E G|^2 + tr Sigma / R. The signal printed is
                       U = |T / R|^2 - S / R = (|T|^2 - Q) / (R (R - 1)), the mean of the dot product of two
                       different (independent) draws over all such pairs: E[U] = |E G|^2 exactly
    its standard error by the jackknife over groups of draws (leave one group out)
    signal / noise     U / S, the signal-to-noise ratio of one draw

Whether two estimators have the same mean is tested on their paired differences D = G(X) - G(B), draw by
draw, which share eps and so cancel the noise the two have in common: U of the differences estimates
|E D|^2, which is 0 when the means agree. The conclusion "consistent with the same mean" is printed only
when it is within three of its standard errors of 0; otherwise the means differ.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field

import numpy as np

from ...cli import Parser, add_checkpoint_arguments, load_checkpoint_and_data, require_one_layer_vae, run_command
from ...data import to_float
from ...errors import UsageError
from ...models.terms import LossTerms
from ...models.vae import VAE
from ...nn.losses import GaussianLogDensity
from ...progress import progress_bar

ESTIMATORS = ("B", "A", "score", "score-baseline")
DESCRIPTIONS = {"B": "reparameterization, analytic KL (the seed's)", "A": "reparameterization, sampled KL",
                "score": "score function, analytic KL", "score-baseline": "score function - F(mu) baseline"}
GROUPS = 10       # groups of draws for the jackknife
AGREEMENT = 3.0   # standard errors within which a paired difference counts as consistent with 0


def encoder_gradient(model: VAE) -> np.ndarray:
    """Every encoder parameter's gradient (trunk and heads), as one float64 vector."""
    return np.concatenate([grad.ravel() for name, grad in model.grads.items()
                           if name.startswith("encoder.")]).astype(np.float64)


def score_function_backward(model: VAE, terms: LossTerms, eps: np.ndarray, baseline: np.ndarray | float = 0.0) -> None:
    """Fill the encoder's grads with the score-function estimate, for the batch of the last ``model.elbo_terms``,
    which returned ``terms`` and drew z = terms.mean + terms.std * eps with ``eps`` (B, latent).

    L = -(1/B) sum_n [log p(x_n | z_n) - beta KL_n]. The reconstruction term's gradient with respect to the
    posterior's mean and std is estimated with z held fixed (no path through z), F(z) = terms.log_likelihood
    less a baseline c that does not depend on eps (one number per image):

        d/dmu E_q[F(z)] ~ (F(z) - c) d log q(z | x)/dmu = (F(z) - c) eps / sigma,
        d/dsigma E_q[F(z)] ~ (F(z) - c) d log q(z | x)/dsigma = (F(z) - c) (eps^2 - 1) / sigma

    (``GaussianLogDensity.backward``'s partial derivatives at z = mu + sigma eps, where (z - mu)/sigma = eps);
    the KL's gradient is that of the estimator the pass ran (``model.kl_used``, the closed form when it was
    called with kl="analytic", as in estimator B), weighed by beta = ``model.effective_kl_weight()``.
    """
    batch = len(eps)
    log_q = GaussianLogDensity()
    log_q.forward(terms.mean + terms.std * eps, terms.mean, terms.std)
    _, score_mean, score_std = log_q.backward(-(terms.log_likelihood - baseline) / batch)  # -(1/B)(F - c) score
    kl_mean, kl_std = model.kl_used.backward(model.effective_kl_weight() / batch)
    grad_h = model.mean_head.backward(score_mean + kl_mean) + model.std_head.backward(score_std + kl_std)
    model.encoder.backward(grad_h)


@dataclass
class Moments:
    """Running sums of R draws of a vector G, kept per group of draws: enough for the mean, the total variance
    and the unbiased squared norm of the mean with its jackknife standard error (module docstring)."""

    size: int
    groups: int = GROUPS
    sums: np.ndarray = field(init=False)     # (groups, size): the sum of each group's draws
    squares: np.ndarray = field(init=False)  # (groups,): the sum of |G_r|^2 over each group
    counts: np.ndarray = field(init=False)   # (groups,)

    def __post_init__(self) -> None:
        self.sums = np.zeros((self.groups, self.size))
        self.squares, self.counts = np.zeros(self.groups), np.zeros(self.groups, dtype=np.int64)

    def add(self, draw: np.ndarray, index: int) -> None:
        group = index % self.groups
        self.sums[group] += draw
        self.squares[group] += float(draw @ draw)
        self.counts[group] += 1

    @classmethod
    def difference(cls, first: Moments, second: Moments, squares: np.ndarray) -> Moments:
        """The moments of first - second, draw by draw, from their sums and the squares of the differences."""
        moments = cls(first.size, first.groups)
        moments.sums, moments.squares, moments.counts = first.sums - second.sums, squares, first.counts.copy()
        return moments

    @property
    def draws(self) -> int:
        return int(self.counts.sum())

    @property
    def mean(self) -> np.ndarray:
        return self.sums.sum(axis=0) / self.draws

    def _statistics(self, total_sq: float, squares: float, n: int) -> tuple[float, float]:
        """(S, U) from |T|^2, Q and the number of draws R = n."""
        variance = (squares - total_sq / n) / (n - 1)
        return variance, (total_sq - squares) / (n * (n - 1))

    @property
    def total_variance(self) -> float:
        total = self.sums.sum(axis=0)
        return max(self._statistics(float(total @ total), float(self.squares.sum()), self.draws)[0], 0.0)

    @property
    def naive_signal(self) -> float:
        """|mean|^2, biased upwards by tr Sigma / R."""
        return float(self.mean @ self.mean)

    def signal_and_error(self) -> tuple[float, float]:
        """The unbiased |E G|^2 and its jackknife standard error (leave one group of draws out)."""
        gram = self.sums @ self.sums.T
        total_sq, squares, n = float(gram.sum()), float(self.squares.sum()), self.draws
        signal = self._statistics(total_sq, squares, n)[1]
        used = [c for c in range(self.groups) if self.counts[c] and n - self.counts[c] >= 2]
        if len(used) < 2:
            return signal, math.inf
        leave_out = np.array([self._statistics(total_sq - 2 * gram[c].sum() + gram[c, c], squares - self.squares[c],
                                               n - int(self.counts[c]))[1] for c in used])
        g = len(used)
        return signal, float(math.sqrt((g - 1) / g * np.sum((leave_out - leave_out.mean()) ** 2)))

    @property
    def signal(self) -> float:
        return self.signal_and_error()[0]

    @property
    def signal_to_noise(self) -> float:
        variance = self.total_variance
        return self.signal / variance if variance > 0 else math.inf


@dataclass
class Agreement:
    """The paired test of E G(X) = E G(B): the unbiased |E D|^2 of D = G(X) - G(B), its error, the verdict."""

    squared_gap: float
    error: float
    mean_gap: float      # |mean of D|, the plain norm of the difference of the two means
    noise_floor: float   # sqrt(tr Sigma_D / R), what |mean of D| would be from noise alone

    @property
    def consistent(self) -> bool:
        return self.squared_gap <= AGREEMENT * self.error


def agreement(difference: Moments) -> Agreement:
    squared_gap, error = difference.signal_and_error()
    return Agreement(squared_gap, error, float(np.linalg.norm(difference.mean)),
                     math.sqrt(difference.total_variance / difference.draws))


def gradient_spread(model: VAE, x: np.ndarray, labels=None, draws: int = 100, seed: int = 0,
                    progress: bool = False, groups: int = GROUPS) -> tuple[dict[str, Moments], dict[str, Moments]]:
    """Each estimator's encoder gradient over ``draws`` noise draws (the same eps for all four), and the paired
    differences of A, score and score-baseline from B."""
    rng = np.random.default_rng(seed)
    latent = model.config["latent_dim"]
    baseline = model.elbo_terms(x, False, np.zeros((len(x), latent), dtype=model.dtype), labels).log_likelihood
    size = encoder_gradient(model).size  # F(mu) above: z = mu, eps = 0
    spreads = {name: Moments(size, groups) for name in ESTIMATORS}
    squares = {name: np.zeros(groups) for name in ESTIMATORS[1:]}
    for index in progress_bar(range(draws), desc="draws", disable=not progress, leave=False):
        eps = rng.standard_normal((len(x), latent)).astype(model.dtype)
        gradients = {}
        for name in ESTIMATORS:
            terms = model.elbo_terms(x, False, eps, labels, kl="sampled" if name == "A" else "analytic")
            if name == "B" or name == "A":
                model.backward()
            else:
                score_function_backward(model, terms, eps, baseline if name == "score-baseline" else 0.0)
            gradients[name] = encoder_gradient(model)
            spreads[name].add(gradients[name], index)
        for name in ESTIMATORS[1:]:
            gap = gradients[name] - gradients["B"]
            squares[name][index % groups] += float(gap @ gap)
    differences = {name: Moments.difference(spreads[name], spreads["B"], squares[name]) for name in ESTIMATORS[1:]}
    return spreads, differences


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.explain variance",
                    description="The variance of a trained model's encoder gradient under the reparameterization "
                                "gradient with the analytic KL (estimator B, the seed's), with the sampled KL "
                                "(estimator A), and under the score-function estimator without and with a baseline.")
    add_checkpoint_arguments(parser)
    parser.add_argument("--images", type=int, default=64, help="test images in the batch (the first ones)")
    parser.add_argument("--draws", type=int, default=100, help="noise draws per estimator (at least 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def variance_command(args: argparse.Namespace) -> int:
    if args.images < 1 or args.draws < 2 * GROUPS:
        raise UsageError(f"--images must be at least 1 and --draws at least {2 * GROUPS} (the standard errors come "
                         f"from {GROUPS} groups of draws), got {args.images} and {args.draws}")
    model, _, dataset = load_checkpoint_and_data(args)
    require_one_layer_vae(model, "explain variance", args.checkpoint)
    if not model.variational:
        raise UsageError("the checkpoint is a plain autoencoder: it has no posterior to sample")
    x = to_float(dataset.test_images[:args.images], model.dtype)
    labels = dataset.test_labels[:args.images] if model.config.get("num_classes", 0) else None
    spreads, differences = gradient_spread(model, x, labels, args.draws, args.seed, progress=not args.no_progress)
    print(format_report(spreads, differences, len(x)))
    return 0


def format_report(spreads: dict[str, Moments], differences: dict[str, Moments], images: int) -> str:
    draws, size = spreads["B"].draws, spreads["B"].size
    lines = [f"encoder gradient of the -ELBO, {images} test images, {draws} draws of eps (shared by the "
             f"estimators), dropout off, {size} parameters",
             f"{'estimator':<52} {'total var.':>11} {'|mean|^2':>10} {'unbiased |E G|^2 +- s.e.':>25} "
             f"{'signal/noise':>12} {'var / B':>9}"]
    base = spreads["B"].total_variance
    for name in ESTIMATORS:
        spread = spreads[name]
        signal, error = spread.signal_and_error()
        label = f"{name}  {DESCRIPTIONS[name]}"
        lines.append(f"{label:<52} {spread.total_variance:>11.4g} {spread.naive_signal:>10.4g}"
                     f" {f'{signal:.4g} +- {error:.2g}':>25} {spread.signal_to_noise:>12.3g} "
                     f"{spread.total_variance / base:>9.3g}")
    lines.append("|mean|^2 is biased by tr Sigma / R (the noise floor, R draws); the unbiased column subtracts it")
    for name, difference in differences.items():
        test = agreement(difference)
        verdict = (f"consistent with the same mean (within {AGREEMENT:g} s.e. of 0)" if test.consistent
                   else f"the means differ (more than {AGREEMENT:g} s.e. from 0)")
        lines.append(f"paired {name} - B: |mean difference| {test.mean_gap:.4g} against a noise floor "
                     f"{test.noise_floor:.4g}; unbiased |E D|^2 = {test.squared_gap:.4g} +- {test.error:.2g}: "
                     f"{verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return run_command(variance_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
