"""Layers: gradients against central differences, saturation without overflow, closed forms, dtypes."""

import math

import numpy as np
import pytest

from numpyvae.nn.layers import ACTIVATIONS as BY_NAME
from numpyvae.nn.layers import ELU, GLU, Dense, Dropout, Sequential, Sigmoid, Softplus, Tanh
from numpyvae.teaching.gradcheck import TOLERANCE, check_layer

ACTIVATIONS = [ELU, Tanh, Sigmoid, Softplus]


def inputs(rng, low, high, shape=(5, 7)):
    """Uniform inputs kept off x = 0, where ELU with alpha != 1 has a kink."""
    x = rng.uniform(low, high, shape)
    x[np.abs(x) < 1e-2] = 0.25
    return x


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("layer, low, high", [
    (ELU(), -5, 5), (ELU(alpha=0.3), -5, 5), (ELU(alpha=2.0), -5, 5), (Tanh(), -4, 4),
    (Sigmoid(), -8, 8), (Softplus(), -8, 8)])
def test_activation_gradients(layer, low, high, seed):
    errors = check_layer(layer, inputs(np.random.default_rng(seed), low, high))
    assert errors["input"] < TOLERANCE


def test_elu_checked_on_both_sides_of_zero():
    x = np.array([[-3.0, -0.5, -0.01, 0.01, 0.5, 3.0]])
    assert check_layer(ELU(alpha=0.7), x)["input"] < TOLERANCE


@pytest.mark.parametrize("seed", range(3))
def test_dense_gradients(seed):
    rng = np.random.default_rng(seed)
    layer = Dense(7, 4, rng=rng, dtype=np.float64)
    layer.params["bias"][:] = rng.normal(size=4)  # zero biases would hide a wrong bias gradient less well
    errors = check_layer(layer, rng.normal(size=(6, 7)))
    assert set(errors) == {"input", "weight", "bias"}
    assert max(errors.values()) < TOLERANCE


def test_dense_forward_is_affine_and_shaped_in_out():
    rng = np.random.default_rng(0)
    layer = Dense(3, 2, rng=rng, dtype=np.float64)
    assert layer.params["weight"].shape == (3, 2) and layer.params["bias"].shape == (2,)
    layer.params["bias"][:] = [1.0, -2.0]
    x = rng.normal(size=(4, 3))
    np.testing.assert_allclose(layer.forward(x), x @ layer.params["weight"] + [1.0, -2.0], rtol=1e-15)


def test_dense_without_input_grad_returns_none_but_sets_param_grads():
    rng = np.random.default_rng(0)
    layer = Dense(3, 2, rng=rng, dtype=np.float64, input_grad=False)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 2))
    layer.forward(x)
    assert layer.backward(g) is None
    np.testing.assert_allclose(layer.grads["weight"], x.T @ g, rtol=1e-14)
    np.testing.assert_allclose(layer.grads["bias"], g.sum(axis=0), rtol=1e-14)


def test_dropout_gradient_with_mask_held_fixed():
    rng = np.random.default_rng(5)
    layer = Dropout(0.6, rng=rng)
    assert check_layer(layer, np.random.default_rng(1).normal(size=(8, 9)), rng=rng)["input"] < TOLERANCE


def test_sequential_of_all_six_layers():
    rng, mask_rng = np.random.default_rng(0), np.random.default_rng(1)
    chain = Sequential(Dense(6, 5, rng=rng, dtype=np.float64), ELU(), Dropout(0.8, rng=mask_rng),
                       Dense(5, 4, rng=rng, dtype=np.float64), Tanh(), Sigmoid(), Softplus())
    assert set(chain.params) == {"0.weight", "0.bias", "3.weight", "3.bias"}
    assert chain.params["3.weight"] is chain.layers[3].params["weight"]
    errors = check_layer(chain, inputs(np.random.default_rng(2), -2, 2, (4, 6)), rng=mask_rng)
    assert max(errors.values()) < TOLERANCE


