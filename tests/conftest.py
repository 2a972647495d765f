"""Shared fixtures: the real datasets (through NUMPYVAE_DATA_DIR) and tiny synthetic IDX files."""

import gzip
import os

import numpy as np
import pytest

from numpyvae.data import idx_bytes


@pytest.fixture(scope="session")
def data_root():
    """The folder holding mnist/ and fashion-mnist/, as CI and the README's test command set it."""
    root = os.environ.get("NUMPYVAE_DATA_DIR")
    if not root:
        pytest.skip("NUMPYVAE_DATA_DIR is not set; the README's test command sets it to ../shared/data")
    return root


@pytest.fixture(scope="session")
def mnist(data_root):
    from numpyvae.data import load_dataset
    return load_dataset("mnist", data_root, download=False, progress=False)


# a run of train.py small enough to take a fraction of a second on the tiny dataset, offline
SMALL_RUN = ["--hidden-dims", "16", "12", "--latent-dim", "3", "--batch-size", "4", "--no-progress", "--no-download"]


def write_idx(path, array, compress=True):
    content = idx_bytes(np.asarray(array, dtype=np.uint8))
    path.write_bytes(gzip.compress(content) if compress else content)
    return content


@pytest.fixture
def tiny_dataset(tmp_path):
    """A dataset folder tmp/mnist/ with 20 training and 10 test images of random pixels."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    contents = {}
    for split, n in (("train", 20), ("t10k", 10)):
        contents[f"{split}-images-idx3-ubyte"] = write_idx(
            folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        contents[f"{split}-labels-idx1-ubyte"] = write_idx(
            folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    return folder, contents
