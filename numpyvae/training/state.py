"""A training run's state: what it holds (``Run``), how it starts new or from a checkpoint, how it stops.

A run is its model, optimizer, data order, step counter and loop state (schedule, early stopping, the
binarization generator); ``Run.checkpoint`` saves all of it and ``start_run`` restores it bit for bit.
"""

from __future__ import annotations

import argparse
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import MiniBatcher, short_name
from ..data.binarization import BatchBinarizer
from ..errors import CheckpointError, NumericalError, UsageError
from ..formats.checkpoint import Checkpoint, load_checkpoint, restore_params
from ..models.vae import VAE
from ..nn.optim import Optimizer, global_norm
from ..nn.schedules import Schedule
from . import protocol
from .model_options import NUM_CLASSES, build_model, labels_if_conditional
from .options import DEFAULT_STEPS, LATER_SETTINGS, RUN_SETTINGS, make_optimizer, shown, validate

CHECKPOINT_NAME = "checkpoint.npz"


def check_finite(model: VAE, loss: float, step: int, checkpoint_path: Path) -> None:
    """NumericalError naming the step and the first non-finite tensor, before any parameter is touched."""
    if math.isfinite(loss) and math.isfinite(global_norm(model.grads)):
        return
    tensors = {"log-likelihood term of the loss": model.log_likelihood, "KL term of the loss": model.kl_divergence,
               **{f"gradient {name}": grad for name, grad in model.grads.items()}}
    culprit = next((name for name, array in tensors.items() if not np.all(np.isfinite(array))), "loss")
    kept = f"the last good checkpoint is {checkpoint_path}" if checkpoint_path.exists() else "no checkpoint was saved"
    raise NumericalError(f"the {culprit} became NaN or infinite at step {step}; {kept}; "
                         "try a lower --lr or --clip-grad 10")


def new_run_folder(dataset: str) -> Path:
    stamp, dataset = time.strftime("%Y%m%d-%H%M%S"), short_name(dataset)  # a path dataset: its last part
    folder, suffix = Path("runs") / f"{dataset}-{stamp}", 1
    while folder.exists():
        suffix += 1
        folder = Path("runs") / f"{dataset}-{stamp}-{suffix}"
    return folder


class StopRequest:
    """Turns Ctrl-C and SIGTERM into a request to stop after the current step (then save and exit)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    def __enter__(self) -> StopRequest:
        self.previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum: int, frame) -> None:
        self.signal_name = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@dataclass
class Run:
    """Everything a training run holds: restored from a checkpoint or made new."""

    args: argparse.Namespace
    model: VAE
    optimizer: Optimizer
    batcher: MiniBatcher
    step: int
    total_steps: int
    out: Path
    binarizer: BatchBinarizer | None = None
    schedule: Schedule | None = None
    stopping: protocol.EarlyStopping | None = None
    # the seconds this session spent inside the training steps themselves (loss, backward, update), which
    # summary.json sets beside the wall time: the rest is the loop's own cost (data, checks, reports, files)
    step_seconds: float = 0.0

    def checkpoint(self) -> Checkpoint:
        settings = {key: getattr(self.args, key) for key in RUN_SETTINGS}
        return Checkpoint(config={"model": self.model.config, "run": settings, "total_steps": self.total_steps,
                                  "state": self.loop_state()},
                          step=self.step,
                          rng_state=self.model.rng.bit_generator.state, params=self.model.params,
                          optimizer=self.optimizer.state_dict(), batcher=self.batcher.state_dict())

    def loop_state(self) -> dict:
        """What the loop carries beside the weights, optimizer and data order (JSON-ready): the schedule's
        settings (its position is the step), the early-stopping record, the binarization generator."""
        return {"schedule": self.schedule.state_dict(), "early_stopping": self.stopping.state_dict(),
                "binarizer_rng": self.binarizer.state_dict()}


def load_resumed(args: argparse.Namespace, given: set[str] = frozenset()) -> Checkpoint | None:
    """The --resume checkpoint, its run settings copied into ``args``.

    A flag in ``given`` (set on the command line) that contradicts a setting of the checkpoint is a UsageError:
    the run's settings cannot change on resume, and silently ignoring the flag would mislead. Only the flags
    outside RUN_SETTINGS (--steps, --log-every, --out, --eval-k, ...) may change.
    """
    if not args.resume:
        return None
    saved = load_checkpoint(args.resume)
    settings = saved.config.get("run")
    if not isinstance(settings, dict) or not set(settings) <= set(RUN_SETTINGS):
        raise CheckpointError(f"{args.resume} holds no training run's settings; it cannot be resumed")
    settings = {**LATER_SETTINGS, **settings}  # a checkpoint written before these settings ran with their defaults
    for key, value in settings.items():
        if key in given and getattr(args, key) != value:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {shown(getattr(args, key))} contradicts the checkpoint's {shown(value)} "
                             f"({args.resume}); a run's settings cannot change on resume: drop {flag}, or start "
                             "a new run")
    vars(args).update(settings)
    if args.steps is None and args.epochs is None:  # no new target given: carry on to the run's own
        args.steps = saved.config.get("total_steps")
    try:
        validate(args)
    except (UsageError, TypeError) as error:
        raise CheckpointError(f"{args.resume} holds invalid run settings ({error})") from None
    return saved


def start_run(args: argparse.Namespace, saved: Checkpoint | None, train_images: np.ndarray,
              train_labels: np.ndarray | None = None, num_classes: int = NUM_CLASSES) -> Run:
    """A new run from the flags, or the saved one continued when ``saved`` is given; the model's input size is
    the images' (N, H*W), a conditional model's classes are the data's ``num_classes``."""
    if args.conditional and train_labels is None:
        raise UsageError(f"--conditional needs labels, and {args.dataset} has none: sort the images into one "
                         "sub-folder per class, or store labels beside the images in an .npz")
    model = build_model(args, train_images.shape[1], num_classes)
    optimizer = make_optimizer(args, model.params)
    if args.batch_size > len(train_images):
        raise UsageError(f"--batch-size {args.batch_size} is larger than the {len(train_images)} training images")
    batcher = MiniBatcher(train_images, args.batch_size, model.rng, model.dtype,
                          labels=labels_if_conditional(model, train_labels), num_classes=model.num_classes)
    out = Path(args.out)
    if args.epochs:
        total_steps = round(args.epochs * batcher.steps_per_epoch)
    else:
        total_steps = args.steps if args.steps is not None else DEFAULT_STEPS
    run = Run(args, model, optimizer, batcher, step=0, total_steps=total_steps, out=out,
              binarizer=BatchBinarizer(args.binarize, args.seed), schedule=protocol.make_schedule(args, total_steps),
              stopping=protocol.EarlyStopping(args.early_stopping))
    if saved is not None:
        restore(run, saved, args.resume)
        protocol.restore_loop_state(run, saved.config.get("state"), args.resume)
    return run


def restore(run: Run, saved: Checkpoint, path: str) -> None:
    """Put the saved weights, optimizer state, data order, generator state and step into ``run``."""
    restore_params(run.model, saved.params, path)
    try:
        run.optimizer.load_state_dict(saved.optimizer)
        run.batcher.load_state_dict(saved.batcher)
        run.model.rng.bit_generator.state = saved.rng_state
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} does not match this run's optimizer or data ({error}); "
                              "start a new run or resume with the data it was trained on") from None
    run.step = saved.step
