"""``python -m numpyvae.explain``: the legend, the walk, planted bugs; and the sub-commands beside it.

    python -m numpyvae.explain                      the forward pass as a legend, then every backward stage
    python -m numpyvae.explain --bug tanh           the same with a planted bug, and where the check catches it
    python -m numpyvae.explain worked               the two-pixel, one-latent example with a number at every node
    python -m numpyvae.explain graph --out F.png    draw the computation graph (docs/images/graph.png)
    python -m numpyvae.explain variance CHECKPOINT  gradient variance of estimators A and B (and the score function)
    python -m numpyvae.explain bounds CHECKPOINT    -ELBO and IWAE bounds on the same images, paired differences
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ...cli import Parser, given_flags, run
from ...errors import UsageError
from .bugs import BUGS, planted, where_it_fails
from .trace import STEP, TOLERANCE, explain

SUBCOMMANDS = ("worked", "graph", "variance", "bounds")


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.explain",
                    description="Print a tiny VAE's forward pass as a legend, then walk its backward pass stage by "
                                "stage: each gradient's equation, shape, norm and numerical-check error. "
                                "Sub-commands: 'worked' (a network small enough to do by hand), 'graph' (draw the "
                                "computation graph), 'variance CHECKPOINT' (the gradient estimators' variance), "
                                "'bounds CHECKPOINT' (-ELBO and IWAE bounds compared image by image); "
                                "each has its own --help.")
    parser.add_argument("--batch", type=int, default=4, help="images in the batch (random pixels)")
    parser.add_argument("--pixels", type=int, default=64, help="pixels per image (an 8x8 image by default: "
                        "every weight is checked numerically, so keep it small)")
    parser.add_argument("--hidden", type=int, default=16, help="width of both hidden layers")
    parser.add_argument("--latent", type=int, default=3, help="size of the latent code")
    parser.add_argument("--no-dropout", action="store_true", help="turn dropout off (keep probability 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the batch and the noise")
    parser.add_argument("--classes", type=int, default=0,
                        help="make it the conditional VAE with this many classes (0: unconditional)")
    parser.add_argument("--objective", choices=("elbo", "iwae"), default="elbo",
                        help="the loss: the -ELBO, or the IWAE bound with --k samples per image")
    parser.add_argument("--k", type=int, default=3, help="IWAE samples per image K (with --objective iwae)")
    parser.add_argument("--bug", choices=sorted(BUGS), default=None,
                        help="plant a named bug in one backward step for this run only, and show where the "
                             "numerical check first fails")
    return parser


def explain_command(args: argparse.Namespace) -> int:
    for flag in ("batch", "pixels", "hidden", "latent", "k"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.classes < 0:
        raise UsageError(f"--classes must be 0 (unconditional) or more, got {args.classes}")
    if args.objective != "iwae" and "k" in args.given:
        raise UsageError("--k counts IWAE samples: it needs --objective iwae")
    with planted(args.bug) as bug:
        loss, rows, traced = explain(batch=args.batch, pixels=args.pixels, hidden=args.hidden, latent=args.latent,
                                     dropout=not args.no_dropout, seed=args.seed, classes=args.classes,
                                     objective=args.objective, k=args.k if args.objective == "iwae" else 1)
    model = "the conditional VAE, " if args.classes else ""
    model += f"the IWAE loss with K = {args.k}, " if args.objective == "iwae" else ""
    print(f"forward pass of {model or 'the VAE, '}B = {args.batch} random images of P = {args.pixels} pixels, "
          f"hidden width {args.hidden}, latent size J = {args.latent}, float64")
    for line in traced.legend():
        print("  " + line)
    print(f"loss L = {loss:.6f}")
    if bug is not None:
        print(f"planted bug '{bug.name}': {bug.wrong_line}\n  (right: {bug.right_line})")
    print("backward, from the loss down; dN means dL/dN, the gradient of the loss with respect to node N")
    print("(rel. error = ||a - n|| / (||a|| + ||n||), a by hand, n by central differences of the loss)")
    width = max(len(stage.equation) for stage, _ in rows)
    print(f"{'gradient wrt':<21} {'equation':<{width}} {'shape':>6} {'norm':>9} {'rel. error':>10}")
    failing = []
    for stage, error in rows:
        if not error < TOLERANCE:
            failing.append(stage.name)
        shape = "x".join(map(str, stage.gradient.shape))
        print(f"{stage.name:<21} {stage.equation:<{width}} {shape:>6} {np.linalg.norm(stage.gradient):>9.4g} "
              f"{error:>10.1e}{'' if error < TOLERANCE else '  FAIL'}")
    if not failing:
        print("every gradient agrees with its numerical check" + (" (the planted bug was not caught)" if bug else ""))
        return 0
    if bug is not None:
        print(where_it_fails([stage.name for stage, _ in rows], [not error < TOLERANCE for _, error in rows]))
    else:
        print(f"some gradients are off by more than {TOLERANCE} (an ELU input within {2 * STEP:g} of 0 makes the "
              "numerical gradient cross its kink: try another --seed)")
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        from importlib import import_module
        return import_module(f".{argv[0]}", __package__).main(argv[1:])
    parser = build_parser()
    parser.set_defaults(given=given_flags(build_parser(), argv))
    return run(explain_command, parser, argv)
