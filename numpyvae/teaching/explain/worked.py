"""A VAE small enough to do by hand: ``python -m numpyvae.explain worked``.

Two pixels, one hidden unit in each network, one latent dimension, one image, no dropout, round weights:

    x = (1, 0)       W_enc1 = (0.5, -0.5)^T   W_mu = 1   W_sigma = -1   W_dec1 = 1   W_dec2 = (2, -2)
    eps = 0.5        every bias 0

It is the package's own VAE (``VAE(2, (1,), 1, keep_prob=1)``) with those weights, shown through the same
legend and the same observed ``VAE.backward`` as ``python -m numpyvae.explain``, printing the numbers instead
of their norms, with the sums at the two meeting points written out term by term. Every gradient is checked
numerically.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ...cli import Parser, run_command
from ...models.vae import VAE
from .trace import TOLERANCE, Stage, TracedVAE, numerical_check

WEIGHTS = {"encoder.fc1.weight": [[0.5], [-0.5]], "encoder.mean.weight": [[1.0]], "encoder.std.weight": [[-1.0]],
           "decoder.fc1.weight": [[1.0]], "decoder.output.weight": [[2.0, -2.0]]}
X, EPS = [[1.0, 0.0]], [[0.5]]


def worked_model() -> TracedVAE:
    """The two-pixel, one-latent VAE with the round weights above, traced (not yet run)."""
    model = VAE(2, (1,), 1, keep_prob=1.0, seed=0, dtype=np.float64)
    for name, array in model.params.items():
        array[...] = WEIGHTS.get(name, 0.0)
    return TracedVAE(model, np.array(X), np.array(EPS), training=True)


def numbers(array: np.ndarray) -> str:
    flat = np.ravel(array)
    return f"{flat[0]:.4f}" if flat.size == 1 else "(" + ", ".join(f"{v:.4f}" for v in flat) + ")"


def worked_example() -> tuple[TracedVAE, float, list[tuple[Stage, float]]]:
    """The trace, its loss, and every backward stage with its numerical-check error."""
    traced = worked_model()
    loss, stages = traced.run()
    return traced, loss, [(stage, numerical_check(traced, stage, 1e-4)) for stage in stages]


def sums_written_out(traced: TracedVAE, gradients: dict[str, np.ndarray]) -> dict[str, str]:
    """The two meeting points, term by term: z's gradient reaching mu and sigma, and the two heads meeting at h."""
    v, p = traced.values, traced.model.params
    dz, eps = gradients["z"].item(), traced.eps.item()
    mu, sigma = v["mu"].item(), v["sigma"].item()
    kl_sigma = sigma - sigma / (1e-8 + sigma * sigma)
    dmu, da_sigma = gradients["mu"].item(), gradients["a_sigma"].item()
    w_mu, w_sigma = p["encoder.mean.weight"].item(), p["encoder.std.weight"].item()
    return {"mu": f"= {dz:.4f} + {mu:.4f}",
            "sigma": f"= {dz:.4f} * {eps:g} + ({kl_sigma:.4f})",
            "h": f"= {dmu:.4f} * {w_mu:g} + ({da_sigma:.4f}) * ({w_sigma:g})"}


def build_parser() -> Parser:
    return Parser(prog="python -m numpyvae.explain worked",
                  description="The two-pixel, one-latent VAE of docs/elbo_backprop.md with a number at every node, "
                              "forward and backward, each gradient checked numerically.")


def worked_command(args: argparse.Namespace) -> int:
    traced, loss, rows = worked_example()
    print("forward (one image, B = 1; no dropout; every bias 0)")
    print(f"  {'x':<8} {'the image':<49} {numbers(traced.x)}")
    for step in traced.steps:
        formula = step.formula.replace(" * m / rho", "  (rho = 1: no dropout)")
        print(f"  {step.name:<8} = {formula:<47} {numbers(traced.values[step.name])}")
    model = traced.model
    print(f"  {'xhat':<8} = {'sigmoid(logits)':<47} {numbers(1 / (1 + np.exp(-traced.values['logits'])))}")
    log_p = model.reconstruction.forward(traced.values["logits"], traced.x).item()
    print(f"  {'log p':<8} = {'sum of x log xhat + (1 - x) log(1 - xhat)':<47} {log_p:.4f}")
    print(f"  {'KL':<8} = {'0.5 (sigma^2 + mu^2 - log(1e-8 + sigma^2) - 1)':<47} "
          f"{model.kl.forward(traced.values['mu'], traced.values['sigma']).item():.4f}")
    print(f"  {'L':<8} = {'KL - log p':<47} {loss:.4f}")
    print("backward (dN = dL/dN; with B = 1 there is no 1/B; weights read from the forward table)")
    gradients = {stage.name: stage.gradient for stage, _ in rows}
    written = sums_written_out(traced, gradients)
    failed = False
    for stage, error in rows:
        failed |= not error < TOLERANCE
        equation = stage.equation.replace(" / B", "").replace("(the two heads' paths add)", "").rstrip()
        equation = equation.replace(" * m / rho", "  (no dropout)")
        print(f"  {stage.name:<21} {equation:<62} {numbers(stage.gradient):>18}  check {error:.0e}"
              f"{'' if error < TOLERANCE else '  FAIL'}")
        if stage.name in written:
            print(f"  {'':<21} {written[stage.name]:<62}   <- gradients add here")
    print("every gradient agrees with its numerical check" if not failed else "some gradients disagree")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    return run_command(worked_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
