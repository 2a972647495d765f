"""Finding a dataset's files on disk (fetching the missing ones) and loading them as arrays.

Where the files are looked for: ``<root>/<dataset>/`` with root = the ``data_dir`` argument
(``--data-dir``), else the environment variable ``NUMPYVAE_DATA_DIR``, else ``./data``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, UsageError
from ..formats.atomic import prepare_folder
from .catalog import DATASETS, FILES
from .fetch import fetch_dataset
from .idx import find_file, read_checksums, read_idx


@dataclass(frozen=True)
class Dataset:
    """Images as rows of uint8 pixels and their labels: (N, 784) and (N,)."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def resolve_data_dir(dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    """``<root>/<dataset>``, root being ``data_dir``, else $NUMPYVAE_DATA_DIR, else ./data."""
    root = data_dir if data_dir is not None else os.environ.get("NUMPYVAE_DATA_DIR", "data")
    return Path(root) / dataset




def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 progress: bool = True) -> Dataset:
    """Load a dataset's four IDX files, fetching the missing ones first when ``download`` is true.

    Fetched files are verified as they arrive; a folder with a ``SHA256SUMS`` file (sums of the
    decompressed files, as ``sha256sum`` writes them) is verified against it on every load.
    """
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    directory = resolve_data_dir(name, data_dir)
    if directory.parent.exists() and not directory.parent.is_dir():
        raise DataError(f"the data folder (--data-dir) {directory.parent} is a file, not a folder; point "
                        "--data-dir / NUMPYVAE_DATA_DIR at a folder")
    missing = [file for file in FILES.values() if find_file(directory, file) is None]
    fetched = " (downloads were turned off)"
    if missing and download:
        prepare_folder(directory, "the data folder (--data-dir)")  # before any download starts
        tried = fetch_dataset(name, directory, files=missing, progress=progress)
        fetched = f"; they could not be fetched (tried {'; '.join(tried)})"
    missing = [file for file in FILES.values() if find_file(directory, file) is None]
    if missing:
        raise DataError(f"{name} files {', '.join(missing)} not found in {directory.resolve()}{fetched}; put the "
                        "IDX files (.gz or raw) there, or point --data-dir / NUMPYVAE_DATA_DIR at a folder holding "
                        f"{name}/")
    sums = read_checksums(directory)
    arrays = {key: read_idx(find_file(directory, file), sums.get(file)) for key, file in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match; "
                            "replace the files with the original ones")
        arrays[f"{split}_images"] = images.reshape(len(images), -1)
    return Dataset(name, **arrays)
