"""``python -m numpyvae.explain``: the backward pass made visible (numpyvae.teaching.explain)."""

import sys

from .teaching.explain.command import main

if __name__ == "__main__":
    sys.exit(main())
