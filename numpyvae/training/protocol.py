"""The training protocol of the literature, as options of ``train.py``.

    --binarize none|static|dynamic      binarized MNIST (numpyvae.data.binarization); the test set of a binarized
                                        run is one fixed draw, so every evaluation sees the same images
    --validation N                      hold out the last N training images; their -ELBO is logged beside
                                        the test one at every report
    --early-stopping PATIENCE           stop when the validation -ELBO has not improved for that many reports
    best.npz                            the checkpoint of the best validation -ELBO; the final report is on it
    --lr-schedule ...                   the learning rate of every step (numpyvae.nn.schedules), with warm-up
    --preset binarized-mnist            the 10-minute recipe of docs/results.md

Everything the loop carries between steps (the schedule, the early-stopping record, the binarization
generator) is kept in the checkpoint, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..data import Dataset
from ..data.binarization import BINARIZATIONS, TEST_DRAW_SEED, VALIDATION_DRAW_SEED, fixed_binarization
from ..errors import CheckpointError, UsageError
from ..formats.checkpoint import load_checkpoint, restore_params, save_checkpoint
from ..nn.schedules import SCHEDULES, Schedule

BEST_NAME = "best.npz"

# the recipe of docs/results.md: the seed's 784-500-500-20 model without dropout, dynamically binarized MNIST,
# Adam at 0.003 with a 200-step warm-up and a cosine decay, batch 200, 70 epochs (21,000 steps): 463 s of
# training on this project's 2-core machine, IWAE(5000) 87.41 nats over the 10,000 test images
PRESETS = {
    "binarized-mnist": dict(binarize="dynamic", keep_prob=1.0, optimizer="adam", lr=3e-3, batch_size=200,
                            lr_schedule="cosine", lr_warmup=200, epochs=70, eval_k=5000, eval_workers=2,
                            log_every=6000, checkpoint_every=6000),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of this module, in groups of their own."""
    data = parser.add_argument_group("binarization and validation")
    data.add_argument("--binarize", choices=BINARIZATIONS, default="none",
                      help="none: grey levels (the seed's; not comparable with published likelihoods); "
                           "static: pixel > 0.5 (not Larochelle's fixed binarization); dynamic: each training "
                           f"batch drawn as Bernoulli(pixel), the test set one fixed draw (seed {TEST_DRAW_SEED})")
    data.add_argument("--validation", type=int, default=0, metavar="N",
                      help="hold out the last N training images; log their -ELBO and keep best.npz (0: none)")
    data.add_argument("--early-stopping", type=int, default=0, metavar="PATIENCE",
                      help="stop when the validation -ELBO has not improved for PATIENCE reports in a row "
                           "(a report every --log-every steps; 0: never; needs --validation)")
    schedule = parser.add_argument_group("learning-rate schedule")
    schedule.add_argument("--lr-schedule", choices=SCHEDULES, default="constant",
                          help="constant: --lr throughout; step: times --lr-gamma every --lr-every steps; "
                               "exponential: the same decay, smoothly; cosine: from --lr down to --lr-min over "
                               "--lr-horizon steps")
    schedule.add_argument("--lr-warmup", type=int, default=0, metavar="STEPS",
                          help="raise the rate linearly over the first STEPS steps")
    schedule.add_argument("--lr-gamma", type=float, default=0.1, help="decay factor (step, exponential)")
    schedule.add_argument("--lr-every", type=int, default=1000, metavar="STEPS",
                          help="steps per decay by --lr-gamma (step, exponential)")
    schedule.add_argument("--lr-min", type=float, default=0.0, help="the rate the cosine ends at")
    schedule.add_argument("--lr-horizon", type=int, default=None, metavar="STEPS",
                          help="steps of the cosine (default: the run's total steps when it starts)")
    final = parser.add_argument_group("final evaluation")
    final.add_argument("--eval-workers", type=int, default=1,
                       help="processes for the final IWAE pass (--eval-k); 2 keeps both cores of a 2-core machine busy")
    preset = parser.add_argument_group("preset")
    preset.add_argument("--preset", choices=sorted(PRESETS), default=None,
                        help="binarized-mnist: the recipe of docs/results.md (" +
                             ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in PRESETS["binarized-mnist"].items())
                             + "); flags given beside it win")


def checks(args: argparse.Namespace) -> list[tuple[bool, str]]:
    """(condition, message) pairs for ``training.validate``: each flag in range, none given in vain."""
    decaying = args.lr_schedule in ("step", "exponential")
    return [
        (args.eval_workers >= 1, f"--eval-workers must be at least 1, got {args.eval_workers}"),
        (args.validation >= 0, f"--validation must be at least 0, got {args.validation}"),
        (args.early_stopping >= 0, f"--early-stopping must be at least 0, got {args.early_stopping}"),
        (not args.early_stopping or args.validation > 0, "--early-stopping needs --validation N"),
        (args.lr_warmup >= 0, f"--lr-warmup must be at least 0, got {args.lr_warmup}"),
        (0 < args.lr_gamma <= 1, f"--lr-gamma must be in (0, 1], got {args.lr_gamma}"),
        (args.lr_every >= 1, f"--lr-every must be at least 1, got {args.lr_every}"),
        (0 <= args.lr_min <= args.lr, f"--lr-min must be in [0, --lr], got {args.lr_min}"),
        (args.lr_horizon is None or args.lr_horizon >= 1, f"--lr-horizon must be at least 1, got {args.lr_horizon}"),
        (decaying or (args.lr_gamma == 0.1 and args.lr_every == 1000),
         "--lr-gamma and --lr-every need --lr-schedule step or exponential"),
        (args.lr_schedule == "cosine" or (args.lr_min == 0 and args.lr_horizon is None),
         "--lr-min and --lr-horizon need --lr-schedule cosine"),
    ]


