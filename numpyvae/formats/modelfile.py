"""A trained model as a file other frameworks read: safetensors with PyTorch's names, and ``load_model``.

The exported file holds, for every dense layer of the VAE, the two tensors a PyTorch ``nn.Linear`` holds,
under the same names numpyvae uses:

    encoder.fc1.weight   (out, in)    numpyvae's (in, out) weight, transposed
    encoder.fc1.bias     (out,)
    ...                  encoder.fc1..fcN, encoder.mean, encoder.std, decoder.fc1..fcM, decoder.output

and in the header's ``__metadata__`` (a map of strings to strings, as the format requires):

    numpyvae_format    "numpyvae-safetensors"
    numpyvae_version   "1"
    numpyvae_config    JSON: {"model": every setting VAE(**model) needs, defaults written out (hidden_dims,
                       decoder_dims, activations, decoder_activations, latent_dim, num_classes, ...),
                       "binarization": "none" | "static" | "dynamic", "dataset": ..., "step": ...}

A HierarchicalVAE's file holds ``encoder{i}.*``, ``decoder{i}.*`` (i >= 2), ``decoder1.*`` and, with the
VampPrior, ``prior.pseudo_inputs`` (M, input_dim), which is not a weight and is not transposed (docs/pytorch.md).

Other metadata keys (another tool's tags) are left alone; numpyvae's own are read strictly.
``load_model(path)`` returns a ready model (``numpyvae.models.build``) from such a file or from a numpyvae
checkpoint, told apart by their first bytes (a checkpoint is a zip archive).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, UsageError
from ..models import HierarchicalVAE, build
from ..models.config import ModelConfig, read_model_config
from ..models.vae import VAE
from . import safetensors as safetensors_format
from .checkpoint import Checkpoint, load_checkpoint, restore_params

FORMAT = "numpyvae-safetensors"
VERSION = "1"
ZIP_MAGIC = b"PK\x03\x04"  # every .npz checkpoint starts with a zip entry
FLOAT_DTYPES = {"float32": "F32", "float64": "F64"}
def model_settings(config, source) -> dict:
    """A stored model configuration, read strictly and checked (models.config.ModelConfig), with every setting
    written out: the architecture's defaults, and the defaults of the settings an older file predates.
    CheckpointError, naming ``source``, for anything else."""
    try:
        return read_model_config(config, str(source))
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{source} holds model settings numpyvae refuses: {error}") from None


def torch_layout(name: str, array):
    """A parameter as the file holds it: a weight transposed to PyTorch's (out, in), anything else (biases, the
    VampPrior's pseudo-inputs (M, input_dim)) as it is. Its own inverse; shapes go the same way."""
    if not name.endswith(".weight"):
        return array
    return array[::-1] if isinstance(array, tuple) else array.T


def expected_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """The name and PyTorch shape of every tensor the model of ``config`` (written out in full) holds."""
    return {name: torch_layout(name, shape) for name, shape in ModelConfig(**config).parameter_shapes().items()}


def check_tensors(tensors: dict[str, np.ndarray], config: dict, source) -> None:
    """Every tensor the settings call for, in the settings' dtype and shape, and no other; checked before
    the model is built, so settings that do not fit the file never size an allocation."""
    shapes = expected_shapes(config)
    extra, missing = sorted(set(tensors) - set(shapes)), sorted(set(shapes) - set(tensors))
    if extra or missing:
        raise CheckpointError(f"{source}: " + (f"tensor {missing[0]} is missing" if missing
                                               else f"tensor {extra[0]} is not part of the model its settings give"))
    for name, shape in shapes.items():
        if tensors[name].shape != shape:
            raise CheckpointError(f"{source}: tensor {name} has shape {list(tensors[name].shape)}, the model's "
                                  f"settings need {list(shape)}")
        if tensors[name].dtype != np.dtype(config["dtype"]):
            raise CheckpointError(f"{source}: tensor {name} is {tensors[name].dtype}, the model's settings say "
                                  f"{config['dtype']}; save the tensors in the settings' dtype")
        if not np.all(np.isfinite(tensors[name])):
            raise CheckpointError(f"{source} holds NaN or infinite weights (first in {name})")


def build_model(config: dict, source) -> VAE | HierarchicalVAE:
    """The model of a configuration ``model_settings`` has checked (``numpyvae.models.build``)."""
    return build(ModelConfig(**config))


# -- export -----------------------------------------------------------------------------------------

def metadata_of(model: VAE | HierarchicalVAE, run: dict | None = None, step: int | None = None,
                settings: dict | None = None) -> dict[str, str]:
    """The ``__metadata__`` of an export: the tag, the version and the settings as one JSON string; the model's
    are ``settings`` (a ModelConfig as a dict, written out), by default ``model.config`` (the VAE's is one)."""
    run = run or {}
    settings = {"model": model.config if settings is None else settings, "binarization": run.get("binarize", "none"),
                "dataset": run.get("dataset", "mnist"), "step": step}
    return {"numpyvae_format": FORMAT, "numpyvae_version": VERSION,
            "numpyvae_config": json.dumps(settings, allow_nan=False)}


def tensors_of(model: VAE | HierarchicalVAE) -> dict[str, np.ndarray]:
    """The model's parameters under their names, each weight transposed to PyTorch's (out, in)."""
    return {name: np.ascontiguousarray(torch_layout(name, param)) for name, param in model.params.items()}


