"""Train the seed VAE: ``python train.py --help`` lists every flag with its default."""

import sys

from numpyvae import signals

signals.quiet_start_up()  # before NumPy loads: Ctrl-C at any moment of start-up is one line

from numpyvae.training import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
