"""What every check shares: calling the student's code safely, forward rows and gradient rows.

The student's code gets copies of the inputs (it cannot change what the check compares with). Whatever it
raises, ``SystemExit`` included, fails the row it was called for, with the exception's first line and the
student's own frames of the traceback; the other rows still run. Gradient rows compare with central
differences of the true function (written in the check, not the student's forward), so a wrong forward
pass cannot hide a wrong backward pass or the other way round.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...gradcheck import TOLERANCE, numerical_gradient
from ..diagnosis import FORWARD_TOLERANCE, Mistake, Row, ShapeError, compare

PACKAGE = Path(__file__).resolve().parents[3]  # numpyvae/: frames in it are the checker's, not the student's


class StudentError(Exception):
    """The student's code raised: its one-line message and the frames of the traceback that are theirs."""

    def __init__(self, error: BaseException, frames: str) -> None:
        super().__init__(error)
        if isinstance(error, SystemExit):
            self.message = f"your code called sys.exit({error.code!r}): a check cannot pass by ending the program"
        else:
            first = str(error).splitlines()[0] if str(error) else ""
            self.message = f"{type(error).__name__}: {first}".rstrip(": ")
        self.frames = frames

    def row(self, what: str, tolerance: float = TOLERANCE, with_traceback: bool = True) -> Row:
        return Row(what, None, tolerance, self.message, traceback=self.frames if with_traceback else "")


def student_frames(error: BaseException) -> str:
    """The traceback from the first frame outside numpyvae/ on: the student's code and what it called."""
    frames = traceback.extract_tb(error.__traceback__)
    outside = [i for i, frame in enumerate(frames) if not Path(frame.filename).resolve().is_relative_to(PACKAGE)]
    kept = frames[outside[0]:] if outside else frames[-1:]
    lines = "".join(traceback.format_list(kept))
    return "Traceback (your code):\n" + lines + "".join(traceback.format_exception_only(type(error), error))


def call(function: Callable, *args):
    """``function(*args)``, the student's exceptions (SystemExit too) turned into a StudentError."""
    try:
        return function(*args)
    except (ShapeError, StudentError):  # already ours, or already the student's, from a nested call
        raise
    except (Exception, SystemExit) as error:
        raise StudentError(error, student_frames(error)) from None


def copies(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: np.array(tensor, copy=True) for name, tensor in tensors.items()}


def forward_row(what: str, compute: Callable[[], np.ndarray], expected: np.ndarray, **options) -> Row:
    """A forward value against the formula's (relative error 1e-12)."""
    try:
        value = call(compute)
    except StudentError as error:
        return error.row(what, FORWARD_TOLERANCE)
    return compare(what, value, expected, tolerance=FORWARD_TOLERANCE, expected_name="the formula's", **options)


def upstream(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """The fixed upstream gradient g = dL/d(output) of a gradient check, L = sum(output * g): random signs and
    sizes between 0.5 and 1.5, none near 0, so that no element of a right gradient is too small to check."""
    rng = np.random.default_rng(seed)
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 1.5, shape)


def gradient_rows(tensors: dict[str, np.ndarray], true_function: Callable[..., np.ndarray],
                  student: Callable[[dict[str, np.ndarray], np.ndarray], dict[str, np.ndarray]],
                  labels: dict[str, str], *, h: float = 1e-3, seed: int = 0,
                  mistakes: Callable[[dict[str, np.ndarray], np.ndarray], dict[str, list[Mistake]]] | None = None,
                  batch: int | None = None, contexts: dict[str, Callable] | None = None, at: str = "",
                  terms: Callable[..., np.ndarray] | None = None,
                  numeric_at: dict[str, np.ndarray] | None = None) -> list[Row]:
    """One row per tensor: the student's gradient of L = sum(output * g) against central differences.

    ``true_function(**tensors)`` is the right forward pass; ``student(inputs, g)`` runs the student's forward
    and backward on copies of the inputs and returns their gradients keyed like ``tensors``; ``mistakes``
    gives each tensor's known wrong answers for the diagnosis; ``at`` is appended to every row's name.

    ``terms(g, **tensors)``, when given, returns L as an array of terms that sum to it (one per pixel, say):
    the differences are then taken term by term, so that a pixel whose gradient is 0 is not drowned by the
    rounding of its image's other pixels. ``numeric_at`` differentiates at other inputs with the same
    gradient (log-mean-exp's, at log w shifted by a constant), where the function's values are small.
    """
    tensors = {name: np.asarray(tensor, dtype=np.float64) for name, tensor in tensors.items()}
    g = upstream(np.shape(true_function(**tensors)), seed)
    at_inputs = {name: np.array(tensor, dtype=np.float64) for name, tensor in (numeric_at or tensors).items()}

    def weighted() -> np.ndarray:
        return terms(g, **at_inputs) if terms else true_function(**at_inputs) * g

    numeric = {name: numerical_gradient(weighted, at_inputs[name], h) for name in tensors}
    known = mistakes(tensors, g) if mistakes else {}
    names = {name: labels[name] + at for name in tensors}
    try:
        grads = call(student, copies(tensors), g.copy())
    except StudentError as error:
        return [error.row(names[name], with_traceback=index == 0) for index, name in enumerate(tensors)]
    if not isinstance(grads, dict):
        return [Row(names[name], None, message="the backward pass returned nothing usable") for name in tensors]
    return [compare(names[name], grads.get(name), numeric[name], expected_name="numerical", batch=batch,
                    mistakes=known.get(name, []), context=(contexts or {}).get(name)) for name in tensors]
