"""Training from the command line: ``python train.py`` (or ``python -m numpyvae.training``).

- ``config``: the typed configuration (model, optimizer, schedule, data, run, options), its flags and presets;
- ``data``: the held-out validation images and the binarized test draws;
- ``state``: a run's state, started new or restored from a checkpoint, and how it stops;
- ``stopping``: early stopping and best.npz;
- ``report``: the pictures, metrics.csv and the printed lines;
- ``loop``: the training loop and the final evaluation;
- ``checkup``: the training step timed under each BLAS core type and thread count, for ``python -m numpyvae.doctor``.
"""

from ..data import load_dataset
from .config import DEFAULT_STEPS, PRESETS, TrainConfig, build_parser, from_namespace
from .loop import finish, main, run_steps, train
from .report import Reporter
from .state import CHECKPOINT_NAME, Run, load_resumed, start_run

__all__ = ["CHECKPOINT_NAME", "DEFAULT_STEPS", "PRESETS", "Reporter", "Run", "TrainConfig", "build_parser",
           "finish", "from_namespace", "load_dataset", "load_resumed", "main", "run_steps", "start_run", "train"]