# -- saturation: no overflow, no warning (the suite runs with -W error), the right limits ----------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturation_is_finite_and_silent(dtype):
    big = np.finfo(dtype).max
    x = np.array([-big, -1e30, -1e4, -1000, -100, -30, -20, 0, 20, 30, 100, 1000, 1e4, 1e30, big], dtype=dtype)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        sigmoid = Sigmoid().forward(x)
        softplus = Softplus().forward(x)
        tanh = Tanh().forward(x)
        elu = ELU().forward(x)
    for y in (sigmoid, softplus, tanh, elu):
        assert y.dtype == dtype and np.all(np.isfinite(y))
    assert np.all((sigmoid >= 0) & (sigmoid <= 1)) and sigmoid[0] == 0 and sigmoid[-1] == 1
    assert np.all(softplus >= 0)
    np.testing.assert_allclose(softplus[-6:], x[-6:], rtol=1e-6)  # softplus(x) ~ x for large x
    assert np.all(np.diff(sigmoid) >= 0) and np.all(np.diff(softplus) >= 0)
    np.testing.assert_array_equal(tanh[:3], -1)
    np.testing.assert_allclose(elu[:4], -1.0)  # ELU(x) -> -alpha


@pytest.mark.parametrize("layer_type", ACTIVATIONS)
def test_saturated_backward_is_finite(layer_type):
    x = np.array([-1e4, -30.0, 30.0, 1e4])
    layer = layer_type()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        layer.forward(x)
        grad = layer.backward(np.ones_like(x))
    assert np.all(np.isfinite(grad)) and np.all(grad >= 0)


def test_softplus_far_negative_is_exp_not_log_of_zero():
    x = np.array([-30.0, -50.0, -700.0])
    np.testing.assert_allclose(Softplus().forward(x), np.exp(x), rtol=1e-12)


def test_closed_form_values():
    assert Sigmoid().forward(np.array([0.0]))[0] == 0.5
    assert Softplus().forward(np.array([0.0]))[0] == pytest.approx(math.log(2), rel=1e-15)
    assert ELU(alpha=1.5).forward(np.array([-1e3]))[0] == pytest.approx(-1.5)
    x = np.linspace(0.1, 5, 11)
    np.testing.assert_array_equal(ELU(alpha=0.3).forward(x), x)
    np.testing.assert_allclose(Tanh().forward(-x), -Tanh().forward(x))
    np.testing.assert_allclose(Sigmoid().forward(-x), 1 - Sigmoid().forward(x), rtol=1e-13)
    np.testing.assert_allclose(Softplus().forward(x) - Softplus().forward(-x), x, rtol=1e-14)


