"""Comparing bounds on the same images: ``python -m numpyvae.explain bounds CHECKPOINT --k 1 10 100``.

The -ELBO and the IWAE bound for each K are computed image by image on the same test images, and each
comparison is made pair by pair: the mean over the images of the per-image difference, with the standard
error of that mean, sd(differences) / sqrt(N). Images differ far more from each other (a 1 is cheaper to
encode than an 8) than two bounds differ on one image, so the paired standard error is much smaller than
the two bounds' own standard errors combined, which the table shows beside it.

The IWAE bound is below the -ELBO in expectation over the noise, not image by image: with a finite number
of draws, an image's IWAE estimate can come out above its one-draw -ELBO estimate. The last column counts
how often that happened.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ...cli import (
    SEED,
    Parser,
    add_checkpoint_arguments,
    add_k_argument,
    checked,
    k_list,
    load_checkpoint_and_data,
    run_command,
)
from ...config import at_least
from ...errors import UsageError
from ...evaluation.bounds import elbo_terms, iwae_bound, mean_and_stderr


def paired(first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """mean(second - first), its paired standard error, and the unpaired one (as if the images were different)."""
    mean, paired_error = mean_and_stderr(second - first)
    unpaired_error = math.hypot(mean_and_stderr(first)[1], mean_and_stderr(second)[1])
    return mean, paired_error, unpaired_error


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.explain bounds",
                    description="The -ELBO and IWAE bounds of a trained model on the same test images, compared "
                                "pair by pair (mean difference and its standard error).")
    add_checkpoint_arguments(parser)
    add_k_argument(parser, [1, 10, 100], "the IWAE sample counts K, as evaluate takes them: 1,10,100 or 1 10 100 "
                                         "(default: 1 10 100)")
    parser.add_argument("--images", type=checked(int, at_least(2)), default=500, help="test images (the first ones)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the noise")
    return parser


def bounds_command(args: argparse.Namespace) -> int:
    args.k = k_list(args)
    if min(args.k) < 1:
        raise UsageError(f"every --k must be at least 1, got {','.join(map(str, args.k))}")
    model, _, dataset = load_checkpoint_and_data(args)
    if not model.variational:
        raise UsageError("the checkpoint is a plain autoencoder: it has no posterior, so no IWAE bound")
    images = dataset.test_images[:args.images]
    labels = None if dataset.test_labels is None else model.labels_for(dataset.test_labels[:args.images])
    log_likelihood, kl = elbo_terms(model, images, seed=args.seed, labels=labels)
    negative_elbo = kl - log_likelihood
    mean, error = mean_and_stderr(negative_elbo)
    print(f"{len(images)} test images, each bound computed on every one of them (nats)")
    print(f"{'bound':<14} {'mean':>9} {'s.e.':>6}   {'minus -ELBO, paired':>21} {'unpaired s.e.':>14} "
          f"{'images above -ELBO':>19}")
    print(f"{'-ELBO':<14} {mean:>9.3f} {error:>6.3f}")
    bounds = {}
    for k in sorted(set(args.k)):
        bound = bounds[k] = iwae_bound(model, images, k=k, seed=args.seed + 1, labels=labels)
        mean, error = mean_and_stderr(bound)
        difference, paired_error, unpaired_error = paired(negative_elbo, bound)
        above = int(np.sum(bound > negative_elbo))
        print(f"{f'IWAE K = {k}':<14} {mean:>9.3f} {error:>6.3f}   {difference:>+12.3f} +- {paired_error:<6.3f} "
              f"{unpaired_error:>14.3f} {above:>10} of {len(images)}")
    ks = sorted(bounds)
    for smaller, larger in zip(ks[:-1], ks[1:], strict=True):
        difference, paired_error, unpaired_error = paired(bounds[smaller], bounds[larger])
        print(f"IWAE K = {larger} minus K = {smaller}: {difference:+.3f} +- {paired_error:.3f} paired "
              f"(+- {unpaired_error:.3f} if the images were not the same)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(bounds_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
