"""The flags of ``python train.py``: the parser with every default, their checks, and the run's settings.

RUN_SETTINGS are the flags that define a run; a checkpoint stores them and ``--resume`` takes them from it.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..cli import Parser
from ..data import DATA_SETTINGS, DATASETS, dataset_argument, image_size_argument
from ..errors import UsageError
from ..nn.layers import ACTIVATIONS
from ..nn.optim import SGD, Adam, Optimizer
from . import protocol
from .model_options import MODEL_SETTINGS, validate_model

OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32", "float64")
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
LATER_SETTINGS.update(DATA_SETTINGS)  # issue 23: --image-size (numpyvae.data.datasets)
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
    data.add_argument("--dataset", type=dataset_argument, default="mnist", metavar="NAME|PATH",
                      help=f"which image set: {', '.join(DATASETS)}, or the path of a folder of images (labelled by "
                           "sub-folder, or not), a .npy or .npz file, an IDX file, or a folder of four IDX files; "
                           "data without a split of its own has one image in ten held out as the test set by a "
                           "fixed permutation (README, Data)")
    data.add_argument("--image-size", type=image_size_argument, default=None, metavar="HxW",
                      help="height x width of the images (N for N x N): images of another size are resized to it "
                           "(Pillow's bilinear filter, aspect ratio not kept), flat (N, H*W) arrays are read as it "
                           "(default: the data's own size, which must then be one for all)")
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


def shown(value) -> str:
    """A setting as it is typed on the command line: lists space-separated, switches on or off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)