@pytest.mark.parametrize("shape", [(7,), (4, 9), (2, 3, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_and_dropout_give_exactly_the_plain_formulas_values(shape, dtype):
    """The faster forms (a row of zeros for np.minimum, the mask's scale in one product) change no bit."""
    x = (np.random.default_rng(4).normal(size=shape) * 3).astype(dtype)
    negative = np.minimum(x, 0)
    expected = (x - negative) + (np.exp(negative) - 1)
    y = ELU().forward(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y, expected)
    layer = Dropout(0.9, rng=np.random.default_rng(5))
    y = layer.forward(x)
    mask = layer.scaled_mask
    assert mask.dtype == x.dtype and set(np.unique(mask)) <= {0, dtype(1 / layer.mask_prob)}
    np.testing.assert_array_equal(y, x * (mask != 0).astype(dtype) * dtype(1 / layer.mask_prob))


# -- dtypes ---------------------------------------------------------------------------------------

def build_all(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return Sequential(Dense(6, 5, rng=rng, dtype=dtype), ELU(), Dropout(0.8, rng=np.random.default_rng(9)),
                      Dense(5, 4, rng=rng, dtype=dtype), Tanh(), Sigmoid(), Softplus())


def test_float32_stays_float32_forward_and_backward():
    chain = build_all(np.float32)
    x = np.random.default_rng(1).normal(size=(3, 6)).astype(np.float32)
    y = chain.forward(x)
    assert y.dtype == np.float32
    assert chain.backward(np.ones_like(y)).dtype == np.float32
    for layer in chain.layers:
        assert all(array.dtype == np.float32 for array in (*layer.params.values(), *layer.grads.values()))


def test_float32_forward_agrees_with_float64():
    chain32, chain64 = build_all(np.float32), build_all(np.float64)
    for name in chain64.params:  # the same weights, cast
        chain64.params[name][...] = chain32.params[name]
    x = np.random.default_rng(1).normal(size=(3, 6))
    y32 = chain32.forward(x.astype(np.float32), training=False)
    y64 = chain64.forward(x, training=False)
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-6)


# -- dropout statistics -----------------------------------------------------------------------------

def test_dropout_keep_rate_and_scaling():
    keep, n = 0.9, 200_000
    x = np.ones((n // 100, 100), dtype=np.float32)
    y = Dropout(keep, rng=np.random.default_rng(3)).forward(x)
    kept = y != 0
    sigma = math.sqrt(keep * (1 - keep) / n)
    assert abs(kept.mean() - keep) < 5 * sigma
    assert abs(y.mean() - 1) < 5 * sigma / keep  # E[y] = x


class _EveryDraw:
    """A stand-in generator whose raw bits run through every 16-bit value once: the exact expectation."""

    class bit_generator:  # noqa: N801 (mimics np.random.Generator.bit_generator)
        @staticmethod
        def random_raw(size):
            values = np.arange(2**16, dtype=np.uint16)
            return np.resize(values, size * 4).view(np.uint64)


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.8, 0.123456])
def test_dropout_mean_over_every_equally_likely_draw_is_exactly_the_input(keep):
    layer = Dropout(keep, rng=_EveryDraw())
    y = layer.forward(np.ones((2**12, 2**4), dtype=np.float64))  # 2^16 units: each 16-bit value once
    assert abs((y != 0).mean() - keep) <= 2**-17  # the mask's probability is keep rounded to 2^-16
    assert abs(y.mean() - 1) < 1e-12  # scaled by the reciprocal of that probability, not of keep


def test_dropout_backward_uses_the_forward_mask():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    y = layer.forward(np.ones((50, 40)))
    np.testing.assert_array_equal(layer.backward(np.ones((50, 40))), y)


def test_dropout_is_identity_in_evaluation():
    layer = Dropout(0.5, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(4, 5))
    assert layer.forward(x, training=False) is x
    g = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(g), g)


@pytest.mark.parametrize("keep_prob", [0.0, -0.1, 1.01])
def test_dropout_rejects_keep_prob_outside_0_1(keep_prob):
    with pytest.raises(ValueError):
        Dropout(keep_prob)


def test_parameterless_layers_have_empty_dicts():
    for layer in (ELU(), Tanh(), Sigmoid(), Softplus(), Dropout(0.9)):
        assert layer.params == {} and layer.grads == {}


# -- the gated linear unit ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_glu_gradient(seed):
    """(5, 8) -> (5, 4); the gate's inputs span sigmoid's curved part and both tails."""
    assert check_layer(GLU(), inputs(np.random.default_rng(seed), -6, 6, shape=(5, 8)))["input"] < TOLERANCE


def test_glu_is_the_first_half_times_the_sigmoid_of_the_second():
    x = np.array([[1.0, -2.0, 0.0, 3.0], [0.5, 4.0, -1.0, 0.0]])
    expected = x[:, :2] / (1 + np.exp(-x[:, 2:]))
    np.testing.assert_allclose(GLU().forward(x), expected, rtol=1e-15)
    assert GLU.widening == 2 and all(kind.widening == 1 for name, kind in BY_NAME.items() if name != "glu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_glu_backward_is_the_product_rule_and_keeps_the_dtype(dtype):
    rng = np.random.default_rng(5)
    x, g = rng.normal(size=(3, 10)).astype(dtype), rng.normal(size=(3, 5)).astype(dtype)
    layer = GLU()
    y = layer.forward(x)
    grad = layer.backward(g)
    a, s = x[:, :5].astype(np.float64), 1 / (1 + np.exp(-x[:, 5:].astype(np.float64)))
    assert y.dtype == grad.dtype == dtype and grad.shape == x.shape
    tolerance = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(grad[:, :5], g * s, rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(grad[:, 5:], g * a * s * (1 - s), rtol=tolerance, atol=tolerance)


def test_glu_saturates_without_warnings():
    x = np.array([[-1e4, 30.0, 1e4, -1e4, 30.0, -30.0]])  # a = (-1e4, 30, 1e4), b = (-1e4, 30, -30)
    layer = GLU()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = layer.forward(x)
        grad = layer.backward(np.ones((1, 3)))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(grad))
    assert y[0, 0] == 0 and y[0, 1] == pytest.approx(30.0)


def test_glu_agrees_with_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).normal(size=(4, 6))
    g = np.random.default_rng(3).normal(size=(4, 3))
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.glu(tx, dim=-1).backward(torch.tensor(g))
    layer = GLU()
    np.testing.assert_allclose(layer.forward(x), torch.nn.functional.glu(torch.tensor(x), dim=-1).numpy(), rtol=1e-14)
    np.testing.assert_allclose(layer.backward(g), tx.grad.numpy(), rtol=1e-13, atol=1e-15)
