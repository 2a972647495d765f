"""Train the seed VAE: ``python train.py --help`` lists every flag with its default."""

import sys

from numpyvae.training import main

if __name__ == "__main__":
    sys.exit(main())
