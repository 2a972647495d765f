"""The forward pass as a legend and the backward pass stage by stage, each gradient checked numerically.

One naming scheme serves the encoder and the decoder alike. Hidden layer i of a network computes

    enc.a{i} = (its input) W_enc{i} + b_enc{i}      the pre-activation
    enc.v{i} = f(enc.a{i})                          the activation (ELU or tanh)
    enc.r{i} = enc.v{i} * m / rho                   after dropout: mask m, keep probability rho

(``dec.`` for the decoder). The encoder's last output is ``h``, read by both heads; the decoder's last
affine map gives the ``logits``. ``dN`` always means dL/dN, the gradient of the loss with respect to N.

The walk calls the same layer methods as ``VAE.backward``, one at a time, so every intermediate gradient
can be seen; each is compared with central differences of the loss in that very tensor, the rest of the
network recomputed from it with the dropout masks and the noise eps held fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...models.vae import STD_FLOOR, VAE
from ...nn.layers import ELU, Dense, Dropout, Layer, Sequential, Sigmoid, Tanh
from ...nn.losses import LOGIT_CLIP
from ..gradcheck import TINY, numerical_gradient

TOLERANCE = 1e-6
# The difference step. ELU's second derivative jumps at 0: a step that carries an ELU input across 0 makes
# the central difference itself wrong by about step^2, so the step is kept small.
STEP = 3e-4

ACTIVATIONS = {ELU: ("ELU", "ELU'({a})", "ELU'(a) = 1 if a > 0 else e^a"),
               Tanh: ("tanh", "(1 - {y}^2)", "tanh'(a) = 1 - tanh(a)^2"),
               Sigmoid: ("sigmoid", "{y} (1 - {y})", "sigmoid'(a) = sigmoid(a) (1 - sigmoid(a))")}


@dataclass
class Step:
    """One named node of the forward pass: how it is computed from earlier nodes."""

    name: str
    compute: Callable[[dict], np.ndarray]
    formula: str
    note: str = ""
    layer: Layer | None = None
    source: str = ""  # the node a layer step reads


@dataclass
class Stage:
    """One row of the walk: a gradient, the equation behind it, and the tensor it differentiates."""

    name: str
    equation: str
    gradient: np.ndarray
    tensor: Callable[[], np.ndarray]  # the forward value to perturb (a node's value or a parameter)
    rerun_from: int                   # the first forward step to recompute after perturbing it
    note: str = field(default="")


def weight_names(model: VAE) -> dict[int, tuple[str, str]]:
    """id(Dense layer) -> (its key in ``model.params`` without .weight, its short symbol like W_enc1)."""
    names = {}
    decoder_depth = sum(isinstance(layer, Dense) for layer in model.decoder.layers)
    for key, layer in model.dense_layers.items():
        part, _, role = key.partition(".")
        short = {"mean": "mu", "std": "sigma", "output": f"dec{decoder_depth}"}.get(role)
        if short is None:
            short = ("enc" if part == "encoder" else "dec") + role.removeprefix("fc")
        names[id(layer)] = (key, short)
    return names


class TracedVAE:
    """A VAE's forward pass as named steps over a dict of values, so that it can restart at any step."""

    def __init__(self, model: VAE, x: np.ndarray, eps: np.ndarray, training: bool = True,
                 labels: np.ndarray | None = None) -> None:
        self.model, self.x, self.eps, self.training, self.labels = model, x, eps, training, labels
        self.iwae = getattr(model, "objective", "elbo") == "iwae"
        self.conditional = getattr(model, "num_classes", 0) > 0
        self.samples = len(eps) if self.iwae else 1  # K, the samples per image
        self.names = weight_names(model)
        self.steps: list[Step] = []
        self.values: dict[str, np.ndarray] = {"x": x}
        if self.conditional:
            self.values["y"] = model.one_hot(labels, len(x))
            self.steps.append(Step("xy", lambda v: model.input_concat.forward([v["x"], v["y"]]), "[x | y]",
                                   "the image and its one-hot label y side by side"))
        self._mlp("enc", model.encoder, "xy" if self.conditional else "x", last="h")
        self.steps += [
            Step("mu", lambda v: model.mean_head.forward(v["h"]), "h W_mu + b_mu", "posterior mean (z_mean in vae.py)",
                 model.mean_head, "h"),
            Step("a_sigma", lambda v: model.std_head.layers[0].forward(v["h"]), "h W_sigma + b_sigma",
                 "pre-activation of the std head", model.std_head.layers[0], "h"),
            Step("sigma", lambda v: model.std_head.layers[1].forward(v["a_sigma"]) + STD_FLOOR,
                 "1e-6 + softplus(a_sigma)", "posterior std (z_std in vae.py)", model.std_head.layers[1],
                 "a_sigma"),
        ]
        if self.iwae:
            latent = eps.shape[-1]
            self.steps.append(Step("z", lambda v: (v["mu"] + v["sigma"] * self.eps).reshape(-1, latent),
                                   "mu + sigma * eps_k", "K samples per image, eps_k held fixed: row k B + b"))
        else:
            self.steps.append(Step("z", lambda v: v["mu"] + v["sigma"] * self.eps, "mu + sigma * eps",
                                   "eps ~ N(0, I), held fixed: the reparameterization"))
        if self.conditional:
            self.steps.append(Step("zy", lambda v: model.latent_concat.forward([v["z"], np.tile(v["y"], (
                self.samples, 1))]), "[z | y]", "the code and the label side by side"))
        self._mlp("dec", model.decoder, "zy" if self.conditional else "z", last="logits")
        if self.iwae:
            self.steps.append(Step("log_w", self._log_weights, "log p(x | z_k) + log p(z_k) - log q(z_k | x)",
                                   "the log importance weights, (K, B)"))

    def _log_weights(self, v: dict) -> np.ndarray:
        model, k, batch = self.model, self.samples, len(self.x)
        z = v["z"].reshape(k, batch, -1)
        log_likelihood = model.reconstruction.forward(v["logits"], np.tile(self.x, (k, 1))).reshape(k, batch)
        # the model's own log-weight, eps held fixed as in VAE._iwae_backward
        return model.log_weight.forward(log_likelihood, z, self.eps, v["sigma"])

    def _mlp(self, prefix: str, network: Sequential, source: str, last: str) -> None:
        """Name each layer's output: {prefix}.a{i} after Dense i, .v{i} after its activation, .r{i} after dropout."""
        layer_index, current = 0, source
        for layer in network.layers:
            if isinstance(layer, Dense):
                layer_index += 1
                symbol = self.names[id(layer)][1]
                name, formula = f"{prefix}.a{layer_index}", f"{current} W_{symbol} + b_{symbol}"
                note = "pre-activation"
            elif isinstance(layer, Dropout):
                name, formula = f"{prefix}.r{layer_index}", f"{current} * m / rho"
                note = "after dropout"
            else:
                name, formula = f"{prefix}.v{layer_index}", f"{ACTIVATIONS[type(layer)][0]}({current})"
                note = "activation"
            self.steps.append(Step(name, self._compute(layer, current), formula, note, layer, current))
            current = name
        self.steps[-1].note = f"{self.steps[-1].name}, " + ("the trunk's output, read by both heads" if last == "h"
                                                            else "the output layer's pre-activation")
        self.steps[-1].name = last

    def _compute(self, layer: Layer, source: str) -> Callable[[dict], np.ndarray]:
        if isinstance(layer, Dropout):  # the mask of the first pass, so perturbed reruns see the same network
            return lambda v: v[source] if layer.scaled_mask is None else v[source] * layer.scaled_mask
        return lambda v: layer.forward(v[source])

    def forward(self) -> float:
        """The whole pass through the model's own loss, which draws the dropout masks once."""
        loss = self.model.loss(self.x, self.training, self.eps, labels=self.labels)
        self.run_steps(0)  # fill the named values with the same masks
        return loss

    def run_steps(self, first: int) -> np.ndarray:
        """Recompute every step from ``first`` on; returns the per-example loss terms, which sum to the loss."""
        for step in self.steps[first:]:
            self.values[step.name] = step.compute(self.values)
        model, batch = self.model, len(self.x)
        if self.iwae:
            return -model.bound.forward(self.values["log_w"]) / batch
        log_likelihood = model.reconstruction.forward(self.values["logits"], self.x)
        kl = model.kl.forward(self.values["mu"], self.values["sigma"])
        return (model.kl_term_weight() * kl - log_likelihood) / batch

    def index(self, name: str) -> int:
        return next(i for i, step in enumerate(self.steps) if step.name == name)

    def legend(self) -> list[str]:
        """The forward pass, one line per node: name, shape, how it is computed, what it is."""
        model = self.model
        dropout = next((layer for layer in model.encoder.layers if isinstance(layer, Dropout)), None)
        keep = f"rho = {dropout.mask_prob:.6g}" if dropout is not None and dropout.keep_prob < 1 else "rho = 1"
        lines = [f"{'node':<9} {'shape':>6}   {'= computed from earlier nodes':<36} what it is",
                 f"{'x':<9} {_shape(self.x):>6}   {'the images, pixels in [0, 1]':<36} data"]
        if self.conditional:
            lines.append(f"{'y':<9} {_shape(self.values['y']):>6}   {'the labels, one-hot':<36} data")
        for step in self.steps:
            note = step.note
            if isinstance(step.layer, Dense):
                key = self.names[id(step.layer)][0]
                note += f" ({key}.weight, .bias)"
            elif isinstance(step.layer, Dropout):
                note += f" (mask m, {keep})"
            lines.append(f"{step.name:<9} {_shape(self.values[step.name]):>6}   = {step.formula:<34} {note}")
        lines.append(f"{'xhat':<9} {_shape(self.values['logits']):>6}   = {'sigmoid(logits)':<34} pixel "
                     f"probabilities; logits clipped to +-{LOGIT_CLIP:.2f}")
        given = " | y" if self.conditional else ""
        if self.iwae:
            lines += [f"{'L':<9} {'1':>6}   = -(1/B) sum_b log (1/K) sum_k w_kb   the IWAE loss, K = {self.samples}",
                      f"   log p(x | z{given}) = sum over pixels of x log xhat + (1 - x) log(1 - xhat); log p(z) and "
                      f"log q(z | x{given}) the Gaussian densities"]
        else:
            lines += [f"{'L':<9} {'1':>6}   = (1/B) sum_b [beta KL_b - log p(x_b | z_b{given})]   the loss (beta = "
                      f"{model.kl_term_weight():g})",
                      f"   log p(x | z{given}) = sum over pixels of x log xhat + (1 - x) log(1 - xhat)",
                      "   KL = 0.5 sum over latent dims of (sigma^2 + mu^2 - log(1e-8 + sigma^2) - 1)"]
        lines += [
                  "   f' : " + "; ".join(sorted({ACTIVATIONS[type(layer)][2] for net in (model.encoder, model.decoder)
                                                 for layer in net.layers if type(layer) in ACTIVATIONS}))]
        return lines


