"""Training the seed VAE from the command line: ``python train.py`` (or ``python -m numpyvae.training``).

The defaults reproduce the seed run: SGD with learning rate 0.001, batch 128, 10,000 steps, latent
size 20, dropout keep probability 0.9. Every ``--log-every`` steps it prints ``step: N loss: X`` and
writes the seed's images; at the end it reports the test-set -ELBO and leaves a checkpoint that
``--resume`` continues from.
"""

from __future__ import annotations

import argparse
import csv
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import protocol
from .binarization import BatchBinarizer
from .checkpoint import Checkpoint, load_checkpoint, restore_params, save_checkpoint
from .cli import Parser, given_flags, run
from .data import DATASETS, Dataset, MiniBatcher, load_dataset, to_float
from .errors import CheckpointError, NumericalError, UsageError
from .evaluate import evaluate, format_table, negative_elbo
from .files import prepare_folder, write_json
from .images import save_grid, save_image
from .layers import ACTIVATIONS
from .model_options import MODEL_SETTINGS, build_model, labels_if_conditional, validate_model
from .optim import SGD, Adam, Optimizer, clip_by_global_norm, global_norm
from .schedules import Schedule
from .vae import VAE
from .visualize import write_all

OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32", "float64")
TEST_IMAGE = 6  # the seed's input.png is test image 6
GRID = 64  # 8x8 grids of reconstructions and prior samples
CHECKPOINT_NAME = "checkpoint.npz"
DEFAULT_STEPS = 10_000  # the seed's run
# settings that define the run; on --resume they come from the checkpoint, not the command line
RUN_SETTINGS = ("dataset", "seed", "dtype", "batch_size", "optimizer", "lr", "momentum", "nesterov",
                "latent_dim", "hidden_dims", "keep_prob", "model", "reconstruction", "kl_weight", "kl_warmup",
                "clip_grad")
RUN_SETTINGS = RUN_SETTINGS + MODEL_SETTINGS  # the model family's flags (model_options.py)
# issue 14: binarization, validation and early stopping, the learning-rate schedule; a checkpoint written
# before them lacks these and resumes with the defaults, which are the runs it made
LATER_SETTINGS = {"binarize": "none", "validation": 0, "early_stopping": 0, "lr_schedule": "constant",
                  "lr_warmup": 0, "lr_gamma": 0.1, "lr_every": 1000, "lr_min": 0.0, "lr_horizon": None}
RUN_SETTINGS += tuple(LATER_SETTINGS)


