"""One IWAE training step beside the plain ELBO step and the decoder's share of it.

    python -m benchmarks.iwae_step                      # K = 1, 5, 10 at batch 128, float32
    python -m benchmarks.iwae_step --k 5 --rounds 5 --steps 30

Contenders (each step is loss + backward + plain SGD update, dropout on, the seed's 784-500-500-20 model):

    plain      the seed's ELBO step
    decoder    the decoder's share of that step alone: the decoder's forward pass on B rows (with dropout),
               the Bernoulli log-likelihood forward and backward, the decoder's backward pass
    iwae-K     the IWAE step with K samples per image: the K*B latent rows go through the decoder as one batch

The table sets the IWAE step beside the plain step and beside what K separate decoder passes would add to it,
plain + (K - 1) x decoder: below 1 in the last column, one batched pass beats K passes of B rows.

Each contender runs alone in a process of its own (no thread of another contender competes with it, and
BLAS's spinning threads die with the process), rounds alternating, each process timing ``--steps`` steps after
a warm-up: the harness of benchmarks.step and numpyvae.doctor (numpyvae.kernels.timing). A round's figure is
the median of its steps; the table gives the median over the rounds and half the interquartile range of the
round medians, in milliseconds.
"""

from __future__ import annotations

import numpyvae  # noqa: F401  first, before NumPy loads: numpyvae chooses OpenBLAS's kernels (numpyvae.kernels)

# isort: split
import argparse
import json
import sys

import numpy as np

from numpyvae import kernels
from numpyvae.cli import Parser
from numpyvae.errors import UsageError
from numpyvae.kernels.timing import measure_rounds, median_and_spread, run_json, time_steps
from numpyvae.models.vae import VAE
from numpyvae.nn.optim import SGD
from numpyvae.training.checkup import sample_images, seed_step

LR = 0.001
WARMUP = 5


def make_step(name: str, batch_size: int):
    """The callable that runs one step of contender ``name`` ("plain", "decoder" or "iwae-K"); its model is
    left on it as ``.model``."""
    x = sample_images(batch_size)
    if name == "decoder":
        model = VAE()
        z = model.rng.standard_normal((batch_size, model.config["latent_dim"]), dtype=np.float32)

        def decoder_share() -> None:
            logits = model.decoder.forward(z, True)
            model.reconstruction.forward(logits, x)
            model.decoder.backward(model.reconstruction.backward(-1 / batch_size))
        decoder_share.model = model
        return decoder_share
    if name == "plain":
        return seed_step(batch_size)
    model = VAE(objective="iwae", k=int(name.split("-")[1]))
    optimizer = SGD(model.params, lr=LR)

    def training_step() -> None:
        model.loss(x)
        model.backward()
        optimizer.step(model.grads)
    training_step.model = model
    return training_step


def worker(name: str, batch_size: int, steps: int) -> list[float]:
    """Milliseconds of each of ``steps`` timed steps of one contender, after a warm-up."""
    return time_steps(make_step(name, batch_size), steps, WARMUP)["step_ms"]


def run_worker(name: str, batch_size: int, steps: int) -> list[float]:
    """``worker`` in a fresh Python process: each contender alone with the cores."""
    command = [sys.executable, "-m", "benchmarks.iwae_step", "--worker", name, "--batch", str(batch_size),
               "--steps", str(steps)]
    return run_json(command)["step_ms"]


def measure(names: list[str], batch_size: int, rounds: int, steps: int) -> dict[str, list[float]]:
    """Each contender's round medians (ms): every contender once per round, rounds alternating."""
    return measure_rounds(names, rounds, lambda name: float(np.median(run_worker(name, batch_size, steps))),
                          desc=f"batch {batch_size}")


def table(times: dict[str, list[float]], ks: list[int], batch_size: int) -> str:
    plain, plain_spread = median_and_spread(times["plain"])
    decoder, decoder_spread = median_and_spread(times["decoder"])
    lines = [f"batch {batch_size}, float32; plain ELBO step {plain:.1f} ± {plain_spread:.1f} ms, its decoder share "
             f"{decoder:.1f} ± {decoder_spread:.1f} ms ({decoder / plain:.0%})",
             "| K | IWAE step (ms) | K x decoder (ms) | plain + (K-1) x decoder (ms) | IWAE / plain "
             "| IWAE / (plain + (K-1) x decoder) |",
             "|---|---|---|---|---|---|"]
    for k in ks:
        iwae, spread = median_and_spread(times[f"iwae-{k}"])
        separate = plain + (k - 1) * decoder
        lines.append(f"| {k} | {iwae:.1f} ± {spread:.1f} | {k * decoder:.1f} | {separate:.1f} | {iwae / plain:.2f} "
                     f"| {iwae / separate:.2f} |")
    return "\n".join(lines)


def machine_note() -> str:
    return f"CPU: {kernels.cpu_description()}, {kernels.usable_cores()} cores; {kernels.summary_line()}"


def build_parser() -> Parser:
    parser = Parser(prog="python -m benchmarks.iwae_step", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 10], help="samples per image (default: 1 5 10)")
    parser.add_argument("--batch", type=int, default=128, help="images per step (default: 128)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each contender once per round (default: 5)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per contender per round (default: 20)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.k) < 1 or args.batch < 1 or args.rounds < 1 or args.steps < 1:
        parser.error("--k, --batch, --rounds and --steps must be at least 1")
    if args.worker is not None:
        if args.worker not in ("plain", "decoder") and not args.worker.startswith("iwae-"):
            raise UsageError(f"unknown contender {args.worker}")
        print(json.dumps({"step_ms": worker(args.worker, args.batch, args.steps)}, allow_nan=False))
        return 0
    names = ["plain", "decoder", *[f"iwae-{k}" for k in args.k]]
    times = measure(names, args.batch, args.rounds, args.steps)
    print(table(times, args.k, args.batch))
    print(machine_note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
