"""What a failing row says: not only where the student's array is wrong, but how.

A row compares the student's array ("yours") with the right one ("expected": the formula's value for a
forward row, central differences of the true function for a gradient row) and, when they differ, looks for
the usual shapes of a mistake, in this order:

    a known mistake of this exercise     the row's own list, e.g. "the softplus factor sigmoid(a) left out"
    the transpose                        yours.T is the right array
    not finite                           +inf: an overflow; -inf: the log of an underflowed 0; nan: 0/0 or inf - inf
    a constant ratio yours / expected    -1 (the sign), 2 or 0.5 (a factor 2), 1/B or B (the batch), any other
    the worst element                    its index, both values, and the input there when the row knows it

The tolerances are those of the gradient checks (relative error 1e-7 for a gradient, 1e-12 for a forward
value); each exercise's inputs are chosen so that a right answer lands far below them (about 1e-10 and
below) and every listed mistake far above (1e-4 and above), so that nothing scrapes past by luck.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..gradcheck import TOLERANCE, relative_error

FORWARD_TOLERANCE = 1e-12
MISTAKE_MATCH = 1e-6  # yours within this relative error of a known mistake's array: it is that mistake
RATIO_SPREAD = 1e-6   # the ratio yours / expected is constant when its values differ by less than this


@dataclass
class Row:
    """One line of a check's report. ``error`` is None when the code raised or returned the wrong shape."""

    what: str
    error: float | None
    tolerance: float = TOLERANCE
    message: str = ""                                   # what went wrong, in one line
    details: list[str] = field(default_factory=list)    # further lines: the worst element, the ratio, ...
    traceback: str = ""                                 # the student's frames, when their code raised

    @property
    def passed(self) -> bool:
        return self.error is not None and math.isfinite(self.error) and self.error < self.tolerance


@dataclass
class Mistake:
    """A known wrong answer of an exercise: what it is, and the array it gives on the row's inputs."""

    label: str
    value: np.ndarray


class ShapeError(Exception):
    """The student's array has the wrong shape (not their code raising: no traceback is shown)."""


def describe_ratio(ratio: float, batch: int | None = None, expected_name: str = "expected") -> str:
    """A constant ratio yours / expected in words: the sign, a factor 2, the batch size, ..."""
    says = f"yours / {expected_name}"
    if abs(ratio + 1) < 1e-6:
        return f"{says} = -1 at every element: the sign is wrong"
    for factor, words in ((2, "a factor 2 too many (the 1/2 of a square, or a term counted twice?)"),
                          (0.5, "half the right value (a factor 2 lost?)"),
                          (-2, "a factor -2: the sign and a factor 2"), (-0.5, "a factor -1/2: the sign and a 2")):
        if abs(ratio - factor) < 1e-6 * abs(factor):
            return f"{says} = {factor:g} at every element: {words}"
    if batch and batch > 1:
        if abs(ratio * batch - 1) < 1e-6:
            return (f"{says} = 1/B = 1/{batch} at every element: divided by the batch size once too "
                    "often (a mean where a sum belongs?)")
        if abs(ratio / batch - 1) < 1e-6:
            return f"{says} = B = {batch} at every element: a 1/B missing (a sum where a mean belongs?)"
    return f"{says} = {ratio:.6g} at every element: a constant factor"


def not_finite(values: np.ndarray) -> str:
    """Why ``values`` holds inf or nan, in the right words (underflow is not overflow)."""
    first = tuple(int(i) for i in np.argwhere(~np.isfinite(values))[0])
    value = values[first]
    where = f"element {list(first)}" if values.ndim else "the value"
    if value == math.inf:
        return (f"{where} is +inf: an overflow (e^t exceeds the largest float64, 1.8e308, once t > 709.78; "
                "rewrite so that no exponential of a large positive number is taken)")
    if value == -math.inf:
        return (f"{where} is -inf: the log of 0, where an e^t underflowed to 0 (e^t is 0 in float64 once "
                "t < -745.13): an underflow, not an overflow; take the log before the exponential underflows")
    return (f"{where} is nan: 0/0, inf - inf or 0 * inf, what an overflow or an underflow to 0 leaves behind "
            "(e^t overflows for t > 709.78 and underflows to 0 for t < -745.13 in float64)")


def diagnose(yours: np.ndarray, expected: np.ndarray, *, mistakes: list[Mistake] = (), batch: int | None = None,
             context: Callable[[tuple[int, ...]], str] | None = None,
             expected_name: str = "expected") -> tuple[str, list[str]]:
    """The message and detail lines for a failing comparison of two arrays of the same shape."""
    details = []
    finite = np.all(np.isfinite(yours))
    for mistake in mistakes:
        if np.shape(mistake.value) == yours.shape and finite and relative_error(yours, mistake.value) < MISTAKE_MATCH:
            message = f"it equals {mistake.label}"
            break
    else:
        message = ""
    if not message and yours.ndim == 2 and yours.shape[0] == yours.shape[1] and finite \
            and relative_error(yours.T, expected) < TOLERANCE and relative_error(yours, expected) >= TOLERANCE:
        message = "it is the transpose of the right array: swap the order of the product, or transpose it"
    if not finite:
        message = message or not_finite(yours)
    elif not message:
        scale = float(np.max(np.abs(expected))) if expected.size else 0.0
        if not np.any(yours) and scale > 0:
            message = "yours is 0 at every element: is this gradient computed at all, or a path left out?"
        else:
            usable = np.abs(expected) > 1e-9 * scale
            ratios = yours[usable] / expected[usable]
            if ratios.size and np.ptp(ratios) <= RATIO_SPREAD * max(float(np.max(np.abs(ratios))), 1e-300) \
                    and np.all(yours[~usable] == 0) and abs(ratios[0] - 1) > 1e-6:
                message = describe_ratio(float(np.median(ratios)), batch, expected_name)
    if finite and yours.size:
        errors = np.abs(yours - expected) / np.maximum(np.abs(yours) + np.abs(expected), 1e-300)
        worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(errors)), yours.shape))
        where = f"worst element {list(worst)}" if yours.ndim else "the value"
        line = f"{where}: yours {yours[worst]:.6g}, {expected_name} {expected[worst]:.6g}"
        if yours[worst] == 0 and expected[worst] != 0:
            line += " (yours is exactly 0 there: an underflow, or a branch that drops it?)"
        if context is not None:
            line += f", {context(worst)}"
        details.append(line)
        if not message:
            message = f"relative error {float(errors[worst]):.1e} at its worst element"
    return message, details


def compare(what: str, yours, expected: np.ndarray, *, tolerance: float = TOLERANCE, **options) -> Row:
    """A row for ``yours`` against ``expected``: the relative error, and a diagnosis when it is too large."""
    expected = np.asarray(expected, dtype=np.float64)
    if yours is None:
        return Row(what, None, tolerance, "nothing was returned or set for it")
    try:
        yours = np.asarray(yours, dtype=np.float64)
    except (TypeError, ValueError) as error:
        return Row(what, None, tolerance, f"not an array of numbers: {error}")
    if yours.shape != expected.shape:
        message = f"shape {yours.shape}, expected {expected.shape}"
        if yours.ndim == 2 and yours.shape == expected.shape[::-1]:
            message += (": the transpose's shape" + (" (and its transpose is right)"
                                                     if relative_error(yours.T, expected) < tolerance else ""))
        return Row(what, None, tolerance, message)
    error = relative_error(yours, expected) if np.all(np.isfinite(yours)) else math.inf
    row = Row(what, error, tolerance)
    if not row.passed:
        row.message, row.details = diagnose(yours, expected, **options)
    return row
