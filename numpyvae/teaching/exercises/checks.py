"""The checks behind ``python -m numpyvae.exercises check NAME``: forward values against the formula, every
gradient against central differences of the student's own forward pass, and large inputs for stability.

A check is a list of rows (what was checked, its error, pass or fail). Anything a student's code raises
fails its row with the exception's one-line message; the other rows still run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ...errors import UsageError
from ..gradcheck import TOLERANCE, check_gradients, relative_error

FORWARD_TOLERANCE = 1e-12


@dataclass
class Row:
    what: str
    error: float | None  # None: the code raised or returned something of the wrong shape
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.error is not None and self.error < (FORWARD_TOLERANCE if self.what.startswith("forward")
                                                         else TOLERANCE)


def load(path: str | Path, name: str) -> ModuleType:
    """Import a student's file by its path."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no file {path}: run 'python -m numpyvae.exercises start' to copy the stubs, "
                         "or point --file at yours")
    spec = importlib.util.spec_from_file_location(f"numpyvae_exercise_{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a syntax error or a failing import in the student's file
        raise UsageError(f"{path} cannot be imported: {type(error).__name__}: {error}") from None
    return module


def _row(what: str, compute: Callable[[], float]) -> Row:
    try:
        error = compute()
    except Exception as error:  # the student's code: report, don't crash
        message = str(error).splitlines()[0] if str(error) else ""
        return Row(what, None, f"{type(error).__name__}: {message}")
    return Row(what, float(error))


def _forward_row(what: str, got: Callable[[], np.ndarray], want: np.ndarray) -> Row:
    def compute() -> float:
        value = np.asarray(got(), dtype=np.float64)
        if value.shape != want.shape:
            raise ValueError(f"shape {value.shape}, expected {want.shape}")
        if not np.all(np.isfinite(value)):
            raise FloatingPointError("not finite (an overflow?)")
        return relative_error(value, want)
    return _row(what, compute)


def _gradient_rows(forward, backward, tensors: dict[str, np.ndarray], labels: dict[str, str]) -> list[Row]:
    """One row per tensor; the backward's output is checked for shape first."""
    try:
        errors = check_gradients(forward, _shape_checked(backward, tensors), tensors)
    except Exception as error:  # the student's code: report, don't crash
        message = str(error).splitlines()[0] if str(error) else ""
        return [Row(labels[name], None, f"{type(error).__name__}: {message}") for name in tensors]
    return [Row(labels[name], error) for name, error in errors.items()]


def _shape_checked(backward, tensors):
    def wrapped(g):
        grads = backward(g)
        for name, tensor in tensors.items():
            if np.shape(grads[name]) != tensor.shape:
                raise ValueError(f"the gradient of {name} has shape {np.shape(grads[name])}, expected {tensor.shape}")
        return grads
    return wrapped


def check_dense(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(0)
    u, weight, bias = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)
    layer = None

    def forward():
        nonlocal layer
        layer = module.Dense(weight, bias)
        return layer.forward(u)

    def backward(g):
        grad_u = layer.backward(g)
        return {"u": grad_u, "weight": layer.grad_weight, "bias": layer.grad_bias}

    return [_forward_row("forward  a = u W + b", forward, u @ weight + bias),
            *_gradient_rows(forward, backward, {"u": u, "weight": weight, "bias": bias},
                            {"u": "dL/du", "weight": "dL/dW", "bias": "dL/db"})]


def check_softplus(module: ModuleType) -> list[Row]:
    a = np.random.default_rng(1).uniform(-8, 8, (4, 6))
    big = np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]])
    layer = module.Softplus()

    def backward_at_big():
        fresh = module.Softplus()
        fresh.forward(big)
        got = fresh.backward(np.ones_like(big))
        return relative_error(got, np.exp(-np.logaddexp(0, -big)))  # sigmoid(a) = e^{log sigmoid(a)}

    return [_forward_row("forward  log(1 + e^a)", lambda: layer.forward(a), np.logaddexp(0, a)),
            _forward_row("forward at a = -1000 ... 1000", lambda: module.Softplus().forward(big),
                         np.logaddexp(0, big)),
            *_gradient_rows(lambda: layer.forward(a), lambda g: {"a": layer.backward(g)}, {"a": a},
                            {"a": "dL/da"}),
            _row("dL/da at a = -1000 ... 1000", backward_at_big)]


def check_gaussian_kl(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(2)
    mu, sigma = rng.standard_normal((4, 3)), rng.uniform(0.05, 2, (4, 3))
    kl = module.GaussianKL()
    want = 0.5 * (sigma ** 2 + mu ** 2 - np.log(1e-8 + sigma ** 2) - 1).sum(axis=1)

    def backward(g):
        grad_mu, grad_sigma = kl.backward(g)
        return {"mu": grad_mu, "sigma": grad_sigma}

    return [_forward_row("forward  KL per image", lambda: kl.forward(mu, sigma), want),
            *_gradient_rows(lambda: kl.forward(mu, sigma), backward, {"mu": mu, "sigma": sigma},
                            {"mu": "dL/dmu", "sigma": "dL/dsigma"})]


def check_reparameterize(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(3)
    mu, sigma, eps = rng.standard_normal((4, 3)), rng.uniform(0.05, 2, (4, 3)), rng.standard_normal((4, 3))
    step = module.Reparameterize()

    def backward(g):
        grad_mu, grad_sigma = step.backward(g)
        return {"mu": grad_mu, "sigma": grad_sigma}

    return [_forward_row("forward  z = mu + sigma * eps", lambda: step.forward(mu, sigma, eps), mu + sigma * eps),
            *_gradient_rows(lambda: step.forward(mu, sigma, eps), backward, {"mu": mu, "sigma": sigma},
                            {"mu": "dL/dmu", "sigma": "dL/dsigma"})]


def check_iwae_weights(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(4)
    log_weights = rng.uniform(-5, 5, (3, 6))
    far = log_weights - 1000  # MNIST's log weights are near -100; these would underflow a plain exp
    bound = module.IWAEBound()

    def log_mean_exp(w):  # written out for the comparison, in the plain form that is safe for these inputs
        return np.log(np.mean(np.exp(w), axis=1))

    def gradient_far():
        fresh = module.IWAEBound()
        fresh.forward(far)
        want = np.exp(log_weights) / np.exp(log_weights).sum(axis=1, keepdims=True)
        return relative_error(fresh.backward(np.ones(len(far))), want)

    return [_forward_row("forward  log mean_i e^{w_i}", lambda: bound.forward(log_weights), log_mean_exp(log_weights)),
            _forward_row("forward at w near -1000", lambda: module.IWAEBound().forward(far),
                         log_mean_exp(log_weights) - 1000),
            *_gradient_rows(lambda: bound.forward(log_weights), lambda g: {"w": bound.backward(g)},
                            {"w": log_weights}, {"w": "dL/dw"}),
            _row("dL/dw at w near -1000", gradient_far)]


EXERCISES: dict[str, tuple[str, Callable[[ModuleType], list[Row]]]] = {
    "dense": ("Dense", check_dense),
    "softplus": ("Softplus", check_softplus),
    "gaussian_kl": ("GaussianKL", check_gaussian_kl),
    "reparameterize": ("Reparameterize", check_reparameterize),
    "iwae_weights": ("IWAEBound", check_iwae_weights),
}
