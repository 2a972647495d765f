"""The seed's initializer: truncated normal, variance exactly 2 / fan_in."""

import math

import numpy as np
import pytest

from numpyvae.nn.initializers import TRUNCATED_STD, variance_scaling
from numpyvae.nn.layers import Dense


def test_truncated_unit_normal_std_matches_numerical_integration():
    z = np.linspace(-2, 2, 400_001)
    density = np.exp(-z * z / 2)
    variance = np.trapezoid(z * z * density, z) / np.trapezoid(density, z)
    assert TRUNCATED_STD == pytest.approx(math.sqrt(variance), rel=1e-9)


@pytest.mark.parametrize("fan_in, fan_out", [(784, 500), (20, 2000)])
def test_mean_variance_and_truncation(fan_in, fan_out):
    w = variance_scaling(fan_in, fan_out, np.random.default_rng(0), dtype=np.float64)
    n, target = w.size, 2 / fan_in
    # standard errors of the sample mean and variance (the truncated normal's kurtosis is below 3)
    assert abs(w.mean()) < 5 * math.sqrt(target / n)
    assert abs(w.var() / target - 1) < 5 * math.sqrt(2 / n)
    bound = 2 * math.sqrt(target) / TRUNCATED_STD
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # the tails are filled up to the truncation point


def test_dtype_and_dense_layout():
    layer = Dense(30, 7, rng=np.random.default_rng(0))
    assert layer.params["weight"].shape == (30, 7) and layer.params["weight"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["bias"], np.zeros(7, dtype=np.float32))


def test_same_seed_same_weights():
    a = variance_scaling(10, 5, np.random.default_rng(3))
    b = variance_scaling(10, 5, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
