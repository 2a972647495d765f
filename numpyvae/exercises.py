"""``python -m numpyvae.exercises``: exercises with checks (numpyvae.teaching.exercises)."""

import sys

from .teaching.exercises.command import main

if __name__ == "__main__":
    sys.exit(main())
