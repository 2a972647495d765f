"""Binarized MNIST: the data the literature's likelihoods are measured on.

A Bernoulli decoder is a normalized density over binary images only; on grey levels (the seed's data) its
-log p(x) is not a likelihood and cannot be compared with published tables. Three protocols:

    none      the grey levels as they are (the seed's)
    static    pixel > 0.5, once and for all. This is NOT the fixed binarization of Larochelle and Murray
              (2011), which was one random Bernoulli draw published as a file; thresholding gives cleaner,
              easier digits, so static numbers are not comparable with that data set's either
    dynamic   each training batch drawn afresh as Bernoulli(pixel) (Burda et al. 2015); the test and
              validation images are ONE fixed Bernoulli draw from a stated seed, the same in every
              evaluation, so that numbers of different runs and evaluations are measured on the same images

Fixed draws are returned as uint8 images of 0 and 255, so everything downstream (batching, ``to_float``,
the evaluation) handles them like any other image set and sees exactly 0.0 and 1.0.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from . import to_float

BINARIZATIONS = ("none", "static", "dynamic")
TEST_DRAW_SEED = 20151  # the one Bernoulli draw of the test images of every dynamic run and evaluation
VALIDATION_DRAW_SEED = 20152  # and of the held-out validation images


def check(how: str) -> str:
    if how not in BINARIZATIONS:
        raise UsageError(f"--binarize must be one of {', '.join(BINARIZATIONS)}, got {how!r}")
    return how


def binarize(pixels: np.ndarray, how: str, rng: np.random.Generator | None = None,
             out: np.ndarray | None = None) -> np.ndarray:
    """Pixels in [0, 1] as 0 or 1: the one threshold and the one Bernoulli draw of every binarization here.

        "static"    1 where pixel > 0.5
        "dynamic"   1 where u < pixel, u ~ Uniform[0, 1) drawn from ``rng`` in the pixels' dtype (so 1 with
                    probability pixel); one number per pixel, in row order
        "none"      the pixels as they are

    Returns a bool array, or writes 0 and 1 into ``out`` (any dtype; ``out`` may be ``pixels`` itself).
    """
    if how == "static":
        return np.greater(pixels, 0.5, out=out, casting="unsafe")
    if how == "dynamic":
        return np.less(rng.random(pixels.shape, dtype=pixels.dtype), pixels, out=out, casting="unsafe")
    check(how)
    return pixels


def fixed_binarization(images: np.ndarray, how: str, seed: int = TEST_DRAW_SEED, chunk: int = 10_000) -> np.ndarray:
    """uint8 images (N, D) binarized once: 0 or 255 each ("none" returns ``images`` itself).

    Each chunk of rows is scaled to [0, 1] in float32 (``to_float``) and binarized by ``binarize``; "dynamic"
    draws from ``np.random.default_rng(seed)``, in row order (the draw of an image depends only on the seed
    and the rows before it).
    """
    check(how)
    if how == "none":
        return images
    rng = np.random.default_rng(seed) if how == "dynamic" else None
    out = np.empty_like(images)
    for start in range(0, len(images), chunk):
        ones = binarize(to_float(images[start:start + chunk]), how, rng)
        out[start:start + chunk] = np.where(ones, np.uint8(255), np.uint8(0))
    return out


class BatchBinarizer:
    """Binarizes each training batch in place (the ``[0, 1]`` float batch of a MiniBatcher) with ``binarize``.

    "static" thresholds at 0.5; "dynamic" replaces pixel p by 1 with probability p, drawing from a
    generator of its own (seeded from the run's seed, its state kept in the checkpoint), so that the
    weights, dropout and data order draw exactly what they would without binarization.
    """

    def __init__(self, how: str, seed: int) -> None:
        self.how = check(how)
        self.rng = np.random.default_rng([seed, 14])  # a stream apart from the model's default_rng(seed)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return binarize(batch, self.how, self.rng, out=batch)

    def state_dict(self) -> dict:
        return self.rng.bit_generator.state

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state
