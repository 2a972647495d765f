"""The forward pass as a legend and the backward pass stage by stage, each gradient checked numerically.

One naming scheme serves the encoder and the decoder alike. Hidden layer i of a network computes

    enc.a{i} = (its input) W_enc{i} + b_enc{i}      the pre-activation
    enc.v{i} = f(enc.a{i})                          the activation (ELU or tanh)
    enc.r{i} = enc.v{i} * m / rho                   after dropout: mask m, keep probability rho

(``dec.`` for the decoder). The encoder's last output is ``h``, read by both heads; the decoder's last
affine map gives the ``logits``. ``dN`` always means dL/dN, the gradient of the loss with respect to N.

The walk is ``VAE.backward`` itself, run with a recorder (``model.backward(record=...)``) that it tells every
intermediate gradient as it computes it; each is compared with central differences of the loss in that very
tensor, the rest of the network recomputed from it by the named steps below with the dropout masks and the
noise eps held fixed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ...models.vae import STD_FLOOR, VAE
from ...nn.layers import ELU, Dense, Dropout, Layer, Sequential, Sigmoid, Softplus, Tanh
from ...nn.losses import LOGIT_CLIP
from ..gradcheck import TINY, numerical_gradient

TOLERANCE = 1e-6
# The difference step. ELU's second derivative jumps at 0: a step that carries an ELU input across 0 makes
# the central difference itself wrong by about step^2, so the step is kept small.
STEP = 3e-4

ACTIVATIONS = {ELU: ("ELU", "ELU'({a})", "ELU'(a) = 1 if a > 0 else e^a"),
               Tanh: ("tanh", "(1 - {y}^2)", "tanh'(a) = 1 - tanh(a)^2"),
               Sigmoid: ("sigmoid", "{y} (1 - {y})", "sigmoid'(a) = sigmoid(a) (1 - sigmoid(a))"),
               Softplus: ("softplus", "sigmoid({a})", "softplus'(a) = sigmoid(a)")}


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
    parts: dict[str, np.ndarray] = field(default_factory=dict)  # the paths' gradients that add up to this one
    numeric: np.ndarray | None = None  # its central differences, once ``numerical_check`` has run


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
        self.reported: dict[str, np.ndarray] = {}  # what VAE.backward reported, filled by ``run``
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

    def run(self) -> tuple[float, list[Stage]]:
        """The model's own loss and backward pass on this batch: the loss, and the backward pass's rows.

        ``model.loss`` draws the dropout masks once; ``VAE.backward`` then runs on its caches, observed
        (``observe_backward``); last, the named values are filled in with the same masks, for the checks.
        """
        loss = self.model.loss(self.x, self.training, self.eps, labels=self.labels)
        stages = observe_backward(self)
        self.run_steps(0)
        return loss, stages

    def run_steps(self, first: int) -> np.ndarray:
        """Recompute every step from ``first`` on; returns the per-example loss terms, which sum to the loss."""
        for step in self.steps[first:]:
            self.values[step.name] = step.compute(self.values)
        model, batch = self.model, len(self.x)
        if self.iwae:
            return -model.bound.forward(self.values["log_w"]) / batch
        log_likelihood = model.reconstruction.forward(self.values["logits"], self.x)
        kl = model.kl.forward(self.values["mu"], self.values["sigma"])
        return (model.effective_kl_weight() * kl - log_likelihood) / batch

    def index(self, name: str) -> int:
        return next(i for i, step in enumerate(self.steps) if step.name == name)

    def legend(self, derivatives: bool = True) -> list[str]:
        """The forward pass, one line per node: name, shape, how it is computed, what it is; then the loss, and
        the activations' derivatives unless ``derivatives`` is false."""
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
                      f"{model.effective_kl_weight():g})",
                      f"   log p(x | z{given}) = sum over pixels of x log xhat + (1 - x) log(1 - xhat)",
                      "   KL = 0.5 sum over latent dims of (sigma^2 + mu^2 - log(1e-8 + sigma^2) - 1)"]
        if derivatives:
            used = {type(layer) for net in (model.encoder, model.decoder) for layer in net.layers}
            lines.append("   f' : " + "; ".join(sorted(ACTIVATIONS[kind][2] for kind in used if kind in ACTIVATIONS)))
        return lines


def _shape(array: np.ndarray) -> str:
    return "x".join(map(str, np.shape(array))) or "1"


