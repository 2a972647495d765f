"""Mystery bugs: ``python -m numpyvae.explain --mystery [SEED]`` plants a bug and does not say which.

The seed picks one of the planted bugs of ``bugs.BUGS`` that change ``VAE.backward``'s gradients on the walk's
network (``dropout-scale`` needs dropout; ``kl-std`` needs the ELBO's KL, which the IWAE does not have). The
walk then shows the evidence only: which rows fail their numerical check, and, for the first that fails, the
norms of the gradient by hand a and by central differences n, and how a / n behaves element by element (a
constant factor such as -1, 0.5 or 1/B, or not). ``--guess NAME`` with the same seed says whether NAME is it.
"""

from __future__ import annotations

import numpy as np

from .bugs import BUGS, planted
from .trace import tiny_model

# |n| below this fraction of its largest entry is left out of a / n: central differences resolve it poorly
RESOLVED = 1e-3
# a / n counts as one constant factor when its entries lie this close together, relative to their median
CONSTANT = 1e-3


def bugs_that_change_gradients(options: dict) -> list[str]:
    """The names of the bugs that change VAE.backward's gradients on the walk's network for these options
    (``tiny_model``'s keywords): the same batch, noise and dropout masks, backward run with each bug planted."""
    traced = tiny_model(**options)
    model = traced.model
    model.loss(traced.x, traced.training, traced.eps, labels=traced.labels)
    model.backward()
    right = {name: grad.copy() for name, grad in model.grads.items()}
    changing = []
    for name in sorted(BUGS):
        with planted(name):
            model.backward()
        if any(not np.array_equal(right[key], grad) for key, grad in model.grads.items()):
            changing.append(name)
    return changing


def mystery_bug(seed: int, options: dict) -> str:
    """The bug that mystery ``seed`` plants in the walk of these options."""
    names = bugs_that_change_gradients(options)
    return names[int(np.random.default_rng(seed).integers(len(names)))]


def ratio_evidence(analytic: np.ndarray, numeric: np.ndarray) -> list[str]:
    """How the gradient by hand a compares with central differences n, element by element, in a few lines."""
    lines = [f"||a|| = {np.linalg.norm(analytic):.4g} by hand, ||n|| = {np.linalg.norm(numeric):.4g} by central "
             f"differences, over {analytic.size} entries"]
    resolved = np.abs(numeric) > RESOLVED * np.abs(numeric).max(initial=0)
    if not resolved.any():
        return lines + ["n is 0 everywhere (to the differences' resolution): a should be too"]
    ratio = analytic[resolved] / numeric[resolved]
    low, middle, high = np.min(ratio), np.median(ratio), np.max(ratio)
    where = f"on the {resolved.sum()} entries where n is not 0" if resolved.sum() < analytic.size else "on every entry"
    if high - low <= CONSTANT * max(abs(middle), 1e-300):
        return lines + [f"a / n = {middle:.6g} {where}: one constant factor"]
    agree = int(np.sum(np.abs(ratio - 1) <= CONSTANT))
    zero = int(np.sum(analytic[resolved] == 0))
    lines.append(f"a / n is not one factor: from {low:.4g} to {high:.4g} (median {middle:.4g}) {where}")
    return lines + [f"a = n on {agree} of them, a = 0 on {zero}"]
