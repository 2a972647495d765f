"""Turning model outputs into PNG files a person can look at (Pillow only)."""

from __future__ import annotations

import math
import os

import numpy as np
from PIL import Image

from .atomic import write_atomic


def to_uint8(images: np.ndarray, side: int = 28) -> np.ndarray:
    """Pixel intensities in [0, 1], shaped (N, side*side) or (N, side, side), as (N, side, side) uint8."""
    images = np.asarray(images, dtype=np.float64).reshape(-1, side, side)
    return np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)


def tile(images: np.ndarray, columns: int | None = None, side: int = 28, padding: int = 2) -> np.ndarray:
    """Lay N images out on a grid (rows of ``columns``, square by default) with white padding: uint8 2-D."""
    tiles = to_uint8(images, side)
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    cell = side + padding
    grid = np.full((rows * cell + padding, columns * cell + padding), 255, dtype=np.uint8)
    for index, image in enumerate(tiles):
        top, left = padding + (index // columns) * cell, padding + (index % columns) * cell
        grid[top:top + side, left:left + side] = image
    return grid


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


def save_image(image: np.ndarray, path: str | os.PathLike, side: int = 28, scale: int = 4) -> None:
    """One image (side*side,) in [0, 1] as a PNG, enlarged 4x so a 28x28 digit is visible."""
    save_png(to_uint8(image, side)[0], path, scale)


def save_grid(images: np.ndarray, path: str | os.PathLike, columns: int | None = None, side: int = 28,
              scale: int = 2) -> None:
    """N images (N, side*side) in [0, 1] as one PNG grid."""
    save_png(tile(images, columns, side), path, scale)
