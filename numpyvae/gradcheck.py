"""``python -m numpyvae.gradcheck``: every layer's, loss term's and the VAE's gradients against central
differences in float64 (the checks live in numpyvae.teaching.gradcheck)."""

from __future__ import annotations

import sys

from .cli import SEED, Parser, checked
from .config import positive
from .teaching.gradcheck import (
    TOLERANCE,
    check_layer,
    concat_check,
    hierarchical_checks,
    layer_cases,
    loss_term_checks,
    mixture_check,
    vae_checks,
)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m numpyvae.gradcheck",
                                     description="Check every layer's, loss term's and the VAE's "
                                                 "hand-written gradients against central differences in float64.")
    parser.add_argument("--seed", type=SEED, default=0, help="seed for the inputs and weights (default: 0)")
    parser.add_argument("--tolerance", type=checked(float, positive), default=TOLERANCE,
                        help=f"largest relative error that passes (default: {TOLERANCE:g})")
    args = parser.parse_args(argv)

    checks = [(name, check_layer(layer, x, rng=rng)) for name, layer, x, rng in layer_cases(args.seed)]
    checks += concat_check(args.seed) + loss_term_checks(args.seed) + vae_checks(args.seed)
    checks += mixture_check(args.seed) + hierarchical_checks(args.seed)
    failed = 0
    print(f"{'checked':<20} {'tensor':<22} {'max rel. error':>15}  result")
    for name, errors in checks:
        for tensor, error in errors.items():
            ok = error < args.tolerance
            failed += not ok
            print(f"{name:<20} {tensor:<22} {error:>15.3e}  {'PASS' if ok else 'FAIL'}")
    print(f"{'all passed' if not failed else f'{failed} failed'} (tolerance {args.tolerance:g})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
