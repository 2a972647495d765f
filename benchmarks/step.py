"""One training step of the seed VAE, side by side in one run: numpyvae, the matrix-multiply floor, PyTorch.

    python -m benchmarks.step                    # batch 32, 128, 512 in float32 and float64
    python -m benchmarks.step --batch 128 --dtype float32 --rounds 30

A step is loss + backward + optimizer update (plain SGD, lr 0.001, dropout on). The floor is only the
matrix products such a step needs, on arrays of the same shapes: no activation, no loss, no update. The
bound is the floor plus the element-wise work no NumPy step of this model can skip (see ``bound_step``):
the least a NumPy implementation could take.
PyTorch runs the same model (the same initial weights, the seed's loss with the clip done on the
logits, torch.optim.SGD) when torch is importable; otherwise its column says so.

The machine is shared and noisy, so the three are measured interleaved: each round times a block of
steps of each contender in turn, and the table gives the median over all steps and the spread
(the half-width between the 25th and 75th percentiles).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from numpyvae.cli import Parser
from numpyvae.optim import SGD
from numpyvae.vae import VAE

LR = 0.001


def sample_images(batch_size: int, dtype, seed: int = 0) -> np.ndarray:
    """MNIST-like inputs without needing the dataset: about 80% zeros, the rest grey levels in (0, 1]."""
    rng = np.random.default_rng(seed)
    pixels = rng.random((batch_size, 784)) * (rng.random((batch_size, 784)) < 0.2)
    return pixels.astype(dtype)


def numpyvae_step(batch_size: int, dtype) -> Callable[[], None]:
    model = VAE(dtype=dtype)
    optimizer = SGD(model.params, lr=LR)
    x = sample_images(batch_size, dtype)

    def step() -> None:
        model.loss(x)
        model.backward()
        optimizer.step(model.grads)
    return step


def product_shapes(batch_size: int, input_dim: int = 784, hidden_dims: tuple[int, int] = (500, 500),
                   latent_dim: int = 20) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """The (left, right) operand shapes of every matrix product one training step needs.

    Per dense layer (in, out): forward x W, the weight gradient x^T g and the input gradient g W^T.
    The two encoder heads read the same input, so one (in, 2 * latent) product serves both, and the
    first layer needs no input gradient (its input is data).
    """
    first, second = hidden_dims
    layers = [(input_dim, first), (first, second), (second, 2 * latent_dim),
              (latent_dim, second), (second, first), (first, input_dim)]
    shapes = []
    for index, (n_in, n_out) in enumerate(layers):
        shapes.append(((batch_size, n_in), (n_in, n_out)))          # forward
        shapes.append(((n_in, batch_size), (batch_size, n_out)))    # weight gradient
        if index > 0:
            shapes.append(((batch_size, n_out), (n_out, n_in)))     # input gradient
    return shapes


def floor_step(batch_size: int, dtype) -> Callable[[], None]:
    rng = np.random.default_rng(0)
    operands = [(rng.standard_normal(left).astype(dtype), rng.standard_normal(right).astype(dtype),
                 np.empty((left[0], right[1]), dtype=dtype)) for left, right in product_shapes(batch_size)]

    def step() -> None:
        for left, right, out in operands:
            np.matmul(left, right, out=out)
    return step


def bound_step(batch_size: int, dtype) -> Callable[[], None]:
    """The floor plus only the element-wise work that every NumPy training step of this model must do.

    That is: one exponential per hidden unit (the two ELUs' e^x, and the two tanh at their cheapest, as
    1 - 2 / (1 + e^2x)); the output's sigmoid (one exponential) and the log in its log-likelihood; the
    random bits of the four dropout masks and the latent noise; and the SGD update of every parameter.
    Every other pass (bias adds, mask products, the backward passes of the activations, the loss sums)
    is left out, so a real step can only be slower than this.
    """
    products = floor_step(batch_size, dtype)
    model = VAE(dtype=dtype)
    optimizer = SGD(model.params, lr=LR)
    rng = np.random.default_rng(0)
    first, second = model.config["hidden_dims"]
    hidden = [rng.standard_normal((batch_size, width)).astype(dtype) for width in (first, second, second, first)]
    logits = rng.standard_normal((batch_size, model.config["input_dim"])).astype(dtype)
    probabilities = rng.uniform(0.01, 1, logits.shape).astype(dtype)
    bits = model.rng.bit_generator

    def step() -> None:
        products()
        for units in hidden:
            np.exp(units)
            bits.random_raw(-(-units.size // 4))  # 16 bits per unit, as numpyvae's Dropout draws them
        np.exp(logits)
        np.log(probabilities)
        model.rng.standard_normal((batch_size, model.config["latent_dim"]), dtype=dtype)
        optimizer.step(model.grads)
    return step


def torch_step(batch_size: int, dtype) -> Callable[[], None] | None:
    try:
        import torch
    except ImportError:
        return None
    torch_dtype = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[np.dtype(dtype)]
    reference = VAE(dtype=dtype)  # the same initial weights as numpyvae's model
    layers = {}
    for name, dense in reference.dense_layers.items():
        linear = torch.nn.Linear(dense.in_features, dense.out_features, dtype=torch_dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(dense.params["weight"].T.copy()))
            linear.bias.copy_(torch.from_numpy(dense.params["bias"]))
        layers[name] = linear
    parameters = [p for linear in layers.values() for p in linear.parameters()]
    optimizer = torch.optim.SGD(parameters, lr=LR)
    x = torch.from_numpy(sample_images(batch_size, dtype))
    keep_prob, clip = reference.config["keep_prob"], float(np.log((1 - 1e-8) / 1e-8))
    functional = torch.nn.functional

    def dropout(h):
        return functional.dropout(h, p=1 - keep_prob, training=True)

    def step() -> None:
        h = dropout(functional.elu(layers["encoder.fc1"](x)))
        h = dropout(torch.tanh(layers["encoder.fc2"](h)))
        mean, std = layers["encoder.mean"](h), 1e-6 + functional.softplus(layers["encoder.std"](h))
        z = mean + std * torch.randn_like(std)
        h = dropout(torch.tanh(layers["decoder.fc1"](z)))
        h = dropout(functional.elu(layers["decoder.fc2"](h)))
        logits = torch.clamp(layers["decoder.output"](h), -clip, clip)  # the seed's clip of p, on the logits
        log_likelihood = -functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (std * std + mean * mean - torch.log(1e-8 + std * std) - 1).sum(1)
        loss = -(log_likelihood - kl).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def measure(contenders: dict[str, Callable[[], None]], rounds: int, block: int,
            warmup: int = 10, pause: float = 0.2) -> dict[str, np.ndarray]:
    """Per-step seconds of each contender, timed in interleaved blocks of ``block`` steps.

    A pause follows each block: OpenBLAS's and PyTorch's worker threads keep spinning for a while
    after their last call, and would otherwise steal the cores from whoever runs next.
    """
    for step in contenders.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, step in contenders.items():
            for _ in range(block):
                started = time.perf_counter()
                step()
                times[name].append(time.perf_counter() - started)
            time.sleep(pause)
    return {name: np.array(values) for name, values in times.items()}


def summary(seconds: np.ndarray) -> tuple[float, float]:
    """Median and half the interquartile range, in milliseconds."""
    q25, q50, q75 = np.percentile(seconds * 1e3, [25, 50, 75])
    return float(q50), float(q75 - q25) / 2


def threads_note() -> str:
    note = f"cores: {os.cpu_count()}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    try:
        import torch
        note += f"; torch {torch.__version__} threads: {torch.get_num_threads()}"
    except ImportError:
        note += "; torch not installed (pip install -e '.[oracle]' to compare)"
    return note


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks.step", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128, 512],
                        help="batch sizes (default: 32 128 512)")
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"],
                        help="floating-point types (default: float32 float64)")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds per setting (default: 20)")
    parser.add_argument("--block", type=int, default=10, help="steps per contender per round (default: 10)")
    args = parser.parse_args(argv)
    if min(args.batch + [args.rounds, args.block]) < 1:
        parser.error("--batch, --rounds and --block must be positive")

    print(threads_note())
    columns = ("numpyvae", "floor", "bound", "pytorch")
    ratios = {"nv/floor": ("numpyvae", "floor"), "bound/floor": ("bound", "floor"),
              "nv/torch": ("numpyvae", "pytorch")}
    header = f"{'batch':>5} {'dtype':>7} | " + " | ".join(f"{name + ' ms':>13}" for name in columns) + " | " + \
        " | ".join(f"{label:>11}" for label in ratios)
    print(header)
    print("-" * len(header))
    for dtype in args.dtype:
        for batch_size in args.batch:
            contenders = {"numpyvae": numpyvae_step(batch_size, dtype), "floor": floor_step(batch_size, dtype),
                          "bound": bound_step(batch_size, dtype)}
            torch_contender = torch_step(batch_size, dtype)
            if torch_contender is not None:
                contenders["pytorch"] = torch_contender
            results = {name: summary(times) for name, times in
                       measure(contenders, args.rounds, args.block).items()}
            cells = [f"{results[name][0]:7.2f} ±{results[name][1]:4.2f}" if name in results else f"{'-':>13}"
                     for name in columns]
            cells += [f"{results[top][0] / results[bottom][0]:11.2f}" if bottom in results else f"{'-':>11}"
                      for top, bottom in ratios.values()]
            print(f"{batch_size:>5} {dtype:>7} | " + " | ".join(cells), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
