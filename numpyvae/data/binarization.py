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


def fixed_binarization(images: np.ndarray, how: str, seed: int = TEST_DRAW_SEED, chunk: int = 10_000) -> np.ndarray:
    """uint8 images (N, D) binarized once: 0 or 255 each ("none" returns ``images`` itself).

    "dynamic" draws pixel j of image n as 1 with probability images[n, j] / 255, from
    ``np.random.default_rng(seed)``, in row order (the draw of an image depends only on the seed and the
    rows before it).
    """
    check(how)
    if how == "none":
        return images
    if how == "static":
        return np.where(to_float(images) > 0.5, np.uint8(255), np.uint8(0))
    rng = np.random.default_rng(seed)
    out = np.empty_like(images)
    for start in range(0, len(images), chunk):
        rows = to_float(images[start:start + chunk])
        out[start:start + chunk] = np.where(rng.random(rows.shape, dtype=np.float32) < rows, 255, 0)
    return out


class BatchBinarizer:
    """Binarizes each training batch in place (the ``[0, 1]`` float batch of a MiniBatcher).

    "static" thresholds at 0.5; "dynamic" replaces pixel p by 1 with probability p, drawing from a
    generator of its own (seeded from the run's seed, its state kept in the checkpoint), so that the
    weights, dropout and data order draw exactly what they would without binarization.
    """

    def __init__(self, how: str, seed: int) -> None:
        self.how = check(how)
        self.rng = np.random.default_rng([seed, 14])  # a stream apart from the model's default_rng(seed)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.how == "static":
            np.greater(batch, 0.5, out=batch, casting="unsafe")
        elif self.how == "dynamic":
            np.less(self.rng.random(batch.shape, dtype=batch.dtype), batch, out=batch, casting="unsafe")
        return batch

    def state_dict(self) -> dict:
        return self.rng.bit_generator.state

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state
