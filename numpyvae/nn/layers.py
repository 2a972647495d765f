"""Layers with hand-written forward and backward passes.

Every layer follows one contract:

- ``forward(x, training=True)`` returns the output and caches exactly what ``backward`` needs;
- ``backward(grad_out)`` takes dL/d(output), returns dL/d(input), and *sets* ``grads[name]`` for every
  ``params[name]`` (parameterless layers have empty dicts);
- every operation keeps the layer's dtype (float32 for training, float64 for gradient checks): no
  silent upcast to float64.

Shapes: inputs are (batch, features); ``Dense`` maps (B, in) -> (B, out); the activations and
``Dropout`` keep the shape, but for ``GLU``, which halves the features: (B, 2n) -> (B, n).
"""

from __future__ import annotations

import numpy as np

from .initializers import variance_scaling


class Layer:
    """Base class: a differentiable function with named parameters and their gradients."""

    widening = 1  # the features of its input per feature of its output (an activation after a Dense layer)

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        return self.forward(x, training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Affine map y = x W + b, with W of shape (in, out) and b of shape (out,).

    dL/dW = x^T g,  dL/db = sum over the batch of g,  dL/dx = g W^T.

    ``input_grad=False`` makes ``backward`` skip dL/dx and return None: the first layer of a network
    sees data, whose gradient nobody needs, and that product is a ninth of a training step's work.
    """

    def __init__(self, in_features: int, out_features: int, *, rng: np.random.Generator | None = None,
                 dtype=np.float32, input_grad: bool = True) -> None:
        super().__init__()
        rng = np.random.default_rng() if rng is None else rng
        self.in_features, self.out_features = in_features, out_features
        self.input_grad = input_grad
        self.params["weight"] = variance_scaling(in_features, out_features, rng, dtype=dtype)
        self.params["bias"] = np.zeros(out_features, dtype=dtype)
        self.grads = {name: np.zeros_like(p) for name, p in self.params.items()}

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.x = x
        y = x @ self.params["weight"]
        y += self.params["bias"]
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        np.matmul(self.x.T, grad_out, out=self.grads["weight"])
        np.add.reduce(grad_out, axis=0, out=self.grads["bias"])  # np.sum without its Python wrapper
        return grad_out @ self.params["weight"].T if self.input_grad else None

    def __repr__(self) -> str:
        return f"Dense({self.in_features}, {self.out_features})"


def row_of_zeros(x: np.ndarray) -> np.ndarray:
    """Zeros shaped like one row of x, which broadcast over the other rows.

    np.minimum(x, 0) gives the same values, but NumPy 2 takes a slower loop for a scalar operand of
    minimum and maximum: 2 to 2.5 times as long for a (128, 500) float32 x on an AVX2 CPU.
    """
    return np.zeros(x.shape[-1:], x.dtype)


class ELU(Layer):
    """y = x for x > 0, alpha (e^x - 1) otherwise.   dy/dx = 1 for x > 0, alpha e^x otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        negative_part = np.minimum(x, row_of_zeros(x))
        exp_neg = np.exp(negative_part)  # e^x where x <= 0, e^0 = 1 elsewhere: never overflows
        y = x - negative_part            # max(x, 0)
        # alpha (e^x - 1), 0 where x > 0, written over min(x, 0), which is no longer needed
        if self.alpha != 1:
            np.multiply(exp_neg, self.alpha, out=negative_part)
            negative_part -= self.alpha
        else:
            np.subtract(exp_neg, 1, out=negative_part)
        y += negative_part
        # dy/dx = alpha e^x where x <= 0 and 1 elsewhere, which for alpha = 1 is exp_neg itself
        self.slope = exp_neg if self.alpha == 1 else np.where(x > 0, 1, self.alpha * exp_neg)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.slope

    def __repr__(self) -> str:
        return f"ELU(alpha={self.alpha})"


class Tanh(Layer):
    """y = tanh(x).   dy/dx = 1 - y^2."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.y = np.tanh(x)
        return self.y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad = self.y * self.y
        np.subtract(1, grad, out=grad)
        grad *= grad_out
        return grad


def _exp_neg_abs(x: np.ndarray) -> np.ndarray:
    """e^-|x|: in (0, 1] for every finite x, so sigmoid and softplus built on it cannot overflow."""
    return np.exp(-np.abs(x))


def _sigmoid_from(x: np.ndarray, exp_neg_abs: np.ndarray) -> np.ndarray:
    """sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) for x < 0, both from e^-|x|."""
    return np.where(x >= 0, 1, exp_neg_abs) / (1 + exp_neg_abs)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function 1 / (1 + e^-x), without overflow for any finite x."""
    return _sigmoid_from(x, _exp_neg_abs(x))


