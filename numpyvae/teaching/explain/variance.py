"""How noisy is the encoder's gradient? ``python -m numpyvae.explain variance CHECKPOINT``.

On a trained model and a fixed batch of test images (dropout off), the gradient of the loss with respect to
every encoder parameter (trunk and both heads) is computed again and again, each time with fresh noise eps,
by three estimators of the same quantity, the gradient of the -ELBO:

    B       reparameterization, the KL in closed form          (the seed's; Kingma & Welling's estimator B)
    A       reparameterization, the KL sampled at the same z:  log q(z | x) - log p(z)     (their estimator A)
    score   the score function (REINFORCE) for the reconstruction term, the KL in closed form:
            d/dphi E_q[log p(x | z)] estimated by log p(x | z) * d/dphi log q(z | x), z held fixed

All three are unbiased: their means over many draws agree. They differ in variance, the spread of one
draw around that mean, which is what makes a training step noisy. Printed for each: the total variance
(the sum over the encoder's parameters of each one's variance across draws), the squared norm of the mean
gradient, and their ratio, the signal-to-noise ratio of one draw.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from ...cli import Parser, add_checkpoint_arguments, load_checkpoint_and_data, run
from ...data import to_float
from ...errors import UsageError
from ...models.vae import VAE
from ...nn.losses import GaussianLogDensity
from ...progress import progress_bar

ESTIMATORS = ("B", "A", "score")
DESCRIPTIONS = {"B": "reparameterization, analytic KL (the seed's)", "A": "reparameterization, sampled KL",
                "score": "score function, analytic KL"}


def encoder_gradient(model: VAE) -> np.ndarray:
    """Every encoder parameter's gradient (trunk and heads), as one float64 vector."""
    return np.concatenate([grad.ravel() for name, grad in model.grads.items()
                           if name.startswith("encoder.")]).astype(np.float64)


def score_function_backward(model: VAE) -> None:
    """Fill the encoder's grads with the score-function estimate, for the batch of the last ``model.elbo``.

    L = -(1/B) sum_b [log p(x_b | z_b) - KL_b]. The reconstruction term's gradient with respect to the
    posterior's mean and std is estimated with z held fixed (no path through z):

        d/dmu E_q[F(z)] ~ F(z) d log q(z | x)/dmu = F(z) eps / sigma,
        d/dsigma E_q[F(z)] ~ F(z) d log q(z | x)/dsigma = F(z) (eps^2 - 1) / sigma,   F(z) = log p(x | z)

    (``GaussianLogDensity.backward``'s partial derivatives with u = (z - mu)/sigma = eps); the KL's gradient is
    the closed form's, as in estimator B.
    """
    batch = len(model.eps)
    log_q = GaussianLogDensity()
    log_q.forward(model.z_mean + model.z_std * model.eps, model.z_mean, model.z_std)
    _, score_mean, score_std = log_q.backward(-model.log_likelihood / batch)  # -(1/B) F times the score
    kl_mean, kl_std = model.kl_term.backward(model.kl_term_weight() / batch)
    grad_h = model.mean_head.backward(score_mean + kl_mean) + model.std_head.backward(score_std + kl_std)
    model.encoder.backward(grad_h)


@dataclass
class Spread:
    """The draws of one estimator: their mean and the total variance of one draw around it."""

    mean: np.ndarray
    total_variance: float
    draws: int

    @property
    def signal(self) -> float:
        return float(self.mean @ self.mean)

    @property
    def signal_to_noise(self) -> float:
        return self.signal / self.total_variance if self.total_variance > 0 else float("inf")


def gradient_spread(model: VAE, x: np.ndarray, labels=None, draws: int = 100, seed: int = 0,
                    progress: bool = False) -> dict[str, Spread]:
    """Each estimator's encoder gradient over ``draws`` noise draws (the same eps for all three)."""
    rng = np.random.default_rng(seed)
    sums = {name: 0.0 for name in ESTIMATORS}
    squares = {name: 0.0 for name in ESTIMATORS}
    latent = model.config["latent_dim"]
    for _ in progress_bar(range(draws), desc="draws", disable=not progress, leave=False):
        eps = rng.standard_normal((len(x), latent)).astype(model.dtype)
        for name in ESTIMATORS:
            model.elbo(x, False, eps, labels, kl="sampled" if name == "A" else "analytic")
            if name == "score":
                score_function_backward(model)
            else:
                model.backward()
            gradient = encoder_gradient(model)
            sums[name] = sums[name] + gradient
            squares[name] = squares[name] + gradient * gradient
    spreads = {}
    for name in ESTIMATORS:
        mean = sums[name] / draws
        variance = np.maximum(squares[name] / draws - mean * mean, 0) * draws / max(draws - 1, 1)
        spreads[name] = Spread(mean, float(variance.sum()), draws)
    return spreads


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.explain variance",
                    description="The variance of a trained model's encoder gradient under the reparameterization "
                                "gradient with the analytic KL (estimator B, the seed's), with the sampled KL "
                                "(estimator A), and under the score-function estimator.")
    add_checkpoint_arguments(parser)
    parser.add_argument("--images", type=int, default=64, help="test images in the batch (the first ones)")
    parser.add_argument("--draws", type=int, default=100, help="noise draws per estimator")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def variance_command(args: argparse.Namespace) -> int:
    if args.images < 1 or args.draws < 2:
        raise UsageError(f"--images must be at least 1 and --draws at least 2, got {args.images} and {args.draws}")
    model, _, dataset = load_checkpoint_and_data(args)
    if not model.variational:
        raise UsageError("the checkpoint is a plain autoencoder: it has no posterior to sample")
    x = to_float(dataset.test_images[:args.images], model.dtype)
    labels = dataset.test_labels[:args.images] if model.config.get("num_classes", 0) else None
    spreads = gradient_spread(model, x, labels, args.draws, args.seed, progress=not args.no_progress)
    print(f"encoder gradient of the -ELBO, {len(x)} test images, {args.draws} draws of eps, dropout off, "
          f"{sum(g.size for n, g in model.grads.items() if n.startswith('encoder.'))} parameters")
    print(f"{'estimator':<50} {'total variance':>15} {'|mean|^2':>11} {'signal/noise':>13} {'var / var B':>12}")
    base = spreads["B"].total_variance
    for name in ESTIMATORS:
        spread = spreads[name]
        print(f"{name + '  ' + DESCRIPTIONS[name]:<50} {spread.total_variance:>15.4g} {spread.signal:>11.4g} "
              f"{spread.signal_to_noise:>13.3g} {spread.total_variance / base:>12.3g}")
    for name in ("A", "score"):
        gap = np.linalg.norm(spreads[name].mean - spreads["B"].mean)
        standard_error = np.sqrt((spreads[name].total_variance + base) / args.draws)
        print(f"mean of {name} - mean of B: norm {gap:.4g}, against the {standard_error:.4g} its draws allow "
              "(both unbiased: same mean)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(variance_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
