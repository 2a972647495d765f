"""Exercises with checks: derive a layer's or a loss's backward pass yourself, and have it gradient-checked.

    python -m numpyvae.exercises list                      the exercises
    python -m numpyvae.exercises start [DIR]               copy the blank stubs into DIR (default ./exercises)
    python -m numpyvae.exercises check NAME                check DIR/NAME.py in a separate process: pass, or the
                                                           failing rows with a diagnosis
    python -m numpyvae.exercises check NAME --file F       check another file (--timeout S: the time limit)
    python -m numpyvae.exercises check NAME --reference    check the package's own version (it passes)
    python -m numpyvae.exercises hint NAME [--level N]     graded hints: where to start, then the key steps
    python -m numpyvae.exercises solution NAME             the worked solution

``stubs/`` holds the blank files, ``solutions/`` the worked ones, ``catalog.py`` the list with its hints,
``checks/`` the checks, ``diagnosis.py`` what a failing row says, ``sandbox.py`` and ``worker.py`` the child
process a student's file runs in, ``reference.py`` the package's own versions behind the same interfaces.
"""

from .catalog import EXERCISES, Exercise
from .diagnosis import Row

__all__ = ["EXERCISES", "Exercise", "Row"]
