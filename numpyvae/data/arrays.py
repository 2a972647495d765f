"""Image arrays in one file: NumPy's ``.npy`` and ``.npz``, and a single IDX file of images.

    file.npy    one array of images, (N, H, W) or flat (N, H*W); no labels
    file.npz    the members ``images`` and, optionally, ``labels`` (N,) integers; or an explicit split:
                ``train_images`` and ``test_images``, optionally with ``train_labels`` and ``test_labels``
                (both or neither). Any other member is refused, so that none is silently ignored
    IDX file    one IDX file of unsigned bytes (N, H, W) or (N, H*W) (gzip-compressed or raw); no labels
                (the folder of the four MNIST-style IDX files gives labels: numpyvae.data.datasets)

The kind is told by the file's first bytes, not its name. Pixels follow numpyvae.data.images (uint8,
bool, or floats in [0, 1]). Everything is read with ``allow_pickle=False``; a ``.npy`` is memory-mapped
and converted a chunk at a time, and every ``.npz`` member's header (shape, dtype and size) is read and
checked before any member is inflated.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .idx import GZIP_MAGIC, decompress, parse_idx
from .images import MEMORY_SHARE, amount, check_labels, image_stack, physical_memory

NPY_MAGIC, ZIP_MAGICS = b"\x93NUMPY", (b"PK\x03\x04", b"PK\x05\x06")
NPZ_LAYOUTS = ({"images"}, {"images", "labels"}, {"train_images", "test_images"},
               {"train_images", "test_images", "train_labels", "test_labels"})


def kind_of(path: Path) -> str:
    """"npy", "npz" or "idx", by the first bytes of the file; DataError for any other file."""
    try:
        with open(path, "rb") as file:
            start = file.read(6)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from None
    if start.startswith(NPY_MAGIC):
        return "npy"
    if start[:4] in ZIP_MAGICS:
        return "npz"
    if start[:2] == GZIP_MAGIC or start[:3] == b"\x00\x00\x08":
        return "idx"
    raise DataError(f"{path} is neither a .npy, a .npz nor an IDX file (by its first bytes); --dataset takes one "
                    "of these, a folder of images, or the folder of four IDX files")


def read_arrays(path: Path, size: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """The file's images as uint8 (N, H, W) under "images" (with "labels" when it has them), or, for an .npz
    with an explicit split, under "train_images" and "test_images" (and their labels)."""
    kind = kind_of(path)
    if kind == "npy":
        try:
            with open(path, "rb") as file:
                _, dtype = npy_header(file, path)
            if dtype.hasobject:
                raise DataError(f"{path} holds Python objects (reading it needs pickle, which is refused); save an "
                                "array of numbers")
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:
            raise DataError(f"{path} is not a readable array of numbers ({error})") from None
        return {"images": image_stack(array, size, path)}
    if kind == "idx":
        try:
            content = decompress(path.read_bytes(), path)
        except OSError as error:
            raise DataError(f"cannot read {path}: {error.strerror or error}") from None
        array = parse_idx(content, path)
        if array.ndim == 1:
            raise DataError(f"{path} is an IDX file of labels (1-D); --dataset takes an IDX file of images, or the "
                            "folder holding the four IDX files")
        return {"images": image_stack(array, size, path)}
    return read_npz(path, size)


def npy_header(file, source) -> tuple[tuple[int, ...], np.dtype]:
    """The (shape, dtype) in the header of the .npy stream ``file``, which is left at the start of the data."""
    version = np.lib.format.read_magic(file)
    if version not in ((1, 0), (2, 0)):
        raise DataError(f"{source} is a .npy of version {version}; save it with np.save or np.savez")
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(file)
    return shape, dtype


def npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each member's (shape, dtype) from its .npy header, checked against the size the archive declares for
    it, before any member is inflated."""
    memory = physical_memory()
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                with archive.open(info) as file:
                    shape, dtype = npy_header(file, f"{path}: member {name}")
                    declared = file.tell() + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
                if dtype.hasobject:
                    raise DataError(f"{path}: member {name} holds Python objects (reading it needs pickle, which is "
                                    "refused); save arrays of numbers")
                if info.file_size != declared:
                    raise DataError(f"{path}: member {name} declares {shape} {dtype} ({declared:,} bytes) but holds "
                                    f"{info.file_size:,} bytes; the file is damaged")
                if memory and declared > MEMORY_SHARE * memory:
                    raise DataError(f"{path}: member {name} ({shape} {dtype}) needs {amount(declared)}; "
                                    f"this machine has {amount(memory)} (at most a third of it for data)")
                headers[name] = (shape, dtype)
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise DataError(f"{path} is not a readable .npz archive ({error})") from None
    return headers


def read_npz(path: Path, size: tuple[int, int] | None) -> dict[str, np.ndarray]:
    """The members of an .npz (see the module), each checked, images as uint8 (N, H, W)."""
    headers = npz_headers(path)
    if set(headers) not in NPZ_LAYOUTS:
        raise DataError(f"{path} holds the members {', '.join(sorted(headers)) or '(none)'}; expected images (and "
                        "labels), or train_images and test_images (and train_labels and test_labels)")
    for name, (shape, _) in headers.items():
        if name.endswith("labels") and len(shape) != 1:
            raise DataError(f"{path}: {name} has shape {shape}; labels must be one class index per image (N,)")
        images = headers.get(name.replace("labels", "images"), ((0,),))[0]
        if name.endswith("labels") and shape[0] != images[0]:
            raise DataError(f"{path}: {name} holds {shape[0]} labels for {images[0]} images; they must match")
    arrays = {}
    try:
        with np.load(path, allow_pickle=False) as archive:
            for name in sorted(headers):  # images before labels, whose count they give
                if name.endswith("images"):
                    arrays[name] = image_stack(archive[name], size, f"{path} ({name})")
            for name in sorted(headers):
                if name.endswith("labels"):
                    images = arrays[name.replace("labels", "images")]
                    arrays[name] = check_labels(archive[name], len(images), f"{path} ({name})")
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise DataError(f"{path} is not a readable .npz archive ({error})") from None
    if "train_images" in arrays and arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(f"{path}: train_images are {arrays['train_images'].shape[1:]} but test_images "
                        f"{arrays['test_images'].shape[1:]}; both need one size (or give --image-size)")
    return arrays
