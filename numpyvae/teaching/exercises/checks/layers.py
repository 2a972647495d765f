"""The checks of the layer exercises: dense, softplus, tanh, elu, dropout.

Each check builds the student's class on fixed inputs, compares the forward pass with the formula and
every gradient with central differences of the formula, then feeds inputs where a textbook formula
overflows or underflows. The inputs keep clear of where a check would be ill-posed: ELU's kink at 0
(the differences straddle it), and gradients near 0 (their relative error says nothing).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ..diagnosis import Mistake, Row
from .common import call, forward_row, gradient_rows

LARGE = "at a = -1000 ... 1000"


def away_from_zero(rng: np.random.Generator, low: float, high: float, shape) -> np.ndarray:
    """Random signs times magnitudes in [low, high]: no input near 0."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, high, shape)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0, -a))  # e^{log sigmoid(a)}, finite for every a


def _elementwise(module: ModuleType, class_name: str, inputs: dict[str, np.ndarray], formula, labels: dict,
                 mistakes=None, large: np.ndarray | None = None, h: float = 1e-3, terms=None) -> list[Row]:
    """Forward and gradient rows of an element-wise layer ``class_name()`` with forward(a) and backward(g);
    ``terms(g, a)`` is what the numerical gradient differentiates, when not g * formula(a)."""
    cls = getattr(module, class_name)

    def student(tensors, g):
        layer = call(cls)
        call(layer.forward, tensors["a"])
        return {"a": call(layer.backward, g)}

    a = inputs["a"]
    rows = [forward_row(f"forward  {labels['forward']}", lambda: cls().forward(a.copy()), formula(a),
                        context=lambda i: f"at a = {a[i]:.6g}"),
            *gradient_rows({"a": a}, lambda a: formula(a), student, {"a": "dL/da"}, mistakes=mistakes, h=h,
                           terms=terms, contexts={"a": lambda i: f"at a = {a[i]:.6g}"})]
    if large is not None:
        rows += [forward_row(f"forward {LARGE}", lambda: cls().forward(large.copy()), formula(large),
                             context=lambda i: f"at a = {large[i]:g}"),
                 *gradient_rows({"a": large}, lambda a: formula(a), student, {"a": "dL/da"}, mistakes=mistakes,
                                at=f" {LARGE}", h=h, terms=terms, contexts={"a": lambda i: f"at a = {large[i]:g}"})]
    return rows


def check_dense(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(0)
    u, weight, bias = away_from_zero(rng, 0.2, 2, (4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)

    def student(tensors, g):
        layer = call(module.Dense, tensors["weight"], tensors["bias"])
        call(layer.forward, tensors["u"])
        grad_u = call(layer.backward, g)
        return {"u": grad_u, "weight": getattr(layer, "grad_weight", None), "bias": getattr(layer, "grad_bias", None)}

    return [forward_row("forward  a = u W + b", lambda: module.Dense(weight.copy(), bias.copy()).forward(u.copy()),
                        u @ weight + bias),
            *gradient_rows({"u": u, "weight": weight, "bias": bias}, lambda u, weight, bias: u @ weight + bias,
                           student, {"u": "dL/du", "weight": "dL/dW", "bias": "dL/db"}, batch=len(u))]


def check_softplus(module: ModuleType) -> list[Row]:
    a = away_from_zero(np.random.default_rng(1), 0.1, 8, (4, 6))

    def mistakes(tensors, g):
        return {"a": [Mistake("g sigmoid(-a) = g (1 - sigmoid(a)): softplus'(a) is sigmoid(a), not sigmoid(-a)",
                              g * _sigmoid(-tensors["a"])),
                      Mistake("g e^a: the numerator of softplus'(a) without its denominator 1 + e^a",
                              g * np.exp(np.minimum(tensors["a"], 700)))]}

    return _elementwise(module, "Softplus", {"a": a}, lambda a: np.logaddexp(0, a), {"forward": "log(1 + e^a)"},
                        mistakes, np.array([[-1000.0, -50.0, 0.0, 50.0, 1000.0]]))


def check_tanh(module: ModuleType) -> list[Row]:
    a = away_from_zero(np.random.default_rng(5), 0.1, 3, (4, 6))

    def mistakes(tensors, g):
        t = np.tanh(tensors["a"])
        return {"a": [Mistake("g (1 - tanh(a)): the square of tanh' = 1 - tanh(a)^2 is missing", g * (1 - t)),
                      Mistake("g (1 - a^2): the square of the input, where tanh' squares the output v = tanh(a)",
                              g * (1 - tensors["a"] ** 2))]}

    return _elementwise(module, "Tanh", {"a": a}, np.tanh, {"forward": "tanh(a)"}, mistakes,
                        np.array([[-1000.0, -20.0, 0.5, 20.0, 1000.0]]))


def check_elu(module: ModuleType) -> list[Row]:
    a = away_from_zero(np.random.default_rng(6), 0.05, 3, (4, 6))

    def elu(a):
        return np.where(a > 0, a, np.expm1(np.minimum(a, 0)))

    def mistakes(tensors, g):
        a = tensors["a"]
        return {"a": [Mistake("ReLU's derivative: 0 for a <= 0, where ELU's is e^a", g * (a > 0)),
                      Mistake("g e^a on both sides: for a > 0 ELU(a) = a, whose derivative is 1",
                              g * np.exp(np.minimum(a, 700)))]}

    def terms(g, a):  # g (ELU(a) + 1) for a <= 0: the constant changes no derivative, and e^a alone keeps
        # its digits at a = -30, where e^a - 1 rounds to -1 + 9.4e-14
        return g * np.where(a > 0, a, np.exp(np.minimum(a, 0)))

    return _elementwise(module, "ELU", {"a": a}, elu, {"forward": "ELU(a), alpha = 1"}, mistakes,
                        np.array([[-1000.0, -30.0, 0.5, 30.0, 1000.0]]), h=1e-4, terms=terms)


def check_dropout(module: ModuleType) -> list[Row]:
    rng = np.random.default_rng(7)
    rho = 0.8
    v = away_from_zero(rng, 0.2, 2, (4, 6))
    mask = (rng.uniform(size=(4, 6)) < rho).astype(np.float64)

    def student(tensors, g):
        layer = call(module.Dropout, rho)
        call(layer.forward, tensors["v"], mask.copy())
        return {"v": call(layer.backward, g)}

    def mistakes(tensors, g):
        return {"v": [Mistake("g m: the mask without its 1/rho (the forward pass scales the kept units by 1/rho, "
                              "so the backward pass must too)", g * mask),
                      Mistake("g m rho: the mask times rho where it must be divided by rho", g * mask * rho)]}

    return [forward_row("forward  r = v * m / rho", lambda: module.Dropout(rho).forward(v.copy(), mask.copy()),
                        v * mask / rho),
            *gradient_rows({"v": v}, lambda v: v * mask / rho, student, {"v": "dL/dv"}, mistakes=mistakes,
                           contexts={"v": lambda i: f"mask m = {mask[i]:g} there, rho = {rho}"})]
