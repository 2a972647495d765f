"""Checkpoints: one ``.npz`` file holding everything needed to continue a run exactly.

Contents (all plain arrays, so ``np.load(path, allow_pickle=False)`` reads it):

    format            "numpyvae-checkpoint"            version   1
    config            JSON: the model's and the run's settings
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
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import CheckpointError
from ..models.vae import VAE
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
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION),
              "config": np.array(json.dumps(checkpoint.config)), "step": np.array(checkpoint.step, dtype=np.int64),
              "rng": np.array(json.dumps(checkpoint.rng_state))}
    for prefix in ("params", "optimizer", "batcher"):
        arrays.update({f"{prefix}/{name}": value for name, value in getattr(checkpoint, prefix).items()})
    write_atomic(path, lambda file: np.savez(file, **arrays), what="checkpoint")


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by ``save_checkpoint``; any other file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the checkpoint.npz of an earlier run")
    try:
        with open(path, "rb") as file, np.load(file, allow_pickle=False) as archive:  # closed even if unreadable
            arrays = {key: archive[key] for key in archive.files}
        if arrays.get("format") is None or str(arrays["format"]) != FORMAT:
            raise CheckpointError(f"{path} is not a numpyvae checkpoint")
        if int(arrays["version"]) != VERSION:
            raise CheckpointError(f"{path} is a version {int(arrays['version'])} checkpoint; "
                                  f"this numpyvae reads version {VERSION}")
        checkpoint = Checkpoint(config=json.loads(str(arrays["config"])), step=int(arrays["step"]),
                                rng_state=json.loads(str(arrays["rng"])), params=_group(arrays, "params"),
                                optimizer=_group(arrays, "optimizer"), batcher=_group(arrays, "batcher"))
        if not isinstance(checkpoint.config.get("model"), dict) or not isinstance(checkpoint.rng_state, dict):
            raise CheckpointError(f"{path} lacks the model's settings or the generator state; it cannot be used")
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