def build_parser() -> Parser:
    parser = Parser(prog="python train.py",
                    description="Train the seed's variational autoencoder on MNIST in NumPy, every gradient by hand.")
    run = parser.add_argument_group("run")
    run.add_argument("--steps", type=int, default=None, help=f"total training steps (default: {DEFAULT_STEPS:,}; "
                     "on --resume: the total to reach, counting the steps already taken; without it, the run's "
                     "own target)")
    run.add_argument("--epochs", type=float, default=None,
                     help="train for this many passes over the training set instead of --steps")
    run.add_argument("--seed", type=int, default=0, help="seed for the weights, dropout, noise and data order")
    run.add_argument("--log-every", type=int, default=1000,
                     help="print the loss, write images and evaluate on the test set every this many steps")
    run.add_argument("--checkpoint-every", type=int, default=1000, help="save a checkpoint every this many steps")
    run.add_argument("--out", default=None, help="folder for images, metrics and the checkpoint "
                     "(default: a new runs/<dataset>-<time> folder; on --resume, the checkpoint's folder)")
    run.add_argument("--resume", metavar="CHECKPOINT", default=None,
                     help="continue the run saved in this checkpoint.npz")
    run.add_argument("--no-progress", action="store_true", help="no progress bar (for logs and CI)")
    run.add_argument("--eval-k", type=int, default=0, metavar="K",
                     help="at the end, also estimate -log p(x) by the IWAE bound with K samples per test image "
                          "(0: skip; 100 takes about 20 s)")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="mnist", help="which image set")
    data.add_argument("--data-dir", default=None, help="folder holding <dataset>/ with the IDX files "
                      "(default: $NUMPYVAE_DATA_DIR, else ./data); missing files are downloaded")
    data.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=("vae", "ae"), default="vae",
                       help="vae: the seed's VAE; ae: the plain autoencoder (no sampling, no KL)")
    model.add_argument("--latent-dim", type=int, default=20, help="size of the latent code z")
    model.add_argument("--hidden-dims", type=int, nargs="+", default=[500, 500], metavar="WIDTH",
                       help="widths of the encoder's hidden layers, one or more (the decoder mirrors them)")
    model.add_argument("--decoder-dims", type=int, nargs="+", default=None, metavar="WIDTH",
                       help="widths of the decoder's hidden layers (default: --hidden-dims reversed)")
    model.add_argument("--activations", nargs="+", default=None, metavar="NAME",
                       help=f"each encoder hidden layer's activation, one of {', '.join(ACTIVATIONS)}; one name "
                            "for all layers or one per layer (default: elu for all but the last layer, tanh for "
                            "the last: the seed's elu tanh)")
    model.add_argument("--decoder-activations", nargs="+", default=None, metavar="NAME",
                       help="each decoder hidden layer's activation (default: the encoder's reversed, the seed's "
                            "tanh elu)")
    model.add_argument("--conditional", action="store_true",
                       help="the conditional VAE: the one-hot label joins x at the encoder and z at the decoder")
    model.add_argument("--objective", choices=("elbo", "iwae"), default="elbo",
                       help="elbo: the seed's one-sample ELBO; iwae: the importance-weighted bound with --k samples")
    model.add_argument("--k", type=int, default=None,
                       help="importance samples per image for --objective iwae (default: 1, which is the ELBO "
                            "with a sampled KL)")
    model.add_argument("--kl", choices=("analytic", "sampled"), default="analytic",
                       help="analytic: the seed's closed-form KL; sampled: log q(z|x) - log p(z) at the sampled z")
    model.add_argument("--likelihood", choices=("clipped", "exact"), default="clipped",
                       help="clipped: the seed's probabilities clipped to [1e-8, 1 - 1e-8]; exact: log sigmoid "
                            "by logaddexp, no clip")
    model.add_argument("--keep-prob", type=float, default=0.9, help="dropout keep probability, in (0, 1]")
    model.add_argument("--reconstruction", choices=("bernoulli", "mse"), default="bernoulli",
                       help="bernoulli: the seed's cross-entropy; mse: a Gaussian (squared-error) likelihood")
    model.add_argument("--kl-weight", type=float, default=1.0, help="weight of the KL term (beta-VAE)")
    model.add_argument("--kl-warmup", type=int, default=0,
                       help="raise the KL weight linearly from 0 over this many steps (KL annealing)")
    model.add_argument("--dtype", choices=DTYPES, default="float32", help="floating-point type of the run")
    optimizer = parser.add_argument_group("optimizer")
    optimizer.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd", help="sgd (the seed's) or adam")
    optimizer.add_argument("--lr", type=float, default=0.001, help="learning rate")
    optimizer.add_argument("--momentum", type=float, default=0.0, help="SGD momentum, in [0, 1)")
    optimizer.add_argument("--nesterov", action="store_true", help="Nesterov momentum (SGD, momentum > 0)")
    optimizer.add_argument("--batch-size", type=int, default=128, help="images per training step")
    optimizer.add_argument("--clip-grad", type=float, default=None, metavar="NORM",
                           help="scale the gradients down whenever their global L2 norm exceeds NORM")
    protocol.add_arguments(parser)
    return parser


def validate(args: argparse.Namespace) -> None:
    """Raise UsageError naming the first flag out of range."""
    checks = [
        (args.steps is None or args.steps >= 1, "--steps must be at least 1"),
        (args.epochs is None or args.epochs > 0, "--epochs must be positive"),
        (args.log_every >= 1, "--log-every must be at least 1"),
        (args.checkpoint_every >= 1, "--checkpoint-every must be at least 1"),
        (args.lr > 0, f"--lr must be positive, got {args.lr}"),
        (0 <= args.momentum < 1, f"--momentum must be in [0, 1), got {args.momentum}"),
        (not args.nesterov or args.momentum > 0, "--nesterov needs --momentum > 0"),
        (args.batch_size >= 1, f"--batch-size must be at least 1, got {args.batch_size}"),
        (0 < args.keep_prob <= 1, f"--keep-prob must be in (0, 1], got {args.keep_prob}"),
        (args.latent_dim >= 1, f"--latent-dim must be at least 1, got {args.latent_dim}"),
        (min(args.hidden_dims) >= 1, f"--hidden-dims must be at least 1, got {args.hidden_dims}"),
        (args.kl_weight >= 0, f"--kl-weight must be non-negative, got {args.kl_weight}"),
        (args.kl_warmup >= 0, f"--kl-warmup must be non-negative, got {args.kl_warmup}"),
        (args.clip_grad is None or args.clip_grad > 0, f"--clip-grad must be positive, got {args.clip_grad}"),
        (args.eval_k >= 0, f"--eval-k must be non-negative, got {args.eval_k}"),
        *protocol.checks(args),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    validate_model(args)


def make_optimizer(args: argparse.Namespace, params: dict[str, np.ndarray]) -> Optimizer:
    if args.optimizer == "adam":
        return Adam(params, lr=args.lr)
    return SGD(params, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov)


def kl_weight_at(step: int, args: argparse.Namespace) -> float:
    """The KL weight for training step ``step`` (1-based): annealed linearly over --kl-warmup steps."""
    return args.kl_weight * (min(1.0, step / args.kl_warmup) if args.kl_warmup else 1.0)


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
    stamp = time.strftime("%Y%m%d-%H%M%S")
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


def shown(value) -> str:
    """A setting as it is typed on the command line: lists space-separated, switches on or off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


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
              train_labels: np.ndarray | None = None) -> Run:
    """A new run from the flags, or the saved one continued when ``saved`` is given."""
    model = build_model(args)
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


class Reporter:
    """What a person sees: the seed's PNGs, 8x8 grids, metrics.csv, and the ``step: N loss: X`` lines."""

    def __init__(self, run: Run, test_images: np.ndarray, test_labels: np.ndarray | None = None,
                 validation: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.run, self.test_images = run, test_images
        self.validation, self.validation_loss = validation, None
        model = run.model
        self.test_labels = labels_if_conditional(model, test_labels)  # a conditional model's images and samples
        self.first_labels = None if self.test_labels is None else self.test_labels[:GRID]
        self.prior_labels = np.arange(GRID) % model.num_classes if model.conditional else None  # 0..9 in turn
        self.first_images = to_float(test_images[:GRID], model.dtype)  # test image 6 among them
        # the same prior draws at every report, so the pictures show the model changing, not the noise
        self.prior_z = np.random.default_rng(run.args.seed + 1).standard_normal(
            (GRID, model.config["latent_dim"])).astype(model.dtype)
        save_image(self.first_images[TEST_IMAGE], run.out / "input.png")
        save_grid(self.first_images, run.out / "input_grid.png", columns=8)
        self.metrics = run.out / "metrics.csv"
        if not self.metrics.exists():
            self.metrics.write_text("step,train_loss,test_loss" + (",validation_loss" if validation is not None
                                                                     else "") + "\n")

    def report(self, step: int, train_loss: float) -> float:
        model, out = self.run.model, self.run.out
        test_loss = negative_elbo(model, self.test_images, labels=self.test_labels)
        reconstructions = model.reconstruct(self.first_images, self.first_labels)
        samples = model.decode(self.prior_z, self.prior_labels)
        save_image(reconstructions[TEST_IMAGE], out / f"{step}.png")  # the seed's two pictures come from
        save_image(samples[0], out / f"z_{step}.png")                  # the grids' own rows
        save_grid(reconstructions, out / f"reconstructions_{step}.png", columns=8)
        save_grid(samples, out / f"samples_{step}.png", columns=8)
        row = [step, f"{train_loss:.4f}", f"{test_loss:.4f}"]
        if self.validation is not None:
            images, labels = self.validation
            self.validation_loss = negative_elbo(model, images, labels=labels_if_conditional(model, labels))
            row.append(f"{self.validation_loss:.4f}")
        with open(self.metrics, "a", newline="") as file:
            csv.writer(file).writerow(row)
        return test_loss


def train(args: argparse.Namespace, given: set[str] = frozenset()) -> dict:
    """Run the training loop, then the final evaluation; returns a summary (test loss, wall time, folder).

    ``given`` names the flags set on the command line, which a resumed run checks against its checkpoint.
    """
    started = time.perf_counter()
    validate(args)
    saved = load_resumed(args, given)  # before the data: a bad checkpoint should not wait for a download
    # the run's folder, checked before the data too: a folder that cannot be written fails at once
    out = Path(args.out) if args.out else (Path(args.resume).parent if saved else new_run_folder(args.dataset))
    args.out = str(prepare_folder(out, "--out"))
    dataset = load_dataset(args.dataset, args.data_dir, download=not args.no_download, progress=not args.no_progress)
    dataset, validation = protocol.prepare_data(dataset, args)
    run = start_run(args, saved, dataset.train_images, dataset.train_labels)
    stopped_by = run_steps(run, Reporter(run, dataset.test_images, dataset.test_labels, validation))
    return finish(run, dataset, stopped_by, time.perf_counter() - started)


def run_steps(run: Run, reporter: Reporter) -> str | None:
    """Train up to ``run.total_steps``, reporting and checkpointing on schedule; the name of the signal that
    stopped it early, if any. The checkpoint on disk is up to date when it returns."""
    args, model, optimizer = run.args, run.model, run.optimizer
    checkpoint_path = run.out / CHECKPOINT_NAME
    loss_sum, loss_count = 0.0, 0
    progress = tqdm(total=run.total_steps, initial=run.step, disable=args.no_progress, unit="step",
                    dynamic_ncols=True, desc="training")
    with StopRequest() as stop:
        while run.step < run.total_steps and stop.signal_name is None and not run.stopping.stopped:
            model.kl_weight = kl_weight_at(run.step + 1, args)
            optimizer.lr = run.schedule(run.step)
            with np.errstate(all="ignore"):  # check_finite reports a blow-up better than NumPy's warnings
                loss = model.loss(run.binarizer(run.batcher.next_batch()), labels=run.batcher.last_labels)
                model.backward()
            check_finite(model, loss, run.step + 1, checkpoint_path)
            if args.clip_grad is not None:
                clip_by_global_norm(model.grads, args.clip_grad)
            optimizer.step(model.grads)
            run.step += 1
            loss_sum, loss_count = loss_sum + loss, loss_count + 1
            progress.update()
            if run.step % 50 == 0:
                progress.set_postfix(loss=f"{loss:.2f}", refresh=False)
            if run.step % args.log_every == 0 or run.step == run.total_steps:
                train_loss = loss_sum / loss_count
                test_loss = reporter.report(run.step, train_loss)
                progress.write(f"step: {run.step} loss: {train_loss:.4f} test: {test_loss:.4f}"
                               + protocol.track_validation(run, reporter.validation_loss))
                loss_sum, loss_count = 0.0, 0
            if run.step % args.checkpoint_every == 0:
                save_checkpoint(checkpoint_path, run.checkpoint())
    progress.close()
    save_checkpoint(checkpoint_path, run.checkpoint())
    if stop.signal_name is not None:
        print(f"stopped by {stop.signal_name} after step {run.step}; checkpoint saved; resume with:\n"
              f"  python train.py --resume {checkpoint_path}", file=sys.stderr)
    return stop.signal_name


def finish(run: Run, dataset: Dataset, stopped_by: str | None, seconds_so_far: float) -> dict:
    """The final evaluation (evaluation.json; IWAE with --eval-k), the pictures, and summary.json.

    A run stopped by a signal gets only the quick -ELBO: whoever pressed Ctrl-C wants it to end.
    """
    started = time.perf_counter()
    model = run.model
    weights = protocol.use_best_weights(run)
    results = evaluate(model, dataset.test_images, k=0 if stopped_by else run.args.eval_k, seed=0,
                       progress=not run.args.no_progress, labels=labels_if_conditional(model, dataset.test_labels),
                       workers=run.args.eval_workers)
    results.update(protocol.data_protocol(run.args), weights=weights)
    write_json(run.out / "evaluation.json", results)
    if not stopped_by:
        write_all(model, dataset, run.out, metrics=run.out / "metrics.csv", seed=run.args.seed)
    test_loss = results["negative_elbo"] if model.variational else results["reconstruction"]
    summary = {"step": run.step, "test_loss": test_loss, "seconds": seconds_so_far + time.perf_counter() - started,
               "out": str(run.out), "stopped_by": stopped_by}
    write_json(run.out / "summary.json", summary)
    print(format_table(results))
    print(f"data: {results['binarization_note']}; weights: {weights}")
    label = "test -ELBO" if model.variational else "test reconstruction loss"
    if model.conditional:
        label += " (a bound on -log p(x | y))"
    print(f"{label}: {test_loss:.2f} nats over {len(dataset.test_images)} test images; "
          f"{summary['seconds']:.1f} s; results in {run.out}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    protocol.apply_preset(parser, sys.argv[1:] if argv is None else argv)

    def train_command(args: argparse.Namespace) -> int:
        given = given_flags(parser, argv)
        if args.preset:  # the preset's values count as given: a resumed run checks them like flags
            given |= set(protocol.PRESETS[args.preset])
        stopped_by = train(args, given)["stopped_by"]
        return 128 + signal.Signals[stopped_by].value if stopped_by else 0  # the shell's convention

    return run(train_command, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
