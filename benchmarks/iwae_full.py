"""IWAE(k) of a checkpoint over all test images, slice by slice, the running result written after each slice.

    python -m benchmarks.iwae_full CHECKPOINT [--k 5000] [--slice 1000] [--workers 2] [--json out.json]

The same computation as ``python -m numpyvae.evaluate CHECKPOINT --k 5000 --workers 2`` (the checkpoint's
binarization, the fixed test draw, ``iwae_bound_parallel``), but slice s of the images draws from
``default_rng([s, batch])``, and the JSON holds the bound over the images done so far: on a busy machine a
partial result survives a deadline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from numpyvae.data import load_dataset
from numpyvae.data.binarization import TEST_DRAW_SEED, fixed_binarization
from numpyvae.evaluation.bounds import ROWS_PER_CHUNK, mean_and_stderr
from numpyvae.evaluation.lean_iwae import iwae_bound_parallel
from numpyvae.formats.modelfile import load_model_and_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--slice", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    model, checkpoint = load_model_and_record(args.checkpoint)
    how = checkpoint.config.get("run", {}).get("binarize", "none")
    dataset = load_dataset(checkpoint.config.get("run", {}).get("dataset", "mnist"), args.data_dir, progress=False)
    images = fixed_binarization(dataset.test_images, how, seed=TEST_DRAW_SEED)
    out = Path(args.json or Path(args.checkpoint).parent / f"iwae{args.k}_full.json")
    bounds: list[np.ndarray] = []
    started = time.perf_counter()
    for index, first in enumerate(range(0, len(images), args.slice)):
        bounds.append(iwae_bound_parallel(model, images[first:first + args.slice], k=args.k, seed=index,
                                          workers=args.workers, rows=ROWS_PER_CHUNK))
        done = np.concatenate(bounds)
        mean, stderr = mean_and_stderr(done)
        seconds = time.perf_counter() - started
        with open("/proc/loadavg") as file:
            load = file.read().split()[:3]
        result = {"checkpoint": args.checkpoint, "binarization": how, "binarization_seed": TEST_DRAW_SEED,
                  "k": args.k, "images": len(done), "of": len(images), "iwae": mean, "iwae_stderr": stderr,
                  "seconds": seconds, "images_per_second": len(done) / seconds, "workers": args.workers,
                  "loadavg": load}
        out.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
        print(f"{len(done)} images: IWAE(k={args.k}) {mean:.3f} ± {stderr:.3f}; {seconds:.0f} s; load {load[0]}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
