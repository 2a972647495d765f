"""Datasets: MNIST and Fashion-MNIST by name, or your own images by their path, loaded as uint8 rows.

``--dataset`` is a name or a path:

    mnist, fashion-mnist      the four IDX files in ``<root>/<dataset>/``, root = the ``data_dir`` argument
                              (``--data-dir``), else $NUMPYVAE_DATA_DIR, else ``./data`` (fetched when missing)
    a folder of four IDX files  train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
                              t10k-labels-idx1-ubyte (each .gz or raw), images of any one size
    a folder of images        numpyvae.data.folder (labels by sub-folder)
    a .npy, .npz or IDX file  numpyvae.data.arrays

The IDX datasets and an .npz with train_images and test_images bring their own split. Any other data is
split here, the same way every time: ``held_out`` takes one image in ten (at least one) as the test set,
the first ones of ``numpy.random.default_rng(SPLIT_SEED).permutation(N)``, a seed of its own that no
``--seed`` changes, so every run and evaluation of the data sees the same test images; both sets keep the
images' order (a folder's sorted paths, an array's rows), and labels follow their images.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, UsageError
from ..formats.atomic import prepare_folder
from .arrays import read_arrays
from .catalog import DATASETS, FILES
from .fetch import fetch_dataset
from .folder import read_folder
from .idx import find_file, read_checksums, read_idx
from .images import check_labels, image_stack, parse_image_size, shown_size

SPLIT_SEED = 23  # the permutation that holds out the test set of data that has no split of its own
TEST_SHARE = 10  # one image in ten is held out
# the run setting this module adds to train.py's (--image-size): a checkpoint written before it trained on 28x28
NAMED_CLASSES = tuple(str(digit) for digit in range(10))  # MNIST's digits, Fashion-MNIST's ten garments


@dataclass(frozen=True)
class Dataset:
    """Images as rows of uint8 pixels (N, H*W), their labels (N,) or None, the images' (H, W), the class
    names (None for unlabelled data), and how the test set was made."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray | None
    test_images: np.ndarray
    test_labels: np.ndarray | None
    image_shape: tuple[int, int] = (28, 28)
    classes: tuple[str, ...] | None = None
    split: str = "the dataset's own training and test files"

    @property
    def num_classes(self) -> int:
        """How many classes the labels index (0 for unlabelled data)."""
        return len(self.classes) if self.classes else 0

    def describe(self) -> str:
        """One line: what the images are, their classes, and the split."""
        classes = "no labels" if not self.classes else f"{len(self.classes)} classes (" + ", ".join(
            self.classes[:6]) + (", ..." if len(self.classes) > 6 else "") + ")"
        return (f"{self.name}: {len(self.train_images):,} training and {len(self.test_images):,} test images of "
                f"{shown_size(self.image_shape)}, {classes}; {self.split}")


def resolve_data_dir(dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    """``<root>/<dataset>``, root being ``data_dir``, else $NUMPYVAE_DATA_DIR, else ./data."""
    root = data_dir if data_dir is not None else os.environ.get("NUMPYVAE_DATA_DIR", "data")
    return Path(root) / dataset


def dataset_argument(text: str) -> str:
    """``--dataset``: a name of DATASETS as it is, or an existing path made absolute (for the checkpoint)."""
    if text in DATASETS:
        return text
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} is neither one of {', '.join(DATASETS)} nor an existing folder or "
                                         "file")
    return str(path.resolve())


def short_name(dataset: str) -> str:
    """The dataset's name, or the last part of its path without the extension (for run folders)."""
    return dataset if dataset in DATASETS else (Path(dataset).stem or "data")


