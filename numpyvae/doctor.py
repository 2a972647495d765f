"""``python -m numpyvae.doctor``: which BLAS kernels and thread count make the training step fastest here.

It times the seed's training step (batch 128, float32: loss, backward, SGD update) under each OpenBLAS core
type this CPU can run and each thread count that matters, every setting alone in a fresh process, rounds
alternating, and prints the table, the fastest setting, and the ``export`` line that makes it the default.
The library is numpyvae.training.checkup; the fair harness numpyvae.kernels.timing.
"""

from __future__ import annotations

import argparse
import sys

from .cli import Parser, run_command
from .errors import UsageError
from .kernels import NEEDS, OPENBLAS_ENV, canonical_coretype, cpu_description, cpu_flags, read_cpuinfo, summary_line
from .kernels import usable_cores as cores
from .kernels.timing import load_average
from .training.checkup import OFF, report_lines, run_checkup


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.doctor", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds; in each, every setting runs once in a fresh process (default: 5)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps per process (default: 50)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before them (default: 10)")
    parser.add_argument("--batch", type=int, default=128, help="images per step (default: 128, the seed's)")
    parser.add_argument("--coretypes", nargs="+", default=None, metavar="CORETYPE",
                        help="OpenBLAS core types to time, or off for OpenBLAS's own choice (default: those the "
                             "CPU's flags fit, e.g. SkylakeX Cooperlake Haswell Zen on an AVX-512 CPU)")
    parser.add_argument("--threads", type=int, nargs="+", default=None, metavar="N",
                        help="BLAS thread counts to time (default: 1, 2 and all usable cores, as far as there are)")
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="time limit: no round starts that would end after it (default: 60; the first "
                             "round always runs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def check(args: argparse.Namespace) -> None:
    """Every flag in range before anything runs; a core type must be one this CPU's flags can run."""
    if min(args.rounds, args.steps, args.batch) < 1 or args.warmup < 0 or not args.seconds > 0:
        raise UsageError("--rounds, --steps and --batch must be at least 1, --warmup not negative, --seconds "
                         "positive")
    if args.threads is not None and min(args.threads) < 1:
        raise UsageError("--threads: thread counts must be at least 1")
    if args.coretypes is not None:
        flags = cpu_flags(read_cpuinfo() or "")
        names = []
        for name in args.coretypes:
            core = OFF if name.lower() == OFF else canonical_coretype(name)
            if core is None:
                raise UsageError(f"--coretypes {name}: not an OpenBLAS x86-64 core type (e.g. Haswell, SkylakeX) "
                                 "nor off")
            missing = [flag for flag in NEEDS.get(core, ()) if flags is not None and flag not in flags]
            if missing:
                raise UsageError(f"--coretypes {name}: needs {', '.join(missing)}, which this CPU's flags do not "
                                 "list (it would crash)")
            names.append(core)
        args.coretypes = list(dict.fromkeys(name for name in names if name != OFF))


def doctor(args: argparse.Namespace) -> int:
    check(args)
    print(f"CPU: {cpu_description()}, {cores()} usable cores")
    print(f"now: {summary_line()}")
    print(f"timing the seed's training step (batch {args.batch}, float32: loss, backward, SGD update), each "
          f"setting alone in a fresh process, up to {args.rounds} alternating rounds of {args.steps} steps after "
          f"{args.warmup} warm-up steps, at most about {args.seconds:g} s; {load_average()} before", flush=True)
    checkup = run_checkup(args.rounds, args.steps, args.warmup, args.batch, args.coretypes, args.threads,
                          args.seconds, progress=not args.no_progress)
    rounds = min((len(values) for values in checkup.rounds.values()), default=0)
    print(f"medians over {rounds} round{'s' if rounds != 1 else ''} ({checkup.seconds:.0f} s), ± half the "
          f"interquartile range of the round medians; 'asked for' is the {OPENBLAS_ENV} each process had:")
    for line in report_lines(checkup):
        print(line)
    print(f"{load_average()} after")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(doctor, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
