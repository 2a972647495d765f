"""What every numpyvae command shares: flag errors in one line, and the project's errors without tracebacks."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from . import signals
from .config import Check, at_least
from .data import DATASETS, Dataset, dataset_argument, image_size_argument, load_dataset
from .errors import CheckpointError, Interrupt, NumpyvaeError, UsageError
from .formats.checkpoint import Checkpoint
from .formats.modelfile import load_model_and_record
from .models.vae import VAE


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" to a flag's help unless the help already explains its default or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if "default" in (action.help or "") or action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that shows every default in --help and reports a bad flag in one line, exit 2."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(**kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(UsageError.exit_code)


def checked(kind: type, check: Check) -> Callable[[str], int | float]:
    """An argparse ``type=``: a number of ``kind`` that passes ``check`` (numpyvae.config's checks), finite."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {'whole ' if kind is int else ''}number, got {text!r}") \
                from None
        if not math.isfinite(value) or not check.test(value):
            raise argparse.ArgumentTypeError(f"must be {check.says}, got {text}")
        return value
    return parse


def parsed(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` from a library parser: its ValueError becomes the one usage line, its message kept."""
    def type_(text: str):
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return type_


SEED = checked(int, at_least(0))  # every command's --seed: NumPy's generators take non-negative integers
COUNT = checked(int, at_least(1))


def k_values(text: str) -> list[int]:
    """``--k``: one number of importance samples K, or several separated by commas or spaces (1,100,5000)."""
    return [checked(int, at_least(0))(part) for part in text.split(",") if part]


def add_k_argument(parser: argparse.ArgumentParser, default: list[int], help: str) -> None:
    """The one spelling of K, the importance samples, in every command that takes several: ``--k 1,100,5000``
    or ``--k 1 100 5000``; ``args.k`` is the list."""
    parser.add_argument("--k", type=k_values, nargs="+", default=default, metavar="K", help=help)


def k_list(args: argparse.Namespace) -> list[int]:
    """The K values of ``add_k_argument``'s flag as one list."""
    return flat(args.k)


def flat(values: list) -> list:
    """A list flag's words, each parsed to a list, as one list."""
    return [one for word in values for one in (word if isinstance(word, list) else [word])]


def run_command(command: Callable[[argparse.Namespace], int], parser: Parser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run ``command``; a NumpyvaeError becomes ``error: <message>`` and its exit code.

    Ctrl-C and SIGTERM at any moment raise ``Interrupt`` where the command is, which ends it with one line
    (a command that can leave something to resume says so itself: see training.loop) and exit 128 + the signal.
    """
    previous = signals.install(signals.raise_interrupt)
    try:
        args = parser.parse_args(argv)
        return command(args)
    except NumpyvaeError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except Interrupt as interrupt:
        print(f"stopped by {interrupt.signal_name}; {interrupt.what_is_left}", file=sys.stderr)
        return interrupt.exit_code
    finally:
        signals.restore(previous)


def given_flags(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> set[str]:
    """The destinations of the flags that ``argv`` sets explicitly, as opposed to those left at their defaults.

    argparse fills a default only into a namespace that lacks the attribute, so parsing into a namespace
    pre-filled with a marker leaves the marker exactly where the command line said nothing.
    """
    unset = object()
    probe = argparse.Namespace(**{action.dest: unset for action in parser._actions if action.dest != argparse.SUPPRESS})
    parser.parse_args(argv, namespace=probe)
    return {dest for dest, value in vars(probe).items() if value is not unset}


def add_checkpoint_arguments(parser: Parser) -> None:
    """The arguments of a command that works on a trained checkpoint and its image set."""
    parser.add_argument("checkpoint", help="a checkpoint.npz written by train.py, or a .safetensors file written "
                        "by python -m numpyvae.export (or saved from PyTorch as docs/pytorch.md shows)")
    parser.add_argument("--dataset", type=dataset_argument, default=None, metavar="NAME|PATH",
                        help=f"image set: {', '.join(DATASETS)} or a path, as train.py takes it (default: the one "
                             "the checkpoint was trained on)")
    parser.add_argument("--image-size", type=image_size_argument, default=None, metavar="HxW",
                        help="height x width the images are resized to, or flat arrays read as, as train.py takes it "
                             "(default: the checkpoint's, else the data's own)")
    parser.add_argument("--data-dir", default=None, help="folder holding <dataset>/ (default: $NUMPYVAE_DATA_DIR, "
                        "else ./data)")


def require_one_layer_vae(model, what: str, checkpoint) -> None:
    """UsageError unless ``model`` is the one-layer VAE, the model ``what`` (a command) is written for."""
    if not isinstance(model, VAE):
        raise UsageError(f"{what} is written for the one-layer VAE; {checkpoint} holds a model of several "
                         "stochastic layers or a VampPrior (train.py --latent-dims)")


def load_checkpoint_and_data(args: argparse.Namespace, progress: bool = False) -> tuple[VAE, Checkpoint, Dataset]:
    """The trained model of ``args.checkpoint`` and its image set (or ``args.dataset``)."""
    model, checkpoint = load_model_and_record(args.checkpoint)
    run = checkpoint.config.get("run", {})
    name = args.dataset or run.get("dataset", "mnist")
    if args.dataset is None and name not in DATASETS and not Path(name).exists():
        raise CheckpointError(f"{args.checkpoint} was trained on {name}, which no longer exists; give its new place "
                              "with --dataset PATH")
    size = args.image_size or run.get("image_size")
    dataset = load_dataset(name, args.data_dir, progress=progress, image_size=size)
    if dataset.test_images.shape[1] != model.config["input_dim"]:  # possible for a model trained elsewhere
        raise CheckpointError(f"{args.checkpoint} holds a model of {model.config['input_dim']}-pixel images; "
                              f"{name}'s have {dataset.test_images.shape[1]} ({dataset.image_shape[0]}x"
                              f"{dataset.image_shape[1]}); give --image-size HxW to resize them")
    if model.conditional and dataset.num_classes != model.num_classes:
        raise CheckpointError(f"{args.checkpoint} holds a conditional model of {model.num_classes} classes; {name} "
                              f"has {dataset.num_classes or 'no labels'}")
    return model, checkpoint, dataset
