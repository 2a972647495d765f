"""Turning model outputs into PNG files a person can look at (Pillow only)."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image, ImageFont

from .atomic import write_atomic

MNIST_SHAPE = (28, 28)  # (height, width) of the images when nothing else is said


def to_uint8(images: np.ndarray, shape: tuple[int, int] = MNIST_SHAPE) -> np.ndarray:
    """Pixel intensities in [0, 1], shaped (N, H*W) or (N, H, W) with ``shape`` = (H, W), as (N, H, W) uint8."""
    images = np.asarray(images, dtype=np.float64).reshape(-1, *shape)
    return np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)


def tile(images: np.ndarray, columns: int | None = None, shape: tuple[int, int] = MNIST_SHAPE,
         padding: int = 2) -> np.ndarray:
    """Lay N images of ``shape`` (H, W) out on a grid (rows of ``columns``, square by default) with white
    padding: uint8 2-D."""
    tiles = to_uint8(images, shape)
    height, width = shape
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    grid = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding), 255, dtype=np.uint8)
    for index, image in enumerate(tiles):
        top, left = padding + (index // columns) * (height + padding), padding + (index % columns) * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def enlargement(shape: tuple[int, int], target: int) -> int:
    """The whole factor that brings an image's longer side nearest ``target`` pixels (at least 1)."""
    return max(1, round(target / max(shape)))


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The pictures' font: Pillow's own scalable font (Aileron, bundled with Pillow 10.1 and later) at ``size``
    pixels, where Pillow's tiny fixed bitmap font, ``ImageFont.load_default()`` without a size, would run
    words together."""
    return ImageFont.load_default(size=size)


def font_size_for(image_size: tuple[int, int], fraction: float = 1 / 30, smallest: int = 12) -> int:
    """A text size in pixels for a picture of ``image_size`` (width, height): ``fraction`` of its smaller side,
    at least ``smallest`` (14 px for the 640 x 420 loss curves)."""
    return max(smallest, round(min(image_size) * fraction))


def save_png(pixels: np.ndarray, path: str | os.PathLike, scale: int = 1) -> None:
    """Write a 2-D uint8 array as a greyscale PNG, enlarged ``scale`` times (nearest neighbour)."""
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8))  # 2-D uint8: greyscale
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    save_pillow(image, path)


def save_pillow(image: Image.Image, path: str | os.PathLike) -> None:
    """Save a Pillow image as PNG, atomically (``write_atomic``); a path that cannot be written is an
    OutputError in one line."""
    write_atomic(path, lambda file: image.save(file, format="PNG"), what="picture")


def save_image(image: np.ndarray, path: str | os.PathLike, shape: tuple[int, int] = MNIST_SHAPE,
               scale: int | None = None) -> None:
    """One image (H*W,) in [0, 1] as a PNG, enlarged ``scale`` times (default: to about 112 pixels on its
    longer side, 4x for a 28x28 digit, so it is visible)."""
    save_png(to_uint8(image, shape)[0], path, scale or enlargement(shape, 112))


def save_grid(images: np.ndarray, path: str | os.PathLike, columns: int | None = None,
              shape: tuple[int, int] = MNIST_SHAPE, scale: int | None = None, cell: int = 56) -> None:
    """N images (N, H*W) in [0, 1] as one PNG grid, enlarged ``scale`` times (default: each image to about
    ``cell`` pixels on its longer side, 2x for 28x28 digits)."""
    save_png(tile(images, columns, shape), path, scale or enlargement(shape, cell))