def held_out(count: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed split of ``count`` images: (training indices, test indices), each in increasing order."""
    test = max(1, count // TEST_SHARE)
    order = np.random.default_rng(SPLIT_SEED).permutation(count)
    return np.sort(order[test:]), np.sort(order[:test])


def load_dataset(name: str = "mnist", data_dir: str | os.PathLike | None = None, *, download: bool = True,
                 progress: bool = True, image_size: str | tuple[int, int] | None = None) -> Dataset:
    """The dataset ``name`` (one of DATASETS, or a path: see the module), its images resized to
    ``image_size`` ("HxW") when given (numpyvae.data.images).

    A named dataset's files are fetched first when missing and ``download`` is true. Fetched files are
    verified as they arrive; a folder with a ``SHA256SUMS`` file (sums of the decompressed files, as
    ``sha256sum`` writes them) is verified against it on every load.
    """
    size = parse_image_size(image_size)
    if name not in DATASETS:
        path = Path(name).expanduser()
        if not path.exists():
            raise UsageError(f"unknown dataset {name!r}: neither one of {', '.join(DATASETS)} nor an existing folder "
                             "or file")
        if data_dir is not None:
            raise UsageError(f"--data-dir locates {' and '.join(DATASETS)}; the dataset {path} is given by its path "
                             "and needs none: drop --data-dir")
        return load_path(path, size)
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
    arrays = read_idx_folder(directory, size)
    return rows(Dataset(name, **arrays, classes=NAMED_CLASSES))


def read_idx_folder(directory: Path, size: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """The four IDX files of ``directory`` (checked against its SHA256SUMS, if any): images (N, H, W) of one
    size (resized to ``size`` when given), and their labels."""
    sums = read_checksums(directory)
    arrays = {key: read_idx(find_file(directory, file), sums.get(file)) for key, file in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match; "
                            "replace the files with the original ones")
        arrays[f"{split}_images"] = image_stack(images, size, find_file(directory, FILES[f"{split}_images"]))
    train, test = arrays["train_images"].shape[1:], arrays["test_images"].shape[1:]
    if train != test:
        raise DataError(f"{directory}: the training images are {shown_size(train)} but the test images "
                        f"{shown_size(test)}; both need one size (or give --image-size)")
    return arrays


def load_path(path: Path, size: tuple[int, int] | None) -> Dataset:
    """A dataset given by its path (see the module), split by ``held_out`` unless it brings its own split."""
    name = str(path)
    if path.is_dir() and any(find_file(path, file) for file in FILES.values()):
        absent = [file for file in FILES.values() if find_file(path, file) is None]
        if absent:
            raise DataError(f"{path} holds some of the four IDX files but not {', '.join(absent)}; add them, or "
                            "remove the IDX files to read the folder's images")
        arrays = read_idx_folder(path, size)
        arrays = {key: check_labels(value, len(value), find_file(path, FILES[key])) if key.endswith("labels")
                  else value for key, value in arrays.items()}
        return rows(Dataset(name, **arrays, classes=class_names(arrays["train_labels"], arrays["test_labels"])))
    if path.is_dir():
        images, labels, classes = read_folder(path, size)
        arrays = {"images": images} if labels is None else {"images": images, "labels": labels}
        return split(name, arrays, None if classes is None else tuple(classes))
    arrays = read_arrays(path, size)
    labels = [arrays[key] for key in ("labels", "train_labels", "test_labels") if key in arrays]
    classes = class_names(*labels) if labels else None
    if "images" in arrays:
        return split(name, arrays, classes)
    return rows(Dataset(name, arrays["train_images"], arrays.get("train_labels"), arrays["test_images"],
                        arrays.get("test_labels"), classes=classes, split="the file's own train_images and "
                        "test_images"))


def class_names(*labels: np.ndarray) -> tuple[str, ...]:
    """Class names "0", "1", ... up to the largest label of any of ``labels``."""
    return tuple(str(index) for index in range(max(int(part.max()) for part in labels if len(part)) + 1))


def split(name: str, arrays: dict[str, np.ndarray], classes: tuple[str, ...] | None) -> Dataset:
    """Images (and labels) without a split of their own, split by ``held_out``."""
    images, labels = arrays["images"], arrays.get("labels")
    if len(images) < 2:
        raise DataError(f"{name} holds {len(images)} image; a dataset needs at least 2, one to train on and one to "
                        "test on")
    train, test = held_out(len(images))
    return rows(Dataset(name, images[train], None if labels is None else labels[train], images[test],
                        None if labels is None else labels[test], classes=classes,
                        split=f"the test set is {len(test):,} of the {len(images):,} images, held out by the fixed "
                              f"split (one in {TEST_SHARE}, numpy default_rng({SPLIT_SEED}))"))


def rows(dataset: Dataset) -> Dataset:
    """``dataset`` with its (N, H, W) images as rows (N, H*W) and ``image_shape`` set from them."""
    shape = dataset.train_images.shape[1:]
    return Dataset(dataset.name, dataset.train_images.reshape(len(dataset.train_images), -1), dataset.train_labels,
                   dataset.test_images.reshape(len(dataset.test_images), -1), dataset.test_labels,
                   image_shape=(int(shape[0]), int(shape[1])), classes=dataset.classes, split=dataset.split)
