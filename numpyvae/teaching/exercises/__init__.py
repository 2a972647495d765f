"""Exercises with checks: write a layer's forward and backward pass yourself, and have it gradient-checked.

    python -m numpyvae.exercises list                  the exercises
    python -m numpyvae.exercises start [DIR]           copy the blank stubs into DIR (default ./exercises)
    python -m numpyvae.exercises check NAME            check DIR/NAME.py: pass, or the failing rows
    python -m numpyvae.exercises check NAME --file F   check another file
    python -m numpyvae.exercises check NAME --reference   check the package's own version (it passes)

The stubs live in ``numpyvae/exercises/stubs/``; ``checks.py`` holds the checks, ``reference.py`` the
package's own versions behind the same interfaces.
"""

from .checks import EXERCISES, Row, load

__all__ = ["EXERCISES", "Row", "load"]
