"""Images of any size as the uint8 grey levels numpyvae keeps in memory: sizes, pixel types, resizing.

Every dataset ends as a uint8 array (N, H, W) before it is flattened to rows (N, H*W):

    uint8          taken as they are (0 black .. 255 white)
    bool           False -> 0, True -> 255
    float          must lie in [0, 1] (no NaN); pixel p -> round(255 p), so floats keep 256 grey levels
    anything else  refused: convert it to uint8 (0..255) or to floats in [0, 1] first

``--image-size HxW`` (height x width; ``N`` alone means N x N) gives the size every image is brought to.
An image of another size is resized to exactly H x W, its aspect ratio not kept, with Pillow's bilinear
filter (``Image.Resampling.BILINEAR``: when shrinking, each output pixel averages the source pixels it
covers), after its conversion to uint8. Flat arrays (N, H*W) are read as H x W images by the same flag.
"""

from __future__ import annotations

import argparse
import os
import re

import numpy as np
from PIL import Image

from ..errors import DataError

RESAMPLING = Image.Resampling.BILINEAR  # the filter of --image-size
MAX_IMAGE_PIXELS = 1 << 20  # an image fed to the MLP VAE has at most 1024 x 1024 pixels
MEMORY_SHARE = 1 / 3  # a dataset's images may fill a third of the memory (splitting copies them once)
CHUNK_ROWS = 4096  # float arrays are checked and converted this many images at a time


def image_size_argument(text: str) -> str:
    """``--image-size``: ``HxW`` (height x width) or ``N`` for N x N, returned as ``"HxW"``."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 28x28, or one number for a square, "
                                         f"got {text!r}")
    height = int(match.group(1))
    width = int(match.group(2) or height)
    if height < 1 or width < 1 or height * width > MAX_IMAGE_PIXELS:
        raise argparse.ArgumentTypeError(f"{height}x{width} is outside 1x1 .. {MAX_IMAGE_PIXELS:,} pixels "
                                         "(1024x1024)")
    return f"{height}x{width}"


def parse_image_size(size: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"HxW"`` (or a (H, W) pair, or None) as (H, W)."""
    if size is None or isinstance(size, tuple):
        return size
    try:
        height, width = image_size_argument(str(size)).split("x")
    except argparse.ArgumentTypeError as error:
        raise DataError(f"image size {size!r}: {error}") from None
    return int(height), int(width)


def shown_size(shape: tuple[int, int]) -> str:
    """(H, W) as ``HxW``, the form --image-size takes."""
    return f"{shape[0]}x{shape[1]}"


