"""Weight initializers.

The seed initializes every weight matrix with TensorFlow's `variance_scaling_initializer` at its
defaults: mode fan_in, scale 2.0 (He et al. 2015), a normal distribution truncated at two standard
deviations. Truncation shrinks the variance, so the standard deviation is divided by the standard
deviation of a unit normal truncated to [-2, 2]; the weights then have variance exactly 2 / fan_in.
"""

import math

import numpy as np


def _truncated_unit_normal_std(bound: float) -> float:
    """Standard deviation of N(0, 1) restricted to [-bound, bound]."""
    mass = math.erf(bound / math.sqrt(2.0))  # P(|z| < bound)
    density = math.exp(-0.5 * bound * bound) / math.sqrt(2.0 * math.pi)
    return math.sqrt(1.0 - 2.0 * bound * density / mass)


TRUNCATION = 2.0
TRUNCATED_STD = _truncated_unit_normal_std(TRUNCATION)  # 0.8796...


def truncated_normal(shape: tuple[int, ...], std: float, rng: np.random.Generator,
                     dtype=np.float32) -> np.ndarray:
    """Samples of N(0, std^2) redrawn until they fall within TRUNCATION standard deviations."""
    z = rng.standard_normal(shape)
    outside = np.abs(z) > TRUNCATION
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > TRUNCATION
    return (std * z).astype(dtype)


def variance_scaling(fan_in: int, fan_out: int, rng: np.random.Generator, *, scale: float = 2.0,
                     dtype=np.float32) -> np.ndarray:
    """A (fan_in, fan_out) weight matrix with Var[w] = scale / fan_in, truncated at 2 std."""
    std = math.sqrt(scale / fan_in) / TRUNCATED_STD
    return truncated_normal((fan_in, fan_out), std, rng, dtype)
