"""The building blocks of the models: an MLP (the VAE's and every stochastic layer's), a Gaussian conditional read from
one, and a second use of a network's weights.

    mlp           Dense, activation, dropout for each hidden width (the VAE's hidden stack)
    GaussianMLP   N(mean(h), diag std(h)^2): an MLP trunk t = trunk(h) read by two heads,
                      mean = t W_mean + b_mean,     std = 1e-6 + softplus(t W_std + b_std)
    SharedDense   a Dense layer that reads another one's weights and keeps its own gradients: the VampPrior
                  runs the encoder a second time, on the pseudo-inputs, and each use needs its own cache

Each Dense layer is entered in a ``dense_layers`` dict by its dotted name (``encoder1.fc1``, ...), the names
of the model's ``params`` and ``grads``.
"""

from __future__ import annotations

import copy

import numpy as np

from ..nn.layers import ACTIVATIONS, Dense, Dropout, Layer, Sequential, Softplus

STD_FLOOR = 1e-6  # std = 1e-6 + softplus(.), as the seed's encoder


def mlp(name: str, n_in: int, widths: list[int], activations: list[str], *, keep_prob: float,
        rng: np.random.Generator, dtype, dense_layers: dict[str, Dense], input_grad: bool = True) -> list[Layer]:
    """Dense ``{name}.fc{i}``, activation, dropout for each hidden width, weights drawn in this order.

    ``input_grad=False`` spares the first layer the gradient of its input (for a network that reads data).
    """
    layers: list[Layer] = []
    for index, (width, activation) in enumerate(zip(widths, activations, strict=True)):
        unit = ACTIVATIONS[activation]  # its Dense has widening x width outputs (2 for GLU)
        dense = Dense(n_in, unit.widening * width, rng=rng, dtype=dtype, input_grad=input_grad or index > 0)
        dense_layers[f"{name}.fc{index + 1}"] = dense
        layers += [dense, unit(), Dropout(keep_prob, rng=rng)]
        n_in = width
    return layers


class SharedDense(Dense):
    """y = x W + b with the W and b of another Dense layer (the same arrays), and gradients of its own.

    The two layers' gradients are two terms of one sum: whoever owns both adds them up.
    """

    def __init__(self, source: Dense) -> None:
        Layer.__init__(self)
        self.in_features, self.out_features, self.input_grad = source.in_features, source.out_features, True
        self.params = source.params  # the very arrays: an update of the source is an update of this layer
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}


def twin(network: Sequential, dense_layers: dict[str, Dense]) -> Sequential:
    """The same function as ``network`` in evaluation mode, on the same weights, with its own caches.

    Dense layers become SharedDense (entered in ``dense_layers`` under the source's name), dropout is left out
    (it is the identity in evaluation), each activation is a fresh copy; every layer returns its input
    gradient.
    """
    names = {id(layer): name for name, layer in dense_layers.items()}
    layers = []
    for layer in network.layers:
        if isinstance(layer, Dropout):
            continue
        if isinstance(layer, Dense):
            shared = SharedDense(layer)
            layers.append(shared)
            dense_layers[names[id(layer)]] = shared
        else:
            layers.append(copy.copy(layer))
    return Sequential(*layers)


class GaussianMLP:
    """A Gaussian conditional q(. | h) or p(. | h) = N(mean, diag std^2) computed from h (rows, n_in).

        t = trunk(h),     mean = t W_mean + b_mean,     std = 1e-6 + softplus(t W_std + b_std)     (rows, n_out)

    Backward: both heads read t, so their gradients with respect to t add up before the trunk's backward.
    """

    def __init__(self, name: str, n_in: int, widths: list[int], activations: list[str], n_out: int, *,
                 keep_prob: float, rng: np.random.Generator, dtype, input_grad: bool = True) -> None:
        self.dense_layers: dict[str, Dense] = {}
        self.trunk = Sequential(*mlp(name, n_in, widths, activations, keep_prob=keep_prob, rng=rng, dtype=dtype,
                                     dense_layers=self.dense_layers, input_grad=input_grad))
        self.mean_head = Dense(widths[-1], n_out, rng=rng, dtype=dtype)
        self.std_dense = Dense(widths[-1], n_out, rng=rng, dtype=dtype)
        self.std_head = Sequential(self.std_dense, Softplus())
        self.dense_layers.update({f"{name}.mean": self.mean_head, f"{name}.std": self.std_dense})

    def forward(self, h: np.ndarray, training: bool = True, std: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """(mean, std), both (rows, n_out); ``std=False`` skips the std head and returns (mean, None)."""
        t = self.trunk.forward(h, training)
        mean = self.mean_head.forward(t)
        return mean, (self.std_head.forward(t) + STD_FLOOR) if std else None

    def backward(self, grad_mean: np.ndarray, grad_std: np.ndarray | None = None) -> np.ndarray | None:
        """dL/dh from dL/dmean and dL/dstd (None: the std was not used); sets the grads of every Dense."""
        grad_t = self.mean_head.backward(grad_mean)
        if grad_std is not None:
            grad_t += self.std_head.backward(grad_std)  # d std / d(pre-activation) = sigmoid, in Softplus
        return self.trunk.backward(grad_t)

    def twin(self) -> GaussianMLP:
        """The same conditional on the same weights in evaluation mode (no dropout), with its own gradients,
        and an input gradient from its first layer (``dense_layers`` maps the same names to SharedDense)."""
        other = copy.copy(self)
        other.dense_layers = dict(self.dense_layers)
        other.trunk = twin(self.trunk, other.dense_layers)
        other.mean_head, other.std_dense = SharedDense(self.mean_head), SharedDense(self.std_dense)
        other.std_head = Sequential(other.std_dense, Softplus())
        names = {id(layer): name for name, layer in self.dense_layers.items()}
        other.dense_layers[names[id(self.mean_head)]] = other.mean_head
        other.dense_layers[names[id(self.std_dense)]] = other.std_dense
        return other
