"""The IWAE pass at k = 5000: the lean one, and the products alone.

    python -m benchmarks.iwae_speed [--images 20] [--rounds 3]

Each contender runs alone in its own process with a one-thread BLAS (as each ``--workers`` process does),
rounds alternating, on the seed's 784-500-500-20 model and binarized images. It reports CPU seconds per image,
which a shared machine inflates less than wall time, and what they make for 10,000 images on two cores
(two workers, each one core: CPU per image x 10,000 / 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CONTENDERS = ("lean", "products")


def measure(name: str, images: int, k: int) -> dict:
    from numpyvae.evaluation import bounds as ev
    from numpyvae.evaluation.lean_iwae import iwae_log_mean_weight
    from numpyvae.models.vae import VAE
    model = VAE(seed=1)
    x = (np.random.default_rng(0).random((images, 784)) < 0.13).astype(np.float32)
    rng = np.random.default_rng(3)
    layers = [model.dense_layers[name] for name in ("decoder.fc1", "decoder.fc2", "decoder.output")]
    cpu, wall = time.process_time(), time.perf_counter()
    if name == "lean":
        iwae_log_mean_weight(model, x, k, rng, ev.ROWS_PER_CHUNK)
    else:  # the three decoder products of the same rows, nothing else
        rows = ev.ROWS_PER_CHUNK
        h = np.ones((rows, 20), np.float32)
        for _ in range(images * k // rows):
            out = h
            for layer in layers:
                out = out @ layer.params["weight"]
    return {"name": name, "cpu_per_image": (time.process_time() - cpu) / images,
            "wall_per_image": (time.perf_counter() - wall) / images}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.images, args.k)))
        return 0
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    results: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _ in range(args.rounds):
        for name in CONTENDERS:
            output = subprocess.run([sys.executable, "-m", "benchmarks.iwae_speed", "--one", name, "--images",
                                     str(args.images), "--k", str(args.k)], env=env, check=True, capture_output=True,
                                    text=True).stdout
            results[name].append(json.loads(output)["cpu_per_image"])
    with open("/proc/loadavg") as file:
        load = file.read().split()[0]
    print(f"k = {args.k}, {args.images} images per run, {args.rounds} rounds, one BLAS thread, load {load}")
    print(f"{'contender':<10} {'CPU ms/image (median)':>22} {'10,000 images on 2 cores':>26}")
    for name, values in results.items():
        median = float(np.median(values))
        print(f"{name:<10} {1000 * median:>22.1f} {median * 10_000 / 2 / 60:>22.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
