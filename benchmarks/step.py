"""One training step of the seed VAE, side by side: numpyvae, the matrix-multiply floor, its bound, PyTorch.

    python -m benchmarks.step                    # fair mode: batch 128, float32 and float64, 10 rounds
    python -m benchmarks.step --batch 32 128 512 --rounds 15 --steps 100
    python -m benchmarks.step --base /tmp/base   # also numpyvae from another checkout, e.g. a base commit
    python -m benchmarks.step --in-process       # the older interleaved run, all in this one process

A step is loss + backward + optimizer update (plain SGD, lr 0.001, dropout on). The floor is only the
matrix products such a step needs, on arrays of the same shapes: no activation, no loss, no update. The
bound is the floor plus the element-wise work no NumPy step of this model can skip (see ``bound_step``):
the least a NumPy implementation could take.
PyTorch runs the same model (the same initial weights, the seed's loss with the clip done on the
logits, torch.optim.SGD) when torch is importable; otherwise its column says so.

Fair mode (the default): every contender runs alone in a fresh process (``--worker``), one process per
contender per round, the order reversed every other round, so none inherits another's spinning BLAS or
torch threads, warm caches or heap. Each worker times ``--steps`` steps after a warm-up and prints them
as JSON; a round's figure is the median of its steps, and the table gives the median over the rounds,
the spread (half the interquartile range of the round medians) and ratios of the medians shown.

``--in-process`` keeps the older mode: all contenders in this process, interleaved blocks of steps.
There OpenBLAS threads still spinning after numpy's products slow PyTorch down, which flatters numpyvae.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from numpyvae.cli import Parser
from numpyvae.models.vae import VAE
from numpyvae.nn.optim import SGD
from numpyvae.progress import progress_bar

LR = 0.001
REPO = Path(__file__).resolve().parent.parent
CONTENDERS = ("numpyvae", "floor", "bound", "pytorch")


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


def cpu_model() -> str:
    """The CPU's model name and its vector extensions, from /proc/cpuinfo (Linux), else the platform's name."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        import platform
        return platform.processor() or "unknown CPU"
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    flags = set(fields.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{fields.get('model name', 'unknown CPU')}, {vector}"


def blas_name() -> str:
    """The BLAS numpy was built with, as ``numpy.show_config`` names it."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (KeyError, TypeError):
        return f"unknown BLAS via numpy {np.__version__}"
    config = blas.get("openblas configuration", "").split()
    build = f" ({' '.join(config[:2])}, {config[-2] if len(config) > 2 else ''})".replace(", )", ")") if config else ""
    return f"{blas.get('name', 'unknown')} {blas.get('version', '')}{build} via numpy {np.__version__}"


def threads_note() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    note = (f"CPU: {cpu_model()}; {cores} cores; BLAS: {blas_name()}; "
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    try:
        import torch
        note += f"; torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        note += "; torch not installed (pip install -e '.[oracle]' to compare)"
    return note


def load_note() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load average unknown"


def make_step(name: str, batch_size: int, dtype) -> Callable[[], None] | None:
    """The step function of a contender (None for pytorch when torch is not installed)."""
    makers = {"numpyvae": numpyvae_step, "floor": floor_step, "bound": bound_step, "pytorch": torch_step}
    return makers[name](batch_size, dtype)


def worker(name: str, batch_size: int, dtype: str, steps: int, warmup: int) -> dict:
    """Time ``steps`` steps of one contender after ``warmup`` untimed ones: what a ``--worker`` process prints."""
    step = make_step(name, batch_size, dtype)
    if step is None:
        return {"contender": name, "available": False}
    for _ in range(warmup):
        step()
    seconds, cpu_seconds = [], []
    for _ in range(steps):
        started, cpu_started = time.perf_counter(), time.process_time()
        step()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    import numpyvae
    return {"contender": name, "available": True, "batch": batch_size, "dtype": dtype,
            "numpyvae": str(Path(numpyvae.__file__).absolute().parent), "step_ms": [1e3 * value for value in seconds],
            "cpu_ms": [1e3 * value for value in cpu_seconds]}


def run_worker(name: str, batch_size: int, dtype: str, steps: int, warmup: int,
               root: Path = REPO) -> dict:
    """One contender alone in a fresh Python process whose ``numpyvae`` is imported from ``root``.

    The worker is this file run as a script, so a checkout without ``--worker`` (an older commit) can
    still be measured: only its ``numpyvae`` package is used.
    """
    contender = name.split("@")[0]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", contender, "--batch", str(batch_size),
               "--dtype", dtype, "--steps", str(steps), "--warmup", str(warmup)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"worker {name} failed ({result.returncode}): {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)


def measure_separately(names: list[str], roots: dict[str, Path], batch_size: int, dtype: str, rounds: int,
                       steps: int, warmup: int, clock: str = "wall") -> dict[str, np.ndarray]:
    """Each round's median step (ms) of each contender, every contender alone in its own process.

    The order of the contenders is reversed every other round, so none always runs first or last.
    ``clock="cpu"`` takes the CPU time of the worker's process (all its threads) instead of the wall time.
    """
    key = {"wall": "step_ms", "cpu": "cpu_ms"}[clock]
    medians: dict[str, list[float]] = {name: [] for name in names}
    with progress_bar(total=rounds * len(names), desc=f"batch {batch_size} {dtype}", unit="process", leave=False,
              file=sys.stderr) as progress:
        for index in range(rounds):
            for name in (names if index % 2 == 0 else names[::-1]):
                report = run_worker(name, batch_size, dtype, steps, warmup, roots.get(name, REPO))
                if report["available"]:
                    medians[name].append(float(np.median(report[key])))
                progress.update()
    return {name: np.array(values) for name, values in medians.items() if values}


def spread_summary(round_medians: np.ndarray) -> tuple[float, float]:
    """Median over the rounds and half the interquartile range, in milliseconds."""
    q25, q50, q75 = np.percentile(round_medians, [25, 50, 75])
    return float(q50), float(q75 - q25) / 2


def table_header(columns: list[str], ratios: dict[str, tuple[str, str]]) -> str:
    header = f"{'batch':>5} {'dtype':>7} | " + " | ".join(f"{name + ' ms':>14}" for name in columns) + " | " + \
        " | ".join(f"{label:>11}" for label in ratios)
    return header + "\n" + "-" * len(header)


def table_row(batch_size: int, dtype: str, results: dict[str, tuple[float, float]], columns: list[str],
              ratios: dict[str, tuple[str, str]]) -> str:
    """One line: each contender's median ± spread, then each ratio of two medians as printed (two decimals)."""
    cells = [f"{results[name][0]:7.2f} ±{results[name][1]:5.2f}" if name in results else f"{'-':>14}"
             for name in columns]
    cells += [f"{round(results[top][0], 2) / round(results[bottom][0], 2):11.3f}"
              if top in results and bottom in results else f"{'-':>11}" for top, bottom in ratios.values()]
    return f"{batch_size:>5} {dtype:>7} | " + " | ".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m benchmarks.step", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, nargs="+", default=[128], help="batch sizes (default: 128)")
    parser.add_argument("--dtype", nargs="+", default=["float32", "float64"], choices=["float32", "float64"],
                        help="floating-point types (default: float32 float64)")
    parser.add_argument("--rounds", type=int, default=10,
                        help="rounds per setting; in each, every contender runs once (default: 10)")
    parser.add_argument("--steps", type=int, default=100,
                        help="timed steps per contender per round, each round in a fresh process (default: 100)")
    parser.add_argument("--warmup", type=int, default=20,
                        help="untimed steps a fresh process runs before timing (default: 20)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall: elapsed time per step; cpu: the worker process's CPU time per step, all its "
                             "threads together (less sensitive to other programs' load; spinning threads count)")
    parser.add_argument("--base", type=Path, default=None,
                        help="also time numpyvae imported from this checkout, as the column numpyvae@base "
                             "(e.g. git worktree add /tmp/base <commit>); default: none")
    parser.add_argument("--only", nargs="+", default=None, metavar="CONTENDER",
                        help=f"time only these contenders, of {', '.join(CONTENDERS)} and numpyvae@base "
                             "(default: all)")
    parser.add_argument("--in-process", action="store_true",
                        help="the older mode: all contenders interleaved in this one process, in blocks of --block")
    parser.add_argument("--block", type=int, default=10, help="--in-process: steps per contender per block "
                        "(default: 10)")
    parser.add_argument("--worker", choices=CONTENDERS, default=None,
                        help="internal: time one contender and print its step times as JSON")
    args = parser.parse_args(argv)
    if min(args.batch + [args.rounds, args.block, args.steps]) < 1 or args.warmup < 0:
        parser.error("--batch, --rounds, --steps and --block must be positive, --warmup not negative")
    if args.worker is not None:
        if len(args.batch) != 1 or len(args.dtype) != 1:
            parser.error("--worker takes one --batch and one --dtype")
        report = worker(args.worker, args.batch[0], args.dtype[0], args.steps, args.warmup)
        print(json.dumps(report, allow_nan=False))
        return 0
    if args.base is not None and not (args.base / "numpyvae" / "vae.py").is_file():
        parser.error(f"--base {args.base}: no numpyvae/vae.py there")
    if args.clock == "cpu" and args.in_process:
        parser.error("--clock cpu needs the fair mode (a process per contender); drop --in-process")
    if args.base is not None and args.in_process:
        parser.error("--base needs the fair mode (a process per contender); drop --in-process")

    columns = ["numpyvae"] + (["numpyvae@base"] if args.base else []) + ["floor", "bound", "pytorch"]
    if args.only is not None:
        unknown = sorted(set(args.only) - set(columns))
        if unknown:
            parser.error(f"--only {' '.join(unknown)}: not a contender here (choose from {', '.join(columns)})")
        columns = [name for name in columns if name in args.only]
    print(threads_note())
    ratios = {"nv/bound": ("numpyvae", "bound"), "nv/floor": ("numpyvae", "floor"),
              "nv/torch": ("numpyvae", "pytorch"), "bound/floor": ("bound", "floor")}
    if args.base:
        ratios.update({"nv/nv@base": ("numpyvae", "numpyvae@base"), "base/torch": ("numpyvae@base", "pytorch")})
    ratios = {label: pair for label, pair in ratios.items() if set(pair) <= set(columns)}
    mode = (f"in one process, {args.rounds} interleaved rounds of {args.block} steps each" if args.in_process else
            f"each contender alone in a fresh process, {args.rounds} alternating rounds of {args.steps} steps "
            f"(after {args.warmup} warm-up steps)")
    clock = "CPU time of the worker process" if args.clock == "cpu" else "wall time"
    print(f"median step ({clock}), {mode}; {load_note()} before")
    print(table_header(columns, ratios))
    last = {}
    for dtype in args.dtype:
        for batch_size in args.batch:
            if args.in_process:
                contenders = {name: make_step(name, batch_size, dtype) for name in columns}
                times = measure({name: step for name, step in contenders.items() if step is not None},
                                args.rounds, args.block)
                results = {name: summary(values) for name, values in times.items()}
            else:
                roots = {"numpyvae@base": args.base} if args.base else {}
                results = {name: spread_summary(values) for name, values in
                           measure_separately(columns, roots, batch_size, dtype, args.rounds, args.steps,
                                              args.warmup, args.clock).items()}
            print(table_row(batch_size, dtype, results, columns, ratios), flush=True)
            last = results
    if "pytorch" in columns and "pytorch" not in last:
        print("pytorch: torch not installed in the worker (pip install -e '.[oracle]' to compare)")
    print(load_note() + " after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