class Sigmoid(Layer):
    """y = 1 / (1 + e^-x), stable for every finite x.   dy/dx = y (1 - y)."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.y = sigmoid(x)
        return self.y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.y * (1 - self.y)


class Softplus(Layer):
    """y = log(1 + e^x) = max(x, 0) + log1p(e^-|x|).   dy/dx = sigmoid(x).

    The second form neither overflows for large x nor takes log(0) for very negative x.
    """

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        exp_neg_abs = _exp_neg_abs(x)
        self.sigmoid = _sigmoid_from(x, exp_neg_abs)
        return np.maximum(x, 0) + np.log1p(exp_neg_abs)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.sigmoid


class Dropout(Layer):
    """Inverted dropout, as ``tf.nn.dropout(x, keep_prob)``: y = x * m / q, m ~ Bernoulli(q).

    The mask compares 16 random bits with a threshold t, so the probability it really keeps a unit is
    q = t / 2^16, the multiple of 2^-16 nearest ``keep_prob`` (0.9 -> 0.899994). Kept units are scaled by
    1/q, the reciprocal of that probability, so that E[y] = x exactly and evaluation needs no rescaling:
    with ``training=False`` the layer is the identity.   dy/dx = m / q.
    """

    def __init__(self, keep_prob: float, *, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0 < keep_prob <= 1:
            raise ValueError(f"keep_prob must be in (0, 1], got {keep_prob}")
        self.keep_prob = keep_prob
        # the keep probability becomes a multiple of 2^-16 (0.9 -> 0.899994); keep_prob 1 never draws
        self.threshold = np.uint16(min(max(round(keep_prob * 2**16), 1), 2**16 - 1))
        self.mask_prob = int(self.threshold) / 2**16  # the probability the mask really keeps a unit
        self.rng = np.random.default_rng() if rng is None else rng

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        if not training or self.keep_prob == 1:
            self.scaled_mask = None
            return x
        # 16 random bits per unit, kept when below keep_prob * 2^16: four units per draw from the
        # generator make the mask a third of the cost of uniform floats
        bits = self.rng.bit_generator.random_raw(-(-x.size // 4)).view(np.uint16)[:x.size].reshape(x.shape)
        # the mask already holds the 1/q scale, so forward and backward are one product each; the kept units'
        # True becomes 1/q and the dropped units' False 0 in that one product (no cast to floats first)
        self.scaled_mask = np.multiply(bits < self.threshold, x.dtype.type(1 / self.mask_prob))
        return x * self.scaled_mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out if self.scaled_mask is None else grad_out * self.scaled_mask

    def __repr__(self) -> str:
        return f"Dropout(keep_prob={self.keep_prob})"


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse (the chain rule).

    Parameters are reachable by name as ``"<index>.<param>"``, e.g. ``"0.weight"``; ``params`` and
    ``grads`` are views onto the layers' own arrays, so updating them in place updates the layers.
    """

    def __init__(self, *layers: Layer) -> None:
        super().__init__()
        self.layers = list(layers)
        for index, layer in enumerate(self.layers):
            for name in layer.params:
                self.params[f"{index}.{name}"] = layer.params[name]
                self.grads[f"{index}.{name}"] = layer.grads[name]

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(map(repr, self.layers)) + ")"


class ReLU(Layer):
    """y = max(x, 0).   dy/dx = 1 for x > 0, 0 otherwise (0 at the kink itself, as every framework takes it)."""

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        self.positive = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.positive


class LeakyReLU(Layer):
    """y = x for x > 0, slope * x otherwise.   dy/dx = 1 for x > 0, slope otherwise.

    A small slope for negative inputs (0.01 by default) keeps a unit's gradient alive where ReLU's is 0.
    """

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        self.slope = slope

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        # the derivative itself, in the input's dtype: forward and backward are one product each
        self.derivative = np.where(x > 0, 1, self.slope).astype(x.dtype, copy=False)
        return x * self.derivative

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self.derivative

    def __repr__(self) -> str:
        return f"LeakyReLU(slope={self.slope})"


class GLU(Layer):
    """The gated linear unit: the first half of the input's features, each gated by a sigmoid of its partner in
    the second half. After a Dense layer of 2n outputs it is the gated dense layer of Tomczak & Welling's
    VampPrior models (Dauphin et al. 2017), which PyTorch writes ``nn.Linear(in, 2 n)`` then ``nn.GLU()``:

        x = [a | b]  (B, 2n),     s = sigmoid(b),     y = a * s  (B, n)
        dL/da = g * s,            dL/db = g * a * s (1 - s) = (g * s) * a * (1 - s)

    ``widening = 2``: the Dense layer before it has twice the width it is given (``Layer.widening`` is 1).
    """

    widening = 2

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:
        half = x.shape[-1] // 2
        self.a, self.s = x[..., :half], sigmoid(x[..., half:])
        return self.a * self.s

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        grad_a = grad_out * self.s
        return np.concatenate([grad_a, grad_a * self.a * (1 - self.s)], axis=-1)


# the hidden-layer activations a model can be built from, by the names the command line uses
ACTIVATIONS = {"elu": ELU, "tanh": Tanh, "relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid,
               "softplus": Softplus, "glu": GLU}


class Concat:
    """Joins arrays side by side along the feature axis: [a, b, ...] (B, n_a), (B, n_b), ... -> (B, n_a + n_b + ...).

    Each output column is a copy of one input column, so the gradient of the output splits back into the
    inputs' column ranges unchanged:

        y = [a | b]      =>      dL/da = g[:, :n_a],   dL/db = g[:, n_a:n_a + n_b].

    The conditional VAE joins the one-hot label y to the image x before the encoder and to z before the
    decoder; its backward pass keeps the slice that belongs to z and drops the label's (data needs no gradient).
    ``forward`` takes a sequence of arrays, ``backward`` returns a list of gradients in the same order.
    """

    def forward(self, parts, training: bool = True) -> np.ndarray:
        self.widths = [part.shape[-1] for part in parts]
        return np.concatenate(parts, axis=-1)

    def backward(self, grad_out: np.ndarray) -> list[np.ndarray]:
        bounds = np.cumsum([0, *self.widths])
        return [grad_out[..., start:stop] for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]

    def __repr__(self) -> str:
        return "Concat()"