def export(model: VAE | HierarchicalVAE, path: str | os.PathLike, run: dict | None = None, step: int | None = None,
           settings: dict | None = None) -> None:
    """Write ``model`` as a safetensors file with PyTorch's names and layouts (see the module's docstring).

    ``settings``: the model's configuration as a dict (a checkpoint's ``config["model"]``); needed for a
    HierarchicalVAE, whose ``config`` is its constructor's arguments. UsageError when they do not describe
    the model's tensors (nothing is written then)."""
    tensors = tensors_of(model)
    try:
        settings = read_model_config(model.config if settings is None else settings, "the model's settings")
        fits = expected_shapes(settings) == {name: tensor.shape for name, tensor in tensors.items()}
    except (ValueError, TypeError) as error:
        raise UsageError(f"export needs the model's configuration (settings=, a ModelConfig as a dict): {error}") \
            from None
    if not fits:
        raise UsageError("the settings given to export describe another model than the one exported")
    safetensors_format.write(path, tensors, metadata_of(model, run, step, settings))


# -- import -----------------------------------------------------------------------------------------

def read_settings(metadata: dict[str, str], source) -> dict:
    """The settings in an export's metadata, read strictly: the tag, the version, then the JSON."""
    if metadata.get("numpyvae_format") != FORMAT or "numpyvae_config" not in metadata:
        raise CheckpointError(f"{source} is a safetensors file without numpyvae's model settings in its metadata; "
                              "save it with metadata=model.numpyvae_metadata() (docs/pytorch.md)")
    if metadata.get("numpyvae_version") != VERSION:
        raise CheckpointError(f"{source} is numpyvae safetensors version {metadata.get('numpyvae_version')!r}; "
                              f"this numpyvae reads version {VERSION}")
    try:
        settings = json.loads(metadata["numpyvae_config"], parse_constant=_constant_refused)
    except (ValueError, RecursionError):
        raise CheckpointError(f"{source}: numpyvae_config in the metadata is not valid JSON") from None
    if not isinstance(settings, dict) or set(settings) != {"model", "binarization", "dataset", "step"}:
        raise CheckpointError(f"{source}: numpyvae_config must hold exactly model, binarization, dataset, step")
    if settings["binarization"] not in ("none", "static", "dynamic") or not isinstance(settings["dataset"], str) \
            or not (settings["step"] is None or type(settings["step"]) is int):
        raise CheckpointError(f"{source}: numpyvae_config has a bad binarization, dataset or step")
    settings["model"] = model_settings(settings["model"], source)
    return settings


def _constant_refused(name: str):
    raise ValueError(f"{name} is not JSON")


def load_params(model: VAE, tensors: dict[str, np.ndarray], source) -> None:
    """Copy exported (PyTorch-layout) tensors into ``model``; CheckpointError for any that do not fit."""
    extra, missing = sorted(set(tensors) - set(model.params)), sorted(set(model.params) - set(tensors))
    if extra or missing:
        raise CheckpointError(f"{source}: " + (f"tensor {missing[0]} is missing" if missing
                                               else f"tensor {extra[0]} is not part of this model"))
    for name, param in model.params.items():
        tensor = tensors[name]
        expected = torch_layout(name, param.shape)  # (out, in) for weights; the rest as they are
        if tensor.shape != expected:
            raise CheckpointError(f"{source}: tensor {name} has shape {list(tensor.shape)}, the model's settings "
                                  f"need {list(expected)}")
        if tensor.dtype != param.dtype:
            raise CheckpointError(f"{source}: tensor {name} is {tensor.dtype}, the model's settings say "
                                  f"{param.dtype}; save the tensors in the dtype of the settings")
        np.copyto(param, torch_layout(name, tensor))


def _from_export(path: str | os.PathLike) -> tuple[VAE, Checkpoint]:
    """The model in an exported safetensors file, and a Checkpoint record of its settings (no optimizer)."""
    # a checkpoint would have started like a zip archive, so the file is either an export or neither
    tensors, metadata = safetensors_format.read(path, "neither a numpyvae checkpoint nor a valid safetensors file")
    settings = read_settings(metadata, path)
    check_tensors(tensors, settings["model"], path)
    model = build_model(settings["model"], path)
    load_params(model, tensors, path)
    record = Checkpoint(config={"model": settings["model"], "run": {"dataset": settings["dataset"],
                                                                "binarize": settings["binarization"]}},
                        step=settings["step"], rng_state={}, params=model.params, optimizer={}, batcher={})
    return model, record


def _from_checkpoint(path: str | os.PathLike) -> tuple[VAE, Checkpoint]:
    """The model in a numpyvae checkpoint, rebuilt from its settings with its trained parameters, and the
    checkpoint."""
    checkpoint = load_checkpoint(path)  # its settings, then every member's size, checked before any is read
    model = build_model(model_settings(checkpoint.config["model"], path), path)
    restore_params(model, checkpoint.params, path)
    return model, checkpoint


def load_model_and_record(path: str | os.PathLike) -> tuple[VAE, Checkpoint]:
    """The model in a checkpoint or an exported safetensors file, told apart by the file's first bytes, and
    the record of how it was trained (the checkpoint itself, or one rebuilt from the export's settings).

    For the commands, which need the record too; everyone else calls ``load_model``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist; pass the checkpoint.npz of an earlier run "
                              "or an exported .safetensors file")
    with open(path, "rb") as file:
        is_checkpoint = file.read(len(ZIP_MAGIC)) == ZIP_MAGIC
    return _from_checkpoint(path) if is_checkpoint else _from_export(path)


def load_model(path: str | os.PathLike) -> VAE:
    """A ready VAE from a numpyvae checkpoint (``checkpoint.npz``) or a safetensors file exported by
    ``python -m numpyvae.export`` (or saved from PyTorch as docs/pytorch.md shows).

    Any file that is neither, or is damaged, raises CheckpointError with one line saying what is wrong.
    """
    return load_model_and_record(path)[0]

