"""A training run's state: what it holds (``Run``), how it starts new or from a checkpoint, how it stops.

A run is its configuration, model, optimizer, data order, step counter and loop state (schedule, early
stopping, the binarization generator); ``Run.checkpoint`` saves all of it and ``start_run`` restores it bit for
bit. A checkpoint keeps the run's settings (``TrainConfig.kept``); ``load_resumed`` takes them back.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import SettingError
from ..data import MiniBatcher, short_name
from ..data.binarization import BatchBinarizer
from ..errors import CheckpointError, NumericalError, UsageError
from ..formats.checkpoint import Checkpoint, load_checkpoint, restore_params
from ..models import HierarchicalVAE, build
from ..models.terms import LossTerms
from ..models.vae import VAE
from ..nn.layers import ACTIVATIONS
from ..nn.optim import SGD, Adam, Optimizer, global_norm
from ..nn.schedules import Schedule
from ..resources import check_memory
from .config import DEFAULT_STEPS, KEPT, NUM_CLASSES, TrainConfig, contradictions, kept_from_dict

CHECKPOINT_NAME = "checkpoint.npz"
# the files of a run that --overwrite removes before a new run starts in its folder (pictures are replaced)
RUN_FILES = (CHECKPOINT_NAME, "best.npz", "metrics.csv", "evaluation.json", "summary.json")


def check_finite(model: VAE, terms: LossTerms, loss: float, step: int, checkpoint_path: Path) -> None:
    """NumericalError naming the step and the first non-finite tensor, before any parameter is touched."""
    if math.isfinite(loss) and math.isfinite(global_norm(model.grads)):
        return
    tensors = {"log-likelihood term of the loss": terms.log_likelihood, "KL term of the loss": terms.kl,
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
class EarlyStopping:
    """The validation record: the best -ELBO so far, its step, and the reports since it improved."""

    patience: int = 0
    best: float | None = None
    best_step: int | None = None
    since_best: int = 0

    @property
    def stopped(self) -> bool:
        return self.patience > 0 and self.since_best >= self.patience

    def update(self, value: float, step: int) -> bool:
        """Record a validation -ELBO; True when it is the best so far."""
        if self.best is None or value < self.best:
            self.best, self.best_step, self.since_best = value, step, 0
            return True
        self.since_best += 1
        return False

    def state_dict(self) -> dict:
        return dataclasses.asdict(self)



@dataclass
class Run:
    """Everything a training run holds: restored from a checkpoint or made new."""

    config: TrainConfig
    model: VAE | HierarchicalVAE
    optimizer: Optimizer
    batcher: MiniBatcher
    step: int
    total_steps: int
    out: Path
    binarizer: BatchBinarizer
    schedule: Schedule
    stopping: EarlyStopping
    # the seconds this session spent inside the training steps themselves (loss, backward, update), which
    # summary.json sets beside the wall time: the rest is the loop's own cost (data, checks, reports, files)
    step_seconds: float = 0.0
    # the training clock: seconds of the training loop so far, over every session of the run (resumed ones carry
    # on from the checkpoint's count); the reports (test pass, pictures, metrics.csv, best.npz) are not counted.
    # None when unknown: a run resumed from a checkpoint written before numpyvae kept the count
    wall_seconds: float | None = 0.0

    def add_wall_seconds(self, seconds: float) -> None:
        """Advance the training clock (an unknown count stays unknown)."""
        if self.wall_seconds is not None:
            self.wall_seconds += seconds

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(config={**self.config.kept(), "total_steps": self.total_steps, "state": self.loop_state(),
                                  "wall_seconds": self.wall_seconds},
                          step=self.step, rng_state=self.model.rng.bit_generator.state, params=self.model.params,
                          optimizer=self.optimizer.state_dict(), batcher=self.batcher.state_dict())

    def loop_state(self) -> dict:
        """What the loop carries beside the weights, optimizer and data order (JSON-ready): the schedule's
        settings (its position is the step), the early-stopping record, the binarization generator. (The training
        clock is a measurement, not state a resumed run repeats: ``checkpoint`` keeps it beside this.)"""
        return {"schedule": self.schedule.state_dict(), "early_stopping": self.stopping.state_dict(),
                "binarizer_rng": self.binarizer.state_dict()}

    def kl_weight_at(self, step: int) -> float:
        """The KL weight of training step ``step`` (1-based): annealed linearly over --kl-warmup steps."""
        warmup = self.config.schedule.kl_warmup
        return self.config.model.kl_weight * (min(1.0, step / warmup) if warmup else 1.0)

    def objective_at(self, step: int) -> str:
        """The objective of training step ``step`` (1-based): the IWAE bound after --iwae-after steps, else
        --objective."""
        after = self.config.schedule.iwae_after
        return "iwae" if after and step > after else self.config.model.objective


def load_resumed(config: TrainConfig, given: set[str] = frozenset()) -> tuple[TrainConfig, Checkpoint | None]:
    """The configuration to run with, and the --resume checkpoint if there is one.

    A resumed run takes its kept settings from the checkpoint; a flag in ``given`` (set on the command line or
    by a preset) that contradicts one of them is a UsageError: the run's settings cannot change on resume, and
    silently ignoring the flag would mislead. Only the Options (--steps, --log-every, --out, --eval-k, ...)
    may change.
    """
    if not config.options.resume:
        return config, None
    path = config.options.resume
    saved = load_checkpoint(path)
    try:
        sections = kept_from_dict(saved.config["model"], saved.config.get("run"), str(path))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} holds no valid training run's settings ({error}); it cannot be resumed") \
            from None
    problem = contradictions(config, sections, given)
    if problem:
        raise UsageError(f"{problem} ({path})")
    options = config.options
    if options.steps is None and options.epochs is None:  # no new target given: carry on to the run's own
        options = dataclasses.replace(options, steps=saved.config.get("total_steps"))
    try:
        resumed = dataclasses.replace(config, **sections, options=options).validate()
    except (SettingError, TypeError) as error:
        raise CheckpointError(f"{path} holds invalid run settings ({error})") from None
    return resumed, saved


def make_optimizer(config: TrainConfig, params: dict[str, np.ndarray]) -> Optimizer:
    settings = config.optimizer
    if settings.optimizer == "adam":
        return Adam(params, lr=settings.lr)
    return SGD(params, lr=settings.lr, momentum=settings.momentum, nesterov=settings.nesterov)


def make_schedule(config: TrainConfig, total_steps: int) -> Schedule:
    """The schedule of a new run; the cosine horizon is fixed now (the run's total steps unless given)."""
    s = config.schedule
    return Schedule(s.lr_schedule, lr=config.optimizer.lr, warmup=s.lr_warmup, gamma=s.lr_gamma, every=s.lr_every,
                    horizon=s.lr_horizon or total_steps, lr_min=s.lr_min)


def check_fits(config: TrainConfig, input_dim: int, num_classes: int = NUM_CLASSES) -> None:
    """UsageError, with the estimate, when one training step of this configuration would not fit in memory.

    The estimate counts the weights, their gradients and the optimizer's state, and what one step caches: about
    four arrays per hidden unit of each row (the input, the pre-activation, the output, the dropout mask), six
    behind a gated layer (its pre-activation is twice as wide, and it keeps the gate's sigmoid), and five per
    pixel of each decoded row (the logits, the probabilities, the clip mask, the image, the gradient).
    The decoder sees K rows per image with --objective iwae; with --latent-dims every stochastic layer's
    networks count, and the VampPrior's encoders run on its M pseudo-inputs as on M more images.
    """
    model = config.model_for(input_dim, num_classes)
    itemsize = np.dtype(model.dtype).itemsize
    weights = sum(math.prod(shape) for shape in model.parameter_shapes().values())
    states = {"adam": 4, "sgd": 1 if config.optimizer.momentum else 0}[config.optimizer.optimizer]
    layers, batch = model.layers(), config.data.batch_size
    latent = sum(model.latent_dims or [model.latent_dim])  # every stochastic layer's code
    per_image = sum(_cached(layer.hidden_dims, layer.activations) for layer in layers) + 4 * latent
    per_decoded_row = (sum(_cached(layer.decoder_dims, layer.decoder_activations) for layer in layers)
                       + 5 * input_dim + 4 * latent)
    rows = batch + (model.pseudo_inputs if model.prior == "vampprior" else 0)  # rows through the encoders
    needed = itemsize * (weights * (2 + states) + rows * per_image + model.k * batch * per_decoded_row)
    if model.k > 1 and model.k * batch * per_decoded_row > rows * per_image + weights * (2 + states):
        check_memory(needed, f"--k {model.k} with --batch-size {batch} (one training step)",
                     per_unit=itemsize * batch * per_decoded_row, unit_flag="--k")
    else:
        check_memory(needed, f"one training step of this model (--hidden-dims, --decoder-dims, --batch-size {batch}"
                     + (", --pseudo-inputs)" if model.prior == "vampprior" else ")"))


def _cached(widths: list[int], activations: list[str]) -> int:
    """Arrays a step caches per row for hidden layers of these widths: four per unit, two more per unit of a
    ``widening`` layer (GLU: the Dense output of 2n and the gate's sigmoid of n against one pre-activation)."""
    return sum(width * (2 + 2 * ACTIVATIONS[name].widening) for width, name in zip(widths, activations, strict=True))


def start_run(config: TrainConfig, saved: Checkpoint | None, out: Path, train_images: np.ndarray,
              train_labels: np.ndarray | None = None, num_classes: int = NUM_CLASSES) -> Run:
    """A new run from the configuration, or the saved one continued when ``saved`` is given; the model's input
    size is the images' (N, H*W), a conditional model's classes are the data's ``num_classes``."""
    if config.data.conditional and train_labels is None:
        raise UsageError(f"--conditional needs labels, and {config.data.dataset} has none: sort the images into "
                         "one sub-folder per class, or store labels beside the images in an .npz")
    check_fits(config, train_images.shape[1], num_classes)
    config = dataclasses.replace(config, model=config.model_for(train_images.shape[1], num_classes))
    model = build(config.model, seed=config.run.seed)
    optimizer = make_optimizer(config, model.params)
    batch_size = config.data.batch_size
    if batch_size > len(train_images):
        raise UsageError(f"--batch-size {batch_size} is larger than the {len(train_images)} training images")
    batcher = MiniBatcher(train_images, batch_size, model.rng, model.dtype,
                          labels=train_labels if model.conditional else None, num_classes=model.num_classes)
    options = config.options
    if options.epochs:
        total_steps = round(options.epochs * batcher.steps_per_epoch)
        if total_steps < 1:
            raise UsageError(f"--epochs {options.epochs:g} is less than one step ({batcher.steps_per_epoch} steps "
                             f"an epoch at --batch-size {batch_size}); give at least --epochs "
                             f"{1 / batcher.steps_per_epoch:.2g}")
    else:
        total_steps = options.steps if options.steps is not None else DEFAULT_STEPS
    run = Run(config, model, optimizer, batcher, step=0, total_steps=total_steps, out=out,
              binarizer=BatchBinarizer(config.data.binarize, config.run.seed),
              schedule=make_schedule(config, total_steps), stopping=EarlyStopping(config.run.early_stopping))
    if saved is not None:
        restore(run, saved, options.resume)
    return run


def clock_reading(value) -> float | None:
    """A checkpoint's ``wall_seconds``: a finite count of seconds >= 0, or None (unknown); ValueError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"wall_seconds is {value!r}, not a count of seconds")
    return float(value)


def restore(run: Run, saved: Checkpoint, path: str) -> None:
    """Put the saved weights, optimizer state, data order, generator state, step and loop state into ``run``;
    a checkpoint written before the loop state existed keeps the new run's (the settings it ran with).

    The training clock continues from the checkpoint's ``wall_seconds`` (kept beside the settings and the loop
    state). A checkpoint written before numpyvae kept it does not say how long the run trained, so the count
    becomes unknown (None) rather than restarting at 0, which would be a wrong number; ``train`` says so.
    """
    restore_params(run.model, saved.params, path)
    try:
        run.optimizer.load_state_dict(saved.optimizer)
        run.batcher.load_state_dict(saved.batcher)
        run.model.rng.bit_generator.state = saved.rng_state
    except (KeyError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path} does not match this run's optimizer or data ({error}); "
                              "start a new run or resume with the data it was trained on") from None
    run.step = saved.step
    try:
        run.wall_seconds = clock_reading(saved.config.get("wall_seconds"))
    except ValueError as error:
        raise CheckpointError(f"{path} holds a damaged training clock ({error})") from None
    state = saved.config.get("state")
    if state is None:
        return
    try:
        run.schedule = Schedule.from_state_dict(state["schedule"])
        run.stopping = EarlyStopping(**state["early_stopping"])
        run.binarizer.load_state_dict(state["binarizer_rng"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} holds a damaged training-loop state ({error})") from None


__all__ = ["CHECKPOINT_NAME", "KEPT", "EarlyStopping", "Run", "StopRequest", "check_finite", "load_resumed",
           "make_optimizer", "make_schedule", "new_run_folder", "restore", "start_run"]
