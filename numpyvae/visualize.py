"""``python -m numpyvae.visualize CHECKPOINT``: the pictures of numpyvae.pictures for a trained model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import SEED, Parser, add_checkpoint_arguments, checked, load_checkpoint_and_data, run_command
from .config import between
from .formats.atomic import prepare_folder
from .pictures import write_all

MAX_PAIRS = 1000  # a picture of at most 10,000 digits (interpolations.png: ten a pair)


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.visualize",
                    description="Draw a trained model: loss curves, reconstructions, prior samples, "
                                "interpolations and, for a 2-D latent space, its manifold and the test set in it.")
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", default=None, help="folder for the PNGs (default: the checkpoint's folder)")
    parser.add_argument("--metrics", default=None, help="metrics.csv to plot (default: the one beside the "
                        "checkpoint; skipped when there is none)")
    parser.add_argument("--pairs", type=checked(int, between(1, MAX_PAIRS)), default=8,
                        help=f"test images shown with their reconstructions, and pairs interpolated (at most "
                             f"{MAX_PAIRS}: {10 * MAX_PAIRS:,} digits in interpolations.png)")
    parser.add_argument("--seed", type=SEED, default=0, help="which test images and prior draws")
    return parser


def visualize_command(args: argparse.Namespace) -> int:
    folder = Path(args.checkpoint).parent
    out = prepare_folder(args.out or folder, "--out")  # before any work: a bad folder fails at once
    model, _, dataset = load_checkpoint_and_data(args)
    metrics = Path(args.metrics) if args.metrics else folder / "metrics.csv"
    if not metrics.is_file():
        print(f"note: no {metrics}; skipping the loss curves", file=sys.stderr)
    for path in write_all(model, dataset, out, metrics, seed=args.seed, pairs=args.pairs):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(visualize_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
