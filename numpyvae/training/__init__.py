"""Training from the command line: ``python train.py`` (or ``python -m numpyvae.training``).

- ``options``: the flags, their defaults and checks, the settings that define a run;
- ``state``: a run's state, started new or restored from a checkpoint, and how it stops;
- ``report``: the pictures, metrics.csv and the printed lines;
- ``loop``: the training loop and the final evaluation.
"""

from ..data import load_dataset
from .loop import finish, main, run_steps, train
from .options import DEFAULT_STEPS, LATER_SETTINGS, RUN_SETTINGS, build_parser, validate
from .report import Reporter
from .state import CHECKPOINT_NAME, Run, load_resumed, start_run

__all__ = ["CHECKPOINT_NAME", "DEFAULT_STEPS", "LATER_SETTINGS", "RUN_SETTINGS", "Reporter", "Run", "build_parser",
           "finish", "load_dataset", "load_resumed", "main", "run_steps", "start_run", "train", "validate"]
