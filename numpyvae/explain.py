"""The chain rule on a real network: ``python -m numpyvae.explain``.

Runs one tiny batch through a small float64 VAE, then walks the backward pass stage by stage, from the
loss back to the first layer's weights, printing for each gradient the equation that produced it, its
shape, its norm, and its relative error against a numerical gradient (central differences of the loss
with respect to that very tensor, the rest of the network recomputed from it with the dropout masks and
the noise eps held fixed). The backward pass here calls the same layer methods as ``VAE.backward``,
one at a time, so every intermediate gradient can be seen.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .cli import Parser, run
from .gradcheck import TINY, numerical_gradient
from .layers import Dropout
from .vae import STD_FLOOR, VAE

TOLERANCE = 1e-6
# The difference step. ELU's second derivative jumps at 0: a step that carries an ELU input across 0 makes
# the central difference itself wrong by about step^2, so the step is kept small.
STEP = 3e-4


@dataclass
class Stage:
    """One row of the walk: a gradient, the equation behind it, and the tensor it differentiates."""

    name: str
    equation: str
    gradient: np.ndarray
    tensor: Callable[[], np.ndarray]  # the forward value to perturb (a cached activation or a parameter)
    rerun_from: str | None            # the first forward step to recompute after perturbing it (None: none)


class TracedVAE:
    """A VAE's forward pass as named steps over a dict of values, so that it can restart at any step."""

    def __init__(self, model: VAE, x: np.ndarray, eps: np.ndarray, training: bool) -> None:
        self.model, self.x, self.eps, self.training = model, x, eps, training
        e, d = model.encoder.layers, model.decoder.layers
        fixed = self._fixed_mask
        self.steps: list[tuple[str, Callable[[dict], np.ndarray]]] = [
            ("enc.a1", lambda v: e[0].forward(v["x"])), ("enc.h1", lambda v: e[1].forward(v["enc.a1"])),
            ("enc.d1", lambda v: fixed(e[2], v["enc.h1"])), ("enc.a2", lambda v: e[3].forward(v["enc.d1"])),
            ("enc.h2", lambda v: e[4].forward(v["enc.a2"])), ("h", lambda v: fixed(e[5], v["enc.h2"])),
            ("z_mean", lambda v: model.mean_head.forward(v["h"])),
            ("std.s", lambda v: model.std_head.layers[0].forward(v["h"])),
            ("z_std", lambda v: model.std_head.layers[1].forward(v["std.s"]) + STD_FLOOR),
            ("z", lambda v: v["z_mean"] + v["z_std"] * self.eps),
            ("dec.b1", lambda v: d[0].forward(v["z"])), ("dec.g1", lambda v: d[1].forward(v["dec.b1"])),
            ("dec.e1", lambda v: fixed(d[2], v["dec.g1"])), ("dec.b2", lambda v: d[3].forward(v["dec.e1"])),
            ("dec.g2", lambda v: d[4].forward(v["dec.b2"])), ("dec.e2", lambda v: fixed(d[5], v["dec.g2"])),
            ("logits", lambda v: d[6].forward(v["dec.e2"])),
        ]
        self.values: dict[str, np.ndarray] = {"x": x}

    def _fixed_mask(self, dropout: Dropout, value: np.ndarray) -> np.ndarray:
        """Dropout with the mask of the first pass, so perturbed reruns see the same network."""
        return value if dropout.scaled_mask is None else value * dropout.scaled_mask

    def forward(self) -> float:
        """The whole pass through the model's own loss, which draws the dropout masks once."""
        loss = self.model.loss(self.x, self.training, self.eps)
        self.run_steps(0)  # fill the named values with the same masks
        return loss

    def run_steps(self, first: int) -> np.ndarray:
        """Recompute every step from ``first`` on; returns the per-example loss terms, which sum to the loss."""
        for name, step in self.steps[first:]:
            self.values[name] = step(self.values)
        model, batch = self.model, len(self.x)
        log_likelihood = model.reconstruction.forward(self.values["logits"], self.x)
        kl = model.kl.forward(self.values["z_mean"], self.values["z_std"])
        return (model.kl_term_weight() * kl - log_likelihood) / batch

    def index(self, name: str) -> int:
        return next(i for i, (step, _) in enumerate(self.steps) if step == name)