def apply_preset(parser: argparse.ArgumentParser, argv: list[str]) -> None:
    """Make the chosen preset's values the parser's defaults, so that flags given beside it still win."""
    known, _ = parser.parse_known_args(argv)
    if known.preset:
        values = dict(PRESETS[known.preset])
        if known.steps is not None:  # --steps beside the preset replaces its --epochs
            values.pop("epochs", None)
        parser.set_defaults(**values)


def make_schedule(args: argparse.Namespace, total_steps: int) -> Schedule:
    """The schedule of a new run; the cosine horizon is fixed now (the run's total steps unless given)."""
    return Schedule(args.lr_schedule, lr=args.lr, warmup=args.lr_warmup, gamma=args.lr_gamma, every=args.lr_every,
                    horizon=args.lr_horizon or total_steps, lr_min=args.lr_min)


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


def restore_loop_state(run, state: dict | None, path: str) -> None:
    """Put the saved schedule, early-stopping record and binarization generator into ``run``; a checkpoint
    written before they existed keeps the new run's (the settings it ran with)."""
    if state is None:
        return
    try:
        run.schedule = Schedule.from_state_dict(state["schedule"])
        run.stopping = EarlyStopping(**state["early_stopping"])
        run.binarizer.load_state_dict(state["binarizer_rng"])
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} holds a damaged training-loop state ({error})") from None


def prepare_data(dataset: Dataset, args: argparse.Namespace) -> tuple[Dataset, tuple[np.ndarray, np.ndarray] | None]:
    """The training set less the held-out validation images and labels, and the test and validation images as
    fixed binarized draws (uint8 0 and 255) when the run binarizes.

    Returns the dataset to train and test on, and the validation (images, labels) or None.
    """
    train, labels = dataset.train_images, dataset.train_labels
    if args.validation >= len(train):
        raise UsageError(f"--validation {args.validation} leaves no training images (there are {len(train)})")
    validation = None
    if args.validation:
        held_out = fixed_binarization(train[-args.validation:], args.binarize, seed=VALIDATION_DRAW_SEED)
        unlabelled = labels is None  # images of your own may come without labels (numpyvae.data.datasets)
        validation = (held_out, None if unlabelled else labels[-args.validation:])
        train, labels = train[:-args.validation], None if unlabelled else labels[:-args.validation]
    test = fixed_binarization(dataset.test_images, args.binarize, seed=TEST_DRAW_SEED)
    return dataclasses.replace(dataset, train_images=train, train_labels=labels, test_images=test), validation


def data_protocol(args: argparse.Namespace) -> dict:
    """How the evaluated images were made, for the report and evaluation.json."""
    notes = {"none": "grey levels (not comparable with published binarized-MNIST likelihoods)",
             "static": "binarized at 0.5 (static; not Larochelle's fixed binarization)",
             "dynamic": f"dynamically binarized training, test set one fixed Bernoulli draw (seed {TEST_DRAW_SEED})"}
    result = {"binarization": args.binarize, "binarization_note": notes[args.binarize],
              "validation_images": args.validation}
    if args.binarize == "dynamic":
        result["binarization_seed"] = TEST_DRAW_SEED
    return result


def track_validation(run, value: float | None) -> str:
    """After a report: update the early-stopping record, write best.npz on a new best; the text to print.

    Only the reports every --log-every steps count: the extra one at the end of a run that stops elsewhere
    is printed but not recorded, so that a run stopped and resumed keeps the record of one made in one go.
    """
    if value is None:
        return ""
    if run.step % run.args.log_every:
        return f" validation: {value:.4f}"
    improved = run.stopping.update(value, run.step)
    if improved:
        save_checkpoint(run.out / BEST_NAME, run.checkpoint())
    note = f" validation: {value:.4f}" + (" (best)" if improved else f" (best {run.stopping.best:.4f})")
    if run.stopping.stopped:
        note += (f"\nearly stopping: no better validation -ELBO in {run.stopping.patience} reports since step "
                 f"{run.stopping.best_step}")
    return note


def use_best_weights(run) -> str:
    """Load best.npz into the model when the run kept one; which weights the final report is on."""
    best = run.out / BEST_NAME
    if not run.args.validation or not best.exists():
        return f"final (step {run.step})"
    saved = load_checkpoint(best)
    restore_params(run.model, saved.params, best)
    value = saved.config.get("state", {}).get("early_stopping", {}).get("best")
    shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else "?"
    return f"best.npz (step {saved.step}, validation -ELBO {shown})"