def _shape(array: np.ndarray) -> str:
    return "x".join(map(str, np.shape(array))) or "1"


# The two places where gradients meet, as functions of their own so that a planted bug can replace them.
def reparameterization_backward(grad_z, eps, kl_grad_mu, kl_grad_sigma):
    """z = mu + sigma * eps: dz reaches mu unchanged and sigma times eps; each picks up its KL term."""
    return grad_z + kl_grad_mu, grad_z * eps + kl_grad_sigma


def trunk_backward(grad_h_from_mu, grad_h_from_sigma):
    """h feeds both heads, so the two paths' gradients with respect to h add (the multivariate chain rule)."""
    return grad_h_from_mu + grad_h_from_sigma


def walk_backward(traced: TracedVAE) -> list[Stage]:
    """The backward pass of ``VAE.backward``, one layer call at a time, recording each gradient."""
    model, values = traced.model, traced.values
    batch = len(traced.x)
    beta = model.kl_term_weight()
    stages: list[Stage] = []

    def record(name: str, equation: str, gradient: np.ndarray) -> np.ndarray:
        stages.append(Stage(name, equation, gradient.copy(), lambda: values[name], traced.index(name) + 1))
        return gradient

    def through(network_steps: list[Step], grad: np.ndarray, record_input: bool = True) -> np.ndarray | None:
        """Backward through the steps of one MLP, last to first; returns the gradient of its input (recorded
        as a row unless ``record_input`` is false: the caller adds to it first)."""
        for position in range(len(network_steps) - 1, -1, -1):
            step = network_steps[position]
            source, layer = step.source, step.layer
            if isinstance(layer, Dense):
                key, symbol = traced.names[id(layer)]
                grad_in = layer.backward(grad)
                stage_index = traced.index(step.name)
                for param, equation in (("weight", f"dW_{symbol} = {source}^T d{step.name}"),
                                        ("bias", f"db_{symbol} = sum over the batch of d{step.name}")):
                    stages.append(Stage(f"{key}.{param}", equation, layer.grads[param].copy(),
                                        lambda layer=layer, param=param: layer.params[param], stage_index))
                if grad_in is None:  # the first layer: its input is data
                    return None
                if position == 0 and not record_input:
                    return grad_in
                grad = record(source, f"d{source} = d{step.name} W_{symbol}^T", grad_in)
            elif isinstance(layer, Dropout):
                grad = record(source, f"d{source} = d{step.name} * m / rho", layer.backward(grad))
            else:
                derivative = ACTIVATIONS[type(layer)][1].format(a=source, y=step.name)
                grad = record(source, f"d{source} = d{step.name} * {derivative}", layer.backward(grad))
        return grad

    steps = traced.steps
    first_decoder = traced.index("zy" if traced.conditional else "z") + 1
    decoder_steps = steps[first_decoder:traced.index("logits") + 1]
    encoder_steps = steps[:traced.index("h") + 1]
    if traced.iwae:
        grad_log_w = record("log_w", "dlog_w = -(1/B) softmax over k of log_w  (the normalized weights)",
                            model.bound.backward(-1 / batch))
        grad = record("logits", "dlogits = dlog_w * (x - xhat)", model.reconstruction.backward(grad_log_w.reshape(-1)))
    else:
        grad = record("logits", "dlogits = -(x - xhat) / B", model.reconstruction.backward(-1 / batch))
    grad_z = through(decoder_steps, grad, record_input=traced.conditional)
    if traced.conditional:
        grad_z = model.latent_concat.backward(grad_z)[0]
        if not traced.iwae:
            record("z", "dz = dzy[:, :J]  (the label's columns are data: dropped)", grad_z)
    b = "beta " if beta != 1 else ""
    if traced.iwae:
        k, latent = traced.samples, traced.eps.shape[-1]
        from_decoder = "dzy[:, :J]" if traced.conditional else f"d{decoder_steps[0].name} W_dec1^T"
        _, w_grad_z, w_grad_sigma = model.log_weight.backward(grad_log_w)
        grad_z = grad_z.reshape(k, batch, latent) + w_grad_z
        record("z", f"dz = {from_decoder} - dlog_w z  (two paths add: the decoder, log p(z) - log q(z | x))",
               grad_z.reshape(-1, latent))
        grad_mu = record("mu", "dmu = sum over k of dz_k", grad_z.sum(0))
        grad_sigma = record("sigma", "dsigma = sum over k of (dz_k eps_k + dlog_w_k / sigma)",
                            (grad_z * traced.eps).sum(0) + w_grad_sigma)
    else:
        if not traced.conditional:
            record("z", f"dz = d{decoder_steps[0].name} W_dec1^T", grad_z)
        kl_grad_mu, kl_grad_sigma = model.kl.backward(beta / batch)
        grad_mu, grad_sigma = reparameterization_backward(grad_z, traced.eps, kl_grad_mu, kl_grad_sigma)
        record("mu", f"dmu = dz + {b}mu / B", grad_mu)
        record("sigma", f"dsigma = dz * eps + {b}(sigma - sigma / (1e-8 + sigma^2)) / B", grad_sigma)
    grad_a_sigma = record("a_sigma", "da_sigma = dsigma * sigmoid(a_sigma)", model.std_head.layers[1].backward(
        grad_sigma))
    grad_h_mu = through([steps[traced.index("mu")]], grad_mu)
    stages.pop()  # through() recorded dh from one head only; the row below has the sum
    grad_h_sigma = through([steps[traced.index("a_sigma")]], grad_a_sigma)
    stages.pop()
    grad_h = record("h", "dh = dmu W_mu^T + da_sigma W_sigma^T   (the two heads' paths add)",
                    trunk_backward(grad_h_mu, grad_h_sigma))
    through(encoder_steps, grad_h)
    return stages


