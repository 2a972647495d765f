"""``python -m numpyvae.explain``: the legend, the walk, planted bugs; and the sub-commands beside it.

    python -m numpyvae.explain                      the forward pass as a legend, then every backward stage
    python -m numpyvae.explain --bug tanh           the same with a planted bug, and where the check catches it
    python -m numpyvae.explain --mystery 7          a bug planted without its name: the evidence only
    python -m numpyvae.explain --mystery 7 --guess tanh   is that the one? (exit 0 right, 1 wrong)
    python -m numpyvae.explain worked               the two-pixel, one-latent example with a number at every node
    python -m numpyvae.explain graph --out F.png    draw the computation graph (docs/images/graph.png)
    python -m numpyvae.explain variance CHECKPOINT  gradient variance of estimators A and B (and the score function)
    python -m numpyvae.explain bounds CHECKPOINT    -ELBO and IWAE bounds on the same images, paired differences
"""

from __future__ import annotations

import argparse
import shlex
import sys

import numpy as np

from ...cli import Parser, given_flags, run_command
from ...errors import UsageError
from .bugs import BUGS, planted, where_it_fails
from .mystery import mystery_bug, ratio_evidence
from .trace import STEP, TOLERANCE, explain

SUBCOMMANDS = ("worked", "graph", "variance", "bounds")
NEW_MYSTERY = object()  # --mystery without a seed: draw one (not a string, which argparse would convert)


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
    parser.add_argument("--mystery", type=int, nargs="?", const=NEW_MYSTERY, default=None, metavar="SEED",
                        help="plant a bug chosen by SEED (a new seed, printed, if none is given) without naming "
                             "it: the walk shows the evidence only, the failing rows and the first one's a / n")
    parser.add_argument("--guess", choices=sorted(BUGS), default=None, metavar="NAME",
                        help="with --mystery SEED (and the same network flags): is NAME the bug it planted? "
                             f"Exit 0 if right, 1 if wrong. NAME is one of {', '.join(sorted(BUGS))}")
    return parser


