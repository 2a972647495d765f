"""Optimizers that update a dict of parameter arrays in place.

State (momentum buffers, Adam's moments) is kept in arrays keyed like the parameters, and
``state_dict`` / ``load_state_dict`` expose it as plain arrays so a checkpoint can hold it.
"""

from __future__ import annotations

import math

import numpy as np


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """The L2 norm of all gradients taken as one vector: sqrt(sum of g . g); NaN or inf if any entry is."""
    return math.sqrt(sum(float(np.vdot(grad, grad)) for grad in grads.values()))


def clip_by_global_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place by max_norm / norm when their global norm exceeds max_norm.

    The direction of the step is kept and only its length is capped. Returns the norm before clipping.
    """
    norm = global_norm(grads)
    if norm > max_norm:
        for grad in grads.values():
            grad *= grad.dtype.type(max_norm / norm)
    return norm


class Optimizer:
    """Base class: ``step(grads)`` updates ``params`` in place from gradients keyed the same way."""

    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        if lr <= 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        self.params, self.lr = params, lr
        self.state: dict[str, np.ndarray] = {}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, np.ndarray]:
        return {name: array.copy() for name, array in self.state.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if set(state) != set(self.state):
            raise KeyError(f"optimizer state keys differ: expected {sorted(self.state)}, got {sorted(state)}")
        for name, array in state.items():
            np.copyto(self.state[name], array)


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum:

        v <- momentum v + g;   p <- p - lr v            (Nesterov: p <- p - lr (g + momentum v))

    With momentum 0, the seed's plain update p <- p - lr g.
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov
        if momentum:
            self.state = {f"velocity.{name}": np.zeros_like(p) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        for name, param in self.params.items():
            grad = grads[name]
            if self.momentum:
                velocity = self.state[f"velocity.{name}"]
                velocity *= self.momentum
                velocity += grad
                grad = grad + self.momentum * velocity if self.nesterov else velocity
            param -= self.lr * grad


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction:

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2;   t <- t + 1
        p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        self.betas, self.eps = betas, eps
        self.state = {f"{moment}.{name}": np.zeros_like(p) for moment in ("m", "v")
                      for name, p in params.items()}
        self.state["t"] = np.zeros((), dtype=np.int64)
        # two scratch buffers per parameter, reused every step (not saved: they hold nothing between steps)
        self.scratch = {name: (np.empty_like(p), np.empty_like(p)) for name, p in params.items()}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.betas
        self.state["t"] += 1
        t = int(self.state["t"])
        # fold both bias corrections into the step size: one scalar instead of two array passes
        step_size = self.lr * (1 - beta2 ** t) ** 0.5 / (1 - beta1 ** t)
        eps = self.eps * (1 - beta2 ** t) ** 0.5
        for name, param in self.params.items():
            grad = grads[name]
            m, v = self.state[f"m.{name}"], self.state[f"v.{name}"]
            a, b = self.scratch[name]  # the arithmetic of the formula above, into buffers, no temporaries
            m *= beta1
            m += np.multiply(grad, 1 - beta1, out=a)                       # m <- b1 m + (1 - b1) g
            v *= beta2
            np.multiply(grad, 1 - beta2, out=a)
            v += np.multiply(a, grad, out=a)                               # v <- b2 v + (1 - b2) g g
            np.sqrt(v, out=b)
            b += eps                                                       # sqrt(v) + eps
            param -= np.divide(np.multiply(m, step_size, out=a), b, out=a)  # p <- p - step_size m / (...)
