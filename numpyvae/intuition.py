"""``python -m numpyvae.intuition``: pictures for intuition, the reparameterization and the ELBO gap
(numpyvae.teaching.intuition)."""

import sys

from .teaching.intuition import main

if __name__ == "__main__":
    sys.exit(main())