def explain_command(args: argparse.Namespace) -> int:
    for flag in ("batch", "pixels", "hidden", "latent", "k"):
        if getattr(args, flag) < 1:
            raise UsageError(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    if args.classes < 0:
        raise UsageError(f"--classes must be 0 (unconditional) or more, got {args.classes}")
    if args.objective != "iwae" and "k" in args.given:
        raise UsageError("--k counts IWAE samples: it needs --objective iwae")
    if args.mystery is not None and args.bug is not None:
        raise UsageError("--mystery plants a bug it does not name: it takes no --bug")
    if args.guess is not None and args.mystery in (None, NEW_MYSTERY):
        raise UsageError("--guess answers a mystery: give its seed, --mystery SEED --guess NAME")
    if args.mystery not in (None, NEW_MYSTERY) and args.mystery < 0:
        raise UsageError(f"--mystery SEED must be 0 or more, got {args.mystery}")
    options = dict(batch=args.batch, pixels=args.pixels, hidden=args.hidden, latent=args.latent,
                   dropout=not args.no_dropout, seed=args.seed, classes=args.classes, objective=args.objective,
                   k=args.k if args.objective == "iwae" else 1)
    if args.guess is not None:
        return guess_command(args, options)
    if args.mystery is None:
        return walk(args, options, args.bug)
    seed = int(np.random.default_rng().integers(10_000)) if args.mystery == NEW_MYSTERY else args.mystery
    return walk(args, options, mystery_bug(seed, options), mystery=seed)


def walk(args: argparse.Namespace, options: dict, bug_name: str | None, mystery: int | None = None) -> int:
    """The legend, then every row of the backward pass; with a mystery, the evidence instead of the equations."""
    with planted(bug_name) as bug:
        loss, rows, traced = explain(**options)
    model = "the conditional VAE, " if args.classes else ""
    model += f"the IWAE loss with K = {args.k}, " if args.objective == "iwae" else ""
    print(f"forward pass of {model or 'the VAE, '}B = {args.batch} random images of P = {args.pixels} pixels, "
          f"hidden width {args.hidden}, latent size J = {args.latent}, float64")
    for line in traced.legend(derivatives=mystery is None):
        print("  " + line)
    print(f"loss L = {loss:.6f}")
    if mystery is not None:
        print(f"mystery {mystery}: a bug is planted in one step of the backward pass. Which? The rows say where the\n"
              "  numerical check fails, not what the right equation is (docs/elbo_backprop.md derives each)")
    elif bug is not None:
        print(f"planted bug '{bug.name}': {bug.wrong_line}\n  (right: {bug.right_line})")
    print("backward, from the loss down; dN means dL/dN, the gradient of the loss with respect to node N")
    print("(rel. error = ||a - n|| / (||a|| + ||n||), a by hand, n by central differences of the loss)")
    width = 0 if mystery is not None else max(len(stage.equation) for stage, _ in rows)
    print(f"{'gradient wrt':<21} {'equation' if width else '':<{width}} {'shape':>6} {'norm':>9} {'rel. error':>10}")
    failing = [not error < TOLERANCE for _, error in rows]
    for (stage, error), fails in zip(rows, failing, strict=True):
        shape = "x".join(map(str, stage.gradient.shape))
        equation = stage.equation if width else ""
        print(f"{stage.name:<21} {equation:<{width}} {shape:>6} {np.linalg.norm(stage.gradient):>9.4g} "
              f"{error:>10.1e}{'  FAIL' if fails else ''}")
        if stage.parts and width:
            print(f"{'':<21} = " + " + ".join(f"{label} (norm {np.linalg.norm(part):.4g})"
                                               for label, part in stage.parts.items()))
    if not any(failing):
        print("every gradient agrees with its numerical check" + (" (the planted bug was not caught)" if bug else ""))
        return 0
    if bug is None:
        print(f"some gradients are off by more than {TOLERANCE} (an ELU input within {2 * STEP:g} of 0 makes the "
              "numerical gradient cross its kink: try another --seed)")
        return 1
    print(where_it_fails([stage.name for stage, _ in rows], failing))
    if mystery is not None:
        stage = rows[failing.index(True)][0]
        print(f"evidence at '{stage.name}' ({'x'.join(map(str, stage.gradient.shape))}):")
        for line in ratio_evidence(stage.gradient, stage.numeric):
            print("  " + line)
        print(f"which bug is it? {mystery_command_line(args, mystery, '--guess', 'NAME')}\n"
              f"  with NAME one of {', '.join(sorted(BUGS))}")
    return 1


def mystery_command_line(args: argparse.Namespace, mystery: int, *more: str) -> str:
    """The command of this mystery with the same network flags (and ``more``), shell-quoted."""
    words = ["python", "-m", "numpyvae.explain"]
    for action in build_parser()._actions:
        if action.dest in args.given and action.dest not in ("mystery", "guess", "bug", "help"):
            value = getattr(args, action.dest)
            words += [action.option_strings[-1]] if value is True else [action.option_strings[-1], str(value)]
    return shlex.join([*words, "--mystery", str(mystery), *more])


def guess_command(args: argparse.Namespace, options: dict) -> int:
    """Right (exit 0) or wrong (exit 1); the answer is told only when it is guessed."""
    name = mystery_bug(args.mystery, options)
    if args.guess != name:
        print(f"wrong: mystery {args.mystery} is not '{args.guess}'; look at its evidence again "
              f"({mystery_command_line(args, args.mystery)}) and derive the row where the check first fails")
        return 1
    bug = BUGS[name]
    print(f"right: mystery {args.mystery} is '{name}': {bug.wrong_line}\n  (right: {bug.right_line})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in SUBCOMMANDS:
        from importlib import import_module
        return import_module(f".{argv[0]}", __package__).main(argv[1:])
    parser = build_parser()
    parser.set_defaults(given=given_flags(build_parser(), argv))
    return run_command(explain_command, parser, argv)