def numerical_check(traced: TracedVAE, stage: Stage, h: float = STEP) -> float:
    """||a - n|| / (||a|| + ||n||) of ``stage.gradient`` (a) against central differences of the loss in its
    tensor (n). Taken over the whole tensor: an entry a million times smaller than the loss's rounding
    can't be resolved by differences, and would swamp an element-by-element maximum."""
    numeric = numerical_gradient(lambda: traced.run_steps(stage.rerun_from), stage.tensor(), h)
    traced.run_steps(stage.rerun_from)  # the last difference left its nodes perturbed: recompute them as they were
    return float(np.linalg.norm(stage.gradient - numeric) /
                 max(np.linalg.norm(stage.gradient) + np.linalg.norm(numeric), TINY))


def tiny_model(*, batch: int = 4, pixels: int = 64, hidden: int = 16, latent: int = 3, dropout: bool = True,
               seed: int = 0, classes: int = 0, objective: str = "elbo", k: int = 1) -> TracedVAE:
    """The walk's network: a small float64 VAE, a batch of random images (and labels) and fixed noise.

    ``classes`` > 0 makes it the conditional VAE; ``objective="iwae"`` trains the IWAE bound with ``k`` samples.
    """
    rng = np.random.default_rng(seed)
    model = VAE(pixels, (hidden, hidden), latent, keep_prob=0.8 if dropout else 1.0, seed=seed, dtype=np.float64,
                num_classes=classes, objective=objective, k=k)
    x = rng.random((batch, pixels))
    eps = rng.standard_normal((k, batch, latent) if objective == "iwae" else (batch, latent))
    labels = rng.integers(0, classes, batch) if classes else None
    return TracedVAE(model, x, eps, training=True, labels=labels)


def explain(*, batch: int = 4, pixels: int = 64, hidden: int = 16, latent: int = 3, dropout: bool = True,
            seed: int = 0, classes: int = 0, objective: str = "elbo", k: int = 1,
            h: float = STEP) -> tuple[float, list[tuple[Stage, float]], TracedVAE]:
    """The loss of one tiny batch, every stage of its backward pass with its numerical-check error, and the trace."""
    traced = tiny_model(batch=batch, pixels=pixels, hidden=hidden, latent=latent, dropout=dropout, seed=seed,
                        classes=classes, objective=objective, k=k)
    loss = traced.forward()
    stages = walk_backward(traced)
    return loss, [(stage, numerical_check(traced, stage, h)) for stage in stages], traced
