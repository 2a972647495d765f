"""``python -m numpyvae.visualize CHECKPOINT``: the pictures of numpyvae.pictures for a trained model;
``python -m numpyvae.visualize time RUN [RUN ...]``: runs' test -ELBO against minutes of training."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import SEED, Parser, add_checkpoint_arguments, checked, load_checkpoint_and_data, parsed, run_command
from .config import between
from .formats.atomic import prepare_folder
from .pictures import SIDES, ReferencePoint, metrics_file, plot_against_time, write_all

MAX_PAIRS = 1000  # a picture of at most 10,000 digits (interpolations.png: ten a pair)


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.visualize",
                    description="Draw a trained model: loss curves, reconstructions, prior samples, "
                                "interpolations and, for a 2-D latent space, its manifold and the test set in it.",
                    epilog="python -m numpyvae.visualize time RUN [RUN ...] draws runs' test -ELBO against minutes "
                           "of training instead (see its --help); a checkpoint file named time is ./time here.")
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


def build_time_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.visualize time",
                    description="Draw runs' test -ELBO (or other loss columns of metrics.csv) against minutes of "
                                "training, the wall_seconds column: the training loop's wall-clock time over every "
                                "session of a resumed run, without the reports. A run whose folder holds an "
                                "evaluation.json with an IWAE bound (train.py --eval-k) gets a diamond at its end, "
                                "at that bound. Published results can stand beside them as dashed levels.")
    parser.add_argument("runs", nargs="+", type=parsed(metrics_file), metavar="RUN",
                        help="a run's folder (its metrics.csv is read) or a metrics.csv file")
    parser.add_argument("--label", action="append", default=None, metavar="NAME",
                        help="the legend's name of a run, once per RUN in their order (default: each run's folder "
                             "name)")
    parser.add_argument("--column", action="append", default=None, metavar="NAME",
                        help="a metrics.csv column to draw, repeatable: test_loss (the test -ELBO, the default), "
                             "validation_loss, train_loss, test_reconstruction, test_kl, or an IWAE column where "
                             "a file logs one")
    parser.add_argument("--point", action="append", type=parsed(ReferencePoint.parse), default=None,
                        metavar="LABEL=NATS",
                        help="a published result drawn as a dashed level, repeatable: its label names it and its "
                             "training length, e.g. --point 'Burda et al. 1-layer VAE, 3,280 epochs=86.76'")
    parser.add_argument("--out", default="wall_clock.png", help="the PNG to write")
    parser.add_argument("--size", nargs=2, type=checked(int, between(*SIDES)), default=[800, 500],
                        metavar=("WIDTH", "HEIGHT"),
                        help=f"the picture's width and height in pixels, each {SIDES[0]} to {SIDES[1]} "
                             "(default: 800 500)")
    return parser


def run_labels(parser: Parser, args: argparse.Namespace) -> dict[str, Path]:
    """The legend's label of each run -> its metrics.csv, the labels given or the runs' folder names (the paths
    as given where two folders share a name)."""
    if args.label is not None and len(args.label) != len(args.runs):
        parser.error(f"--label is given {len(args.label)} times for {len(args.runs)} runs; give it once per run "
                     "or not at all")
    labels = args.label or [path.resolve().parent.name for path in args.runs]
    if len(set(labels)) < len(labels):
        if args.label:
            parser.error("two runs have the same --label; the legend could not tell them apart")
        labels = [str(path.parent) for path in args.runs]
    if len(set(labels)) < len(labels):
        parser.error("a run is given twice")
    return dict(zip(labels, args.runs, strict=True))


def time_command(args: argparse.Namespace, parser: Parser) -> int:
    runs = run_labels(parser, args)
    out = Path(args.out)
    prepare_folder(out.parent, "--out's folder")
    plot_against_time(runs, out, columns=tuple(args.column or ("test_loss",)), points=tuple(args.point or ()),
                      size=tuple(args.size))
    print(out)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["time"]:
        parser = build_time_parser()
        return run_command(lambda args: time_command(args, parser), parser, argv[1:])
    return run_command(visualize_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