def physical_memory() -> int | None:
    """The machine's memory in bytes, where the system tells it."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def amount(size: float) -> str:
    """A number of bytes for a message: in GiB from 1 GiB on, else in MiB."""
    return f"{size / 2 ** 30:.1f} GiB" if size >= 2 ** 30 else f"{size / 2 ** 20:.1f} MiB"


def check_shape(count: int, shape: tuple[int, int], source) -> None:
    """DataError naming ``source`` unless ``count`` images of ``shape`` (H, W) are a size numpyvae can hold:
    at least one image, at most MAX_IMAGE_PIXELS pixels each, all of them in MEMORY_SHARE of the memory."""
    height, width = shape
    if count < 1 or height < 1 or width < 1:
        raise DataError(f"{source} holds no images (shape {count} x {height} x {width})")
    if height * width > MAX_IMAGE_PIXELS:
        raise DataError(f"{source}: images of {height}x{width} ({height * width:,} pixels) are too large for an MLP "
                        f"VAE (at most {MAX_IMAGE_PIXELS:,} pixels, 1024x1024); shrink them with --image-size, e.g. "
                        "--image-size 64x64")
    memory, needed = physical_memory(), count * height * width
    if memory and needed > MEMORY_SHARE * memory:
        raise DataError(f"{source}: {count:,} images of {height}x{width} need {amount(needed)} as uint8; "
                        f"this machine has {amount(memory)} (at most a third of it is used for images); "
                        "use fewer images or a smaller --image-size")


def to_pixels(array: np.ndarray, source, first_index: int = 0) -> np.ndarray:
    """An image array (any shape) as uint8 grey levels by the rules of the module; DataError naming ``source``
    (and the image, counting from ``first_index`` along the first axis) for a type or value outside them."""
    if array.dtype == np.uint8:
        return np.asarray(array)
    if array.dtype == np.bool_:
        return np.asarray(array).astype(np.uint8) * np.uint8(255)
    if not np.issubdtype(array.dtype, np.floating):
        raise DataError(f"{source}: images of dtype {array.dtype} are not accepted; store uint8 (0..255) or floats "
                        "in [0, 1] (e.g. array.astype(np.uint8) for integers 0..255)")
    values = np.asarray(array)
    inside = (values >= 0) & (values <= 1)  # False for NaN too
    if not inside.all():
        where = np.unravel_index(np.argmin(inside), values.shape)
        value = float(values[where])
        raise DataError(f"{source}: image {first_index + int(where[0])} holds the value {value!r}, outside [0, 1]; "
                        "float images must lie in [0, 1] (uint8 ones in 0..255)")
    return np.rint(values * 255).astype(np.uint8)


def resize(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """One uint8 image (h, w) resized to ``shape`` (H, W) by the --image-size rule (itself if already that size)."""
    if image.shape == shape:
        return image
    return np.asarray(Image.fromarray(image).resize((shape[1], shape[0]), RESAMPLING))


def image_stack(array: np.ndarray, size: tuple[int, int] | None, source) -> np.ndarray:
    """Images (N, H, W) or flat (N, H*W) in any accepted pixel type, as uint8 (N, H', W'): read as ``size``
    when flat, resized to ``size`` when given and different; the array may be memory-mapped (it is read a
    chunk at a time). DataError naming ``source`` for a shape or value the module's rules refuse."""
    if array.ndim == 2:
        count, pixels = array.shape
        if size is None:
            side = round(pixels ** 0.5)
            hint = f" (e.g. --image-size {side}x{side})" if side * side == pixels else ""
            raise DataError(f"{source} holds flat images of {pixels} pixels; give --image-size HxW with H*W = "
                            f"{pixels}{hint} to say their shape")
        if size[0] * size[1] != pixels:
            raise DataError(f"{source} holds flat images of {pixels} pixels; --image-size {shown_size(size)} has "
                            f"{size[0] * size[1]}")
        stored = size
    elif array.ndim == 3:
        count, stored = array.shape[0], array.shape[1:]
    else:
        raise DataError(f"{source} holds an array of shape {array.shape}; expected images (N, H, W) or flat "
                        "images (N, H*W)")
    target = size or stored  # the stored size is never held whole: a chunk at a time is converted
    check_shape(count, target, source)
    if stored == target and array.dtype == np.uint8 and not isinstance(array, np.memmap):
        return np.ascontiguousarray(array).reshape(count, *target)  # already in memory as it should be
    out = np.empty((count, *target), dtype=np.uint8)
    for start in range(0, count, CHUNK_ROWS):
        chunk = to_pixels(array[start:start + CHUNK_ROWS], source, start).reshape(-1, *stored)
        if stored == target:
            out[start:start + len(chunk)] = chunk
        else:
            for offset, image in enumerate(chunk):
                out[start + offset] = resize(image, target)
    return out


def check_labels(labels: np.ndarray, count: int, source, max_classes: int = 10_000) -> np.ndarray:
    """Labels (N,) of ``count`` images: integers 0..max_classes-1, as int64; DataError naming ``source`` else."""
    if labels.ndim != 1 or len(labels) != count:
        raise DataError(f"{source} holds labels of shape {labels.shape} for {count} images; expected ({count},), "
                        "one class index per image")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{source} holds labels of dtype {labels.dtype}; labels must be integers (class indices "
                        "0, 1, ...)")
    if count and (labels.min() < 0 or labels.max() >= max_classes):
        raise DataError(f"{source} holds labels {labels.min()}..{labels.max()}; labels must be class indices "
                        f"0..{max_classes - 1}")
    return labels.astype(np.int64)