def observe_backward(traced: TracedVAE) -> list[Stage]:
    """The model's own ``VAE.backward``, run once with a recorder: every gradient it reports becomes a row.

    Call it just after ``model.loss`` on the traced batch (``TracedVAE.run`` does), so that the backward pass
    reads the loss's own caches. The rows are copies of the arrays VAE.backward computed, in the order it
    computed them: a dense layer's weight and bias rows, then its input's; the node rows take the trace's
    names (``z_mean`` is ``mu``). The partial gradients that meet at a node (the two heads' at h, the IWAE's
    two paths at z) are kept in that row's ``parts``. Everything reported stays in ``traced.reported``.
    """
    model = traced.model
    steps_by_layer = {id(step.layer): step for step in traced.steps if step.layer is not None}
    networks = {"decoder": model.decoder, "encoder": model.encoder, "std_head": model.std_head}
    equations = node_equations(traced)
    stages: list[Stage] = []
    shown: set[int] = set()  # the dense layers whose parameter rows are in
    traced.reported = reported = {}  # name -> a copy of each gradient VAE.backward reported

    def node_row(name: str, equation: str, gradient: np.ndarray) -> None:
        stages.append(Stage(name, equation, gradient, lambda: traced.values[name], traced.index(name) + 1))

    def parameter_rows(step: Step) -> None:
        layer = step.layer
        key, symbol = traced.names[id(layer)]
        for param, equation in (("weight", f"dW_{symbol} = {step.source}^T d{step.name}"),
                                ("bias", f"db_{symbol} = sum over the batch of d{step.name}")):
            stages.append(Stage(f"{key}.{param}", equation, layer.grads[param].copy(),
                                lambda layer=layer, param=param: layer.params[param], traced.index(step.name)))
        shown.add(id(layer))

    def layer_of(name: str) -> Layer | None:
        """The layer whose input's gradient VAE.backward reports as ``name`` ("decoder.3": decoder.layers[3])."""
        if name == "mean_head":
            return model.mean_head
        network, _, index = name.partition(".")
        return networks[network].layers[int(index)] if network in networks and index.isdigit() else None

    def record(name: str, gradient: np.ndarray) -> None:
        reported[name] = gradient = gradient.copy()
        layer = layer_of(name)
        if layer is not None:  # the gradient of the input of the layer of one forward step
            step = steps_by_layer[id(layer)]
            if isinstance(layer, Dense):
                parameter_rows(step)
            if step.source not in ("z", "h"):  # the model reports those two itself, once their paths have met
                node_row(step.source, _layer_equation(traced, step), gradient)
        elif name in MODEL_NODES:
            node = MODEL_NODES[name]
            node_row(node, equations[node], gradient.reshape(-1, gradient.shape[-1]) if node == "z" else gradient)

    model.backward(record=record)
    for layer in model.dense_layers.values():  # the first encoder layer: its input is data, with no gradient
        if id(layer) not in shown:
            parameter_rows(steps_by_layer[id(layer)])
    rows = {stage.name: stage for stage in stages}
    rows["h"].parts = {"the mu head's path": reported["mean_head"], "the sigma head's path": reported["std_head.0"]}
    if traced.iwae:
        rows["z"].parts = {label: reported[name].reshape(rows["z"].gradient.shape) for label, name in (
            ("the decoder's path", "z.decoder"), ("log p(z) - log q(z | x)'s, eps held fixed", "z.ratio"))}
    return stages


# VAE.backward's names for the nodes it reports itself -> the trace's
MODEL_NODES = {"log_weights": "log_w", "logits": "logits", "z": "z", "z_mean": "mu", "z_std": "sigma", "h": "h"}


def node_equations(traced: TracedVAE) -> dict[str, str]:
    """The equation of each node row that VAE.backward reports by name (the layers' rows have theirs)."""
    beta = traced.model.effective_kl_weight()
    b = "beta " if beta != 1 else ""
    first_decoder = traced.steps[traced.index("zy" if traced.conditional else "z") + 1].name
    from_decoder = "dzy[:, :J]" if traced.conditional else f"d{first_decoder} W_dec1^T"
    equations = {"h": "dh = dmu W_mu^T + da_sigma W_sigma^T   (the two heads' paths add)"}
    if traced.iwae:
        return equations | {
            "log_w": "dlog_w = -(1/B) softmax over k of log_w  (the normalized weights)",
            "logits": "dlogits = dlog_w * (x - xhat)",
            "z": f"dz = {from_decoder} - dlog_w z  (two paths add: the decoder's, log p(z) - log q(z | x)'s)",
            "mu": "dmu = sum over k of dz_k",
            "sigma": "dsigma = sum over k of (dz_k eps_k + dlog_w_k / sigma)"}
    return equations | {
        "logits": "dlogits = -(x - xhat) / B",
        "z": f"dz = {from_decoder}" + ("  (the label's columns are data: dropped)" if traced.conditional else ""),
        "mu": f"dmu = dz + {b}mu / B",
        "sigma": f"dsigma = dz * eps + {b}(sigma - sigma / (1e-8 + sigma^2)) / B"}


def _layer_equation(traced: TracedVAE, step: Step) -> str:
    """The equation of the gradient of a forward step's input, from the gradient of its output."""
    layer, source = step.layer, step.source
    if isinstance(layer, Dense):
        return f"d{source} = d{step.name} W_{traced.names[id(layer)][1]}^T"
    if isinstance(layer, Dropout):
        return f"d{source} = d{step.name} * m / rho"
    return f"d{source} = d{step.name} * {ACTIVATIONS[type(layer)][1].format(a=source, y=step.name)}"


def numerical_check(traced: TracedVAE, stage: Stage, h: float = STEP) -> float:
    """||a - n|| / (||a|| + ||n||) of ``stage.gradient`` (a) against central differences of the loss in its
    tensor (n), which is left in ``stage.numeric``. Taken over the whole tensor: an entry a million times
    smaller than the loss's rounding can't be resolved by differences, and would swamp an element-by-element
    maximum."""
    stage.numeric = numeric = numerical_gradient(lambda: traced.run_steps(stage.rerun_from), stage.tensor(), h)
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
    loss, stages = traced.run()
    return loss, [(stage, numerical_check(traced, stage, h)) for stage in stages], traced
