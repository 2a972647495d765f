"""Checkpoints: one ``.npz`` file holding everything needed to continue a run exactly.

Contents (all plain arrays, so ``np.load(path, allow_pickle=False)`` reads it):

    format            "numpyvae-checkpoint"            version   1
    config            JSON: the model's and the run's settings (and, from training, the run's target, its loop
                      state and its training clock, ``wall_seconds``: numpyvae.training.state)
    step              training steps taken
    rng               JSON: the state of the generator behind dropout, eps and shuffling
    params/<name>     the model's parameters
    optimizer/<name>  the optimizer's state (momentum, Adam's moments and step count)
    batcher/<name>    the data order: this epoch's permutation and the position in it

Writes are atomic (``atomic.write_atomic``: a temporary file of its own in the same folder, flushed to disk,
renamed over the old checkpoint, the rename made durable), so a crash at any moment leaves either the old
checkpoint or the new one, never a torn file.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, NumericalError
from ..models.config import ModelConfig, read_model_config
from ..models.vae import VAE
from ..resources import check_memory
from .atomic import write_atomic

FORMAT = "numpyvae-checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    config: dict
    step: int
    rng_state: dict
    params: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray]
    batcher: dict[str, np.ndarray]


def _group(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {key[len(prefix) + 1:]: value for key, value in arrays.items() if key.startswith(prefix + "/")}


def save_checkpoint(path: str | os.PathLike, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` to ``path`` atomically (``write_atomic``); OutputError if it cannot be written."""
    try:  # strict JSON: a NaN or an infinity in the settings is refused, not written for strict parsers to reject
        config = json.dumps(checkpoint.config, allow_nan=False)
    except ValueError:
        raise NumericalError(f"refusing to write {path}: a setting or the loop's state is NaN or infinite") from None
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION), "config": np.array(config),
              "step": np.array(checkpoint.step, dtype=np.int64), "rng": np.array(json.dumps(checkpoint.rng_state))}
    for prefix in ("params", "optimizer", "batcher"):
        arrays.update({f"{prefix}/{name}": value for name, value in getattr(checkpoint, prefix).items()})
    write_atomic(path, lambda file: np.savez(file, **arrays), what="checkpoint")


SMALL_MEMBER = 1 << 20  # format, version, step, config and generator state: a few KB each
NPY_HEADER = 4096  # what an .npy member holds beyond its array's bytes (its header), at the most
MAX_IMAGES = 10 ** 8  # the data order of a training set of at most this many images (MNIST: 60,000)


def _member_sizes(file) -> dict[str, int]:
    """Each member's name (without .npy) and the size its zip header declares for it when inflated."""
    with zipfile.ZipFile(file) as archive:
        return {info.filename.removesuffix(".npy"): info.file_size for info in archive.infolist()}


def _check_members(sizes: dict[str, int], config: dict, path: Path) -> None:
    """Every member's declared size against what the model of ``config`` needs, before any is read: settings that
    do not fit the arrays, or an archive member that would inflate to more than its array, never size an
    allocation."""
    try:
        model = ModelConfig(**read_model_config(config["model"], str(path)))
    except (ValueError, TypeError, KeyError) as error:
        raise CheckpointError(f"{path} holds model settings numpyvae refuses: {error}") from None
    itemsize = 4 if model.dtype == "float32" else 8
    expected = {f"params/{name}": itemsize * math.prod(shape) for name, shape in model.parameter_shapes().items()}
    check_memory(2 * sum(expected.values()), f"the model of {path} (its weights and gradients)",
                 error=CheckpointError)
    names = {name for name in sizes if name.startswith("params/")}
    if names != set(expected):
        odd = sorted(names ^ set(expected))[0]
        raise CheckpointError(f"{path} holds a model of another architecture than its settings give ({odd} "
                              f"{'is missing' if odd in expected else 'is not part of it'})")
    largest = max(expected.values())
    for name, declared in sizes.items():
        group = name.partition("/")[0]
        limit = {"params": expected.get(name, 0), "optimizer": largest, "batcher": 8 * MAX_IMAGES}.get(group, 0)
        limit += NPY_HEADER if group in ("params", "optimizer", "batcher") else SMALL_MEMBER
        if group == "params" and declared < expected[name]:
            raise CheckpointError(f"{path} holds a model of another architecture than its settings give ({name}: "
                                  f"{declared:,} bytes where the settings need {expected[name]:,})")
        if declared > limit:
            raise CheckpointError(f"{path}: member {name} declares {declared:,} bytes where the model's settings "
                                  f"allow {limit:,}; the file is damaged or not a numpyvae checkpoint")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; any other file raises CheckpointError.

    The small members come first (the format, the settings); every other member's declared size is then
    checked against the model the settings describe before it is read (``_check_members``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the checkpoint.npz of an earlier run")
    try:
        with open(path, "rb") as file:
            sizes = _member_sizes(file)
            file.seek(0)
            for name in ("format", "version", "step", "config", "rng"):
                if sizes.get(name, 0) > SMALL_MEMBER:
                    raise CheckpointError(f"{path}: member {name} declares {sizes[name]:,} bytes; "
                                          "it is not a numpyvae checkpoint")
            with np.load(file, allow_pickle=False) as archive:  # closed even if unreadable
                if "format" not in archive.files or str(archive["format"]) != FORMAT:
                    raise CheckpointError(f"{path} is not a numpyvae checkpoint")
                if int(archive["version"]) != VERSION:
                    raise CheckpointError(f"{path} is a version {int(archive['version'])} checkpoint; "
                                          f"this numpyvae reads version {VERSION}")
                config = json.loads(str(archive["config"]))
                if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
                    raise CheckpointError(f"{path} lacks the model's settings; it cannot be used")
                _check_members(sizes, config, path)
                arrays = {key: archive[key] for key in archive.files}
        checkpoint = Checkpoint(config=config, step=int(arrays["step"]), rng_state=json.loads(str(arrays["rng"])),
                                params=_group(arrays, "params"), optimizer=_group(arrays, "optimizer"),
                                batcher=_group(arrays, "batcher"))
        if not isinstance(checkpoint.rng_state, dict):
            raise CheckpointError(f"{path} lacks the generator state; it cannot be used")
        return checkpoint
    except CheckpointError:
        raise
    except Exception as error:  # a damaged zip or array header can fail in many ways; all mean "unreadable"
        raise CheckpointError(f"{path} is truncated or corrupt and cannot be read ({type(error).__name__}); "
                              "use an earlier checkpoint or start a new run") from None


def restore_params(model: VAE, params: dict[str, np.ndarray], source: str | os.PathLike) -> None:
    """Copy saved parameters into ``model``; CheckpointError if they belong to another architecture."""
    if set(params) != set(model.params) or any(params[name].shape != param.shape
                                               for name, param in model.params.items()):
        raise CheckpointError(f"{source} holds a model of another architecture than {model.config}")
    broken = next((name for name, array in params.items() if not np.all(np.isfinite(array))), None)
    if broken is not None:
        raise CheckpointError(f"{source} holds NaN or infinite weights (first in {broken}); "
                              "use an earlier checkpoint of the run")
    for name, param in model.params.items():
        np.copyto(param, params[name])
