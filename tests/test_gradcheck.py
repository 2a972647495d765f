"""The checker itself: it must pass correct gradients and catch wrong ones."""

import subprocess
import sys

import numpy as np
import pytest

from numpyvae import gradcheck
from numpyvae.nn.layers import Dense, Tanh
from numpyvae.teaching.gradcheck import TOLERANCE, check_layer, numerical_gradient, relative_error


class WrongTanh(Tanh):
    """A planted bug: the derivative of tanh written as 1 - y instead of 1 - y^2."""

    def backward(self, grad_out):
        return grad_out * (1 - self.y)


class BatchScaledBiasDense(Dense):
    """A planted bug: the bias gradient multiplied by the batch size."""

    def backward(self, grad_out):
        result = super().backward(grad_out)
        self.grads["bias"] *= len(grad_out)
        return result


def test_numerical_gradient_of_a_known_function():
    x = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(numerical_gradient(lambda: np.sum(x ** 3), x), 3 * x ** 2, rtol=1e-10)


def test_numerical_gradient_restores_the_input():
    x = np.random.default_rng(0).normal(size=5)
    before = x.copy()
    numerical_gradient(lambda: np.sum(np.sin(x)), x)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_refuses_float32():
    with pytest.raises(TypeError):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))


def test_relative_error():
    assert relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert relative_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert relative_error(np.array([0.0]), np.array([0.0])) == 0
    assert relative_error(np.array([1.0, 0.0]), np.array([-1.0, 0.0])) == 1


def test_checker_catches_a_wrong_activation_backward():
    x = np.random.default_rng(0).uniform(-2, 2, (4, 5))
    assert check_layer(Tanh(), x)["input"] < TOLERANCE
    assert check_layer(WrongTanh(), x)["input"] > 1e-3


def test_checker_catches_a_wrong_parameter_gradient():
    layer = BatchScaledBiasDense(4, 3, rng=np.random.default_rng(0), dtype=np.float64)
    errors = check_layer(layer, np.random.default_rng(1).normal(size=(5, 4)))
    assert errors["weight"] < TOLERANCE and errors["input"] < TOLERANCE
    assert errors["bias"] > 1e-3


def test_command_prints_a_passing_table():
    result = subprocess.run([sys.executable, "-m", "numpyvae.gradcheck"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.endswith(("PASS", "FAIL"))]
    assert len(rows) > 40 and all(row.endswith("PASS") for row in rows)
    for name in ("Dense", "ELU", "Tanh", "Sigmoid", "Softplus", "Dropout", "Sequential", "BernoulliLL",
                 "GaussianKL", "log w (IWAE)", "VAE dropout on", "log VampPrior(z)", "HVAE ELBO", "HVAE IWAE K=4 drop",
                 "Vamp VAE ELBO drop", "Vamp HVAE IWAE drop", "GLU", "VAE gated", "Vamp HVAE gated IWAE"):
        assert any(row.startswith(name) for row in rows), name
    assert sum("prior.pseudo_inputs" in row for row in rows) == 8  # every VampPrior variant checks its pseudo-inputs


def test_command_fails_when_a_backward_is_wrong(monkeypatch, capsys):
    monkeypatch.setattr(Tanh, "backward", WrongTanh.backward)
    assert gradcheck.main([]) == 1
    assert "FAIL" in capsys.readouterr().out
