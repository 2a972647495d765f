"""``python -m numpyvae.evaluate CHECKPOINT``: -ELBO, IWAE bounds and active units (numpyvae.evaluation)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import (
    COUNT,
    SEED,
    Parser,
    add_checkpoint_arguments,
    add_k_argument,
    k_list,
    load_checkpoint_and_data,
    run_command,
)
from .data.binarization import BINARIZATIONS, TEST_DRAW_SEED, fixed_binarization
from .errors import UsageError
from .evaluation.bounds import evaluate, format_table, iwae_ladder
from .formats.atomic import check_file_destination, write_json
from .resources import check_processes


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.evaluate",
                    description="Test -ELBO with its terms, the IWAE bound on -log p(x), and active units "
                                "of a trained checkpoint.")
    add_checkpoint_arguments(parser)
    add_k_argument(parser, [100], "importance samples per image K for IWAE (0 skips it); several, increasing, "
                   "e.g. 1,100,5000 or 1 100 5000: each bound on the same images and the paired differences "
                   "between consecutive K with their standard errors (default: 100)")
    parser.add_argument("--iwae-images", type=COUNT, default=None,
                        help="use only the first this many images for IWAE (default: all)")
    parser.add_argument("--binarize", choices=BINARIZATIONS, default=None,
                        help="none: grey levels (the seed's); static: pixel > 0.5; dynamic: one fixed "
                             f"Bernoulli(pixel) draw of the images (seed {TEST_DRAW_SEED}) (default: the "
                             "checkpoint's training binarization)")
    parser.add_argument("--workers", type=COUNT, default=1,
                        help="processes for the IWAE pass (2 on a 2-core machine keeps both cores busy)")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="which images")
    parser.add_argument("--batch-size", type=COUNT, default=100, help="images per IWAE batch")
    parser.add_argument("--seed", type=SEED, default=0, help="seed of the evaluation's own generator")
    parser.add_argument("--json", default=None, help="write the results here (default: evaluation.json beside "
                        "the checkpoint)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def evaluate_command(args: argparse.Namespace) -> int:
    check_processes(args.workers, "--workers")
    ks = k_list(args)
    if len(ks) > 1 and (min(ks) < 1 or any(a >= b for a, b in zip(ks[:-1], ks[1:], strict=True))):
        raise UsageError(f"several --k must be increasing and at least 1, got {','.join(map(str, ks))}")
    destination = Path(args.json) if args.json else Path(args.checkpoint).parent / "evaluation.json"
    check_file_destination(destination, "--json")  # before the work, not after minutes of IWAE
    model, checkpoint, dataset = load_checkpoint_and_data(args, progress=not args.no_progress)
    if len(ks) > 1 and not model.variational:
        raise UsageError("the plain autoencoder (--model ae) has no posterior: IWAE needs a VAE")
    images = dataset.test_images if args.split == "test" else dataset.train_images
    labels = dataset.test_labels if args.split == "test" else dataset.train_labels
    labels = model.labels_for(labels)
    how = args.binarize or checkpoint.config.get("run", {}).get("binarize", "none")
    # binarized once, so the -ELBO and IWAE passes, and every evaluation, see the same images
    images = fixed_binarization(images, how, seed=TEST_DRAW_SEED)
    results = evaluate(model, images, k=ks[0] if len(ks) == 1 else 0, iwae_images=args.iwae_images,
                       batch_size=args.batch_size, seed=args.seed, progress=not args.no_progress, labels=labels,
                       workers=args.workers)
    if len(ks) > 1:
        count = args.iwae_images or len(images)
        results.update(iwae_ladder(model, images[:count], ks, batch_size=args.batch_size, seed=args.seed,
                                   workers=args.workers, progress=not args.no_progress,
                                   labels=None if labels is None else labels[:count]))
    results.update(checkpoint=str(args.checkpoint), dataset=dataset.name, split=args.split, step=checkpoint.step,
                   binarization=how, binarization_source="--binarize" if args.binarize else "the checkpoint")
    if how == "dynamic":
        results["binarization_seed"] = TEST_DRAW_SEED
    print(format_table(results))
    print(f"data: {dataset.name} {args.split} images, binarization {how} (from {results['binarization_source']})"
          + (f", one fixed Bernoulli draw, seed {TEST_DRAW_SEED}" if how == "dynamic" else "")
          + ("; grey levels are not comparable with published binarized-MNIST numbers" if how == "none" else ""))
    write_json(destination, results)
    print(f"written to {destination}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(evaluate_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
