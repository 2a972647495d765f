"""One training step of the new models beside the seed VAE's, and their lean IWAE(k) pass, side by side.

    python -m benchmarks.hierarchical_step                   # Adam steps at batch 100, float32, 5 rounds
    python -m benchmarks.hierarchical_step --threads 1       # one BLAS thread per worker (steadier on a busy machine)
    python -m benchmarks.hierarchical_step --iwae --k 5000   # the lean IWAE pass, images per second, one process

A step is loss + backward + Adam update, dropout as each model has it, on binarized MNIST-like inputs
(``benchmarks.step.sample_images``). Every contender runs alone in a fresh process per round, the order
reversed every other round; a round's figure is the median of its steps, the table the median over rounds and
the ratio to the seed VAE's step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.step import sample_images
from numpyvae.cli import Parser
from numpyvae.models.hierarchical import HierarchicalVAE
from numpyvae.models.vae import VAE
from numpyvae.nn.optim import Adam

REPO = Path(__file__).resolve().parent.parent
CONTENDERS = {
    "seed VAE 500-500-20 ELBO": ("vae", dict()),
    "seed VAE + VampPrior M=500": ("h", dict(latent_dims=(20,), hidden_dims=[[500, 500]], activations=None,
                                             keep_prob=0.9, prior="vampprior", components=500)),
    "two layers ELBO": ("h", dict()),
    "two layers IWAE k=5": ("h", dict(objective="iwae", k=5)),
    "two layers + VampPrior M=500": ("h", dict(prior="vampprior", components=500)),
    "two layers + VampPrior IWAE k=5": ("h", dict(prior="vampprior", components=500, objective="iwae", k=5)),
}


def build(name: str):
    kind, options = CONTENDERS[name]
    return VAE(seed=0) if kind == "vae" else HierarchicalVAE(seed=0, **options)


def worker(name: str, batch: int, steps: int) -> list[float]:
    model = build(name)
    x = (sample_images(batch, np.float32) > 0.5).astype(np.float32)
    optimizer = Adam(model.params, lr=1e-3)
    times = []
    for step in range(steps + 5):
        started = time.perf_counter()
        model.loss(x)
        model.backward()
        optimizer.step(model.grads)
        if step >= 5:  # a warm-up of five steps
            times.append(time.perf_counter() - started)
    return times


def iwae_worker(name: str, images: int, k: int) -> float:
    from numpyvae.evaluation.lean_hierarchical import hierarchical_log_mean_weight
    from numpyvae.evaluation.lean_iwae import iwae_log_mean_weight

    model = build(name)
    x = (sample_images(images, np.float32) > 0.5).astype(np.float32)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for first in range(0, images, 100):
        part = x[first:first + 100]
        if isinstance(model, VAE):
            iwae_log_mean_weight(model, part, k, rng, 2000)
        else:
            hierarchical_log_mean_weight(model, part, k, rng, 2000)
    return images / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks.hierarchical_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=100, help="images per step")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per process")
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per contender")
    parser.add_argument("--iwae", action="store_true", help="time the lean IWAE pass instead of training steps")
    parser.add_argument("--k", type=int, default=5000, help="importance samples of the IWAE pass")
    parser.add_argument("--images", type=int, default=100, help="images of the IWAE pass")
    parser.add_argument("--threads", type=int, help="OPENBLAS_NUM_THREADS of every worker (default: as set)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = iwae_worker(args.worker, args.images, args.k) if args.iwae else worker(args.worker, args.batch,
                                                                                        args.steps)
        print(json.dumps(result))
        return 0
    names = list(CONTENDERS)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if args.threads:
        env["OPENBLAS_NUM_THREADS"] = str(args.threads)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(args.rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            command = [sys.executable, "-m", "benchmarks.hierarchical_step", "--worker", name, "--batch",
                       str(args.batch), "--steps", str(args.steps), "--k", str(args.k), "--images", str(args.images)]
            output = subprocess.run(command + (["--iwae"] if args.iwae else []), capture_output=True, text=True,
                                    check=True, cwd=REPO, env=env).stdout
            result = json.loads(output)
            figures[name].append(result if args.iwae else float(np.median(result)))
    base = np.median(figures[names[0]])
    unit = "images/s" if args.iwae else "ms/step"
    print(f"{'model':<34} {unit:>10} {'spread':>8} {'ratio':>7}")
    for name in names:
        values = np.array(figures[name]) * (1 if args.iwae else 1000)
        median, spread = np.median(values), (np.percentile(values, 75) - np.percentile(values, 25)) / 2
        ratio = np.median(figures[name]) / base
        print(f"{name:<34} {median:>10.2f} {spread:>8.2f} {ratio:>7.2f}")
    print(f"load: {os.getloadavg()[0]:.2f} (1-minute average at the end); "
          f"OPENBLAS_NUM_THREADS={env.get('OPENBLAS_NUM_THREADS', 'unset')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