def walk_backward(traced: TracedVAE) -> list[Stage]:
    """The backward pass of ``VAE.backward``, one layer call at a time, recording each gradient."""
    model, v = traced.model, traced.values
    e, d = model.encoder.layers, model.decoder.layers
    batch = len(traced.x)
    stages: list[Stage] = []

    def record(name: str, equation: str, gradient: np.ndarray, rerun_from: str | None) -> np.ndarray:
        stages.append(Stage(name, equation, gradient.copy(), lambda: v[name], rerun_from))
        return gradient

    def dense(name: str, grad: np.ndarray) -> np.ndarray:
        layer = model.dense_layers[name]
        grad_in = layer.backward(grad)
        for param, equation in (("weight", "dL/dW = input^T g"), ("bias", "dL/db = sum over the batch of g")):
            stages.append(Stage(f"{name}.{param}", equation, layer.grads[param].copy(),
                                lambda param=param: layer.params[param], traced.steps[0][0]))
        return grad_in

    g = record("logits", "dL/da = -(x - p) / B", model.reconstruction.backward(-1 / batch), None)
    g = record("dec.e2", "dL/de2 = g W_out^T", dense("decoder.output", g), "logits")
    g = record("dec.g2", "dL/dg2 = g * mask / keep_prob", d[5].backward(g), "dec.e2")
    g = record("dec.b2", "dL/db2 = g * ELU'(b2)", d[4].backward(g), "dec.g2")
    g = record("dec.e1", "dL/de1 = g W_fc2^T", dense("decoder.fc2", g), "dec.b2")
    g = record("dec.g1", "dL/dg1 = g * mask / keep_prob", d[2].backward(g), "dec.e1")
    g = record("dec.b1", "dL/db1 = g * (1 - tanh(b1)^2)", d[1].backward(g), "dec.g1")
    grad_z = record("z", "dL/dz = g W_fc1^T", dense("decoder.fc1", g), "dec.b1")
    kl_mean, kl_std = model.kl.backward(model.kl_term_weight() / batch)
    grad_mean = record("z_mean", "dL/dmean = dL/dz + mean / B", grad_z + kl_mean, "std.s")
    grad_std = record("z_std", "dL/dstd = dL/dz eps + (std - std/(1e-8+std^2))/B", grad_z * traced.eps + kl_std,
                      "z")
    grad_s = record("std.s", "dL/ds = dL/dstd * sigmoid(s)", model.std_head.layers[1].backward(grad_std), "z_std")
    grad_h = dense("encoder.mean", grad_mean) + dense("encoder.std", grad_s)
    g = record("h", "dL/dh = g_mean W_mean^T + g_s W_std^T", grad_h, "z_mean")
    g = record("enc.h2", "dL/dh2 = g * mask / keep_prob", e[5].backward(g), "h")
    g = record("enc.a2", "dL/da2 = g * (1 - tanh(a2)^2)", e[4].backward(g), "enc.h2")
    g = record("enc.d1", "dL/dd1 = g W_fc2^T", dense("encoder.fc2", g), "enc.a2")
    g = record("enc.h1", "dL/dh1 = g * mask / keep_prob", e[2].backward(g), "enc.d1")
    g = record("enc.a1", "dL/da1 = g * ELU'(a1)", e[1].backward(g), "enc.h1")
    dense("encoder.fc1", g)
    return stages


def numerical_check(traced: TracedVAE, stage: Stage, h: float) -> float:
    """||a - n|| / (||a|| + ||n||) of ``stage.gradient`` (a) against central differences of the loss in its
    tensor (n). Taken over the whole tensor: an entry a million times smaller than the loss's rounding
    can't be resolved by differences, and would swamp an element-by-element maximum."""
    first = len(traced.steps) if stage.rerun_from is None else traced.index(stage.rerun_from)
    numeric = numerical_gradient(lambda: traced.run_steps(first), stage.tensor(), h)
    return float(np.linalg.norm(stage.gradient - numeric) /
                 max(np.linalg.norm(stage.gradient) + np.linalg.norm(numeric), TINY))


def explain(*, batch: int = 4, pixels: int = 64, hidden: int = 16, latent: int = 3, dropout: bool = True,
            seed: int = 0, h: float = STEP) -> tuple[float, list[tuple[Stage, float]]]:
    """The loss of one tiny batch and every stage of its backward pass with its numerical-check error."""
    rng = np.random.default_rng(seed)
    model = VAE(pixels, (hidden, hidden), latent, keep_prob=0.8 if dropout else 1.0, seed=seed, dtype=np.float64)
    x = rng.random((batch, pixels))
    eps = rng.standard_normal((batch, latent))
    traced = TracedVAE(model, x, eps, training=True)
    loss = traced.forward()
    stages = walk_backward(traced)
    return loss, [(stage, numerical_check(traced, stage, h)) for stage in stages]


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.explain",
                    description="Walk the backward pass of a tiny VAE stage by stage: each gradient's "
                                "equation, shape, norm and numerical-check error.")
    parser.add_argument("--batch", type=int, default=4, help="images in the batch (random pixels)")
    parser.add_argument("--pixels", type=int, default=64, help="pixels per image (an 8x8 image by default: "
                        "every weight is checked numerically, so keep it small)")
    parser.add_argument("--hidden", type=int, default=16, help="width of both hidden layers")
    parser.add_argument("--latent", type=int, default=3, help="size of the latent code")
    parser.add_argument("--no-dropout", action="store_true", help="turn dropout off (keep_prob 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, the batch and the noise")
    return parser


def explain_command(args: argparse.Namespace) -> int:
    loss, rows = explain(batch=args.batch, pixels=args.pixels, hidden=args.hidden, latent=args.latent,
                         dropout=not args.no_dropout, seed=args.seed)
    print(f"loss = -mean(log p(x|z) - KL) = {loss:.6f} on {args.batch} images; backward, from the loss down")
    print("(rel. error = ||a - n|| / (||a|| + ||n||), a by hand, n by central differences of the loss)")
    print(f"{'gradient of the loss wrt':<22} {'equation':<56} {'shape':>9} {'norm':>10} {'rel. error':>10}")
    failed = False
    for stage, error in rows:
        failed |= not error < TOLERANCE
        shape = "x".join(map(str, stage.gradient.shape))
        print(f"{stage.name:<22} {stage.equation:<56} {shape:>9} {np.linalg.norm(stage.gradient):>10.4g} "
              f"{error:>10.1e}{'' if error < TOLERANCE else '  FAIL'}")
    print("every gradient agrees with its numerical check" if not failed else
          f"some gradients are off by more than {TOLERANCE} (an ELU input within {2 * STEP:g} of 0 makes the "
          "numerical gradient cross its kink: try another --seed)")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    return run(explain_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
