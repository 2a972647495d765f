"""One training step of the seed VAE, side by side: numpyvae, the matrix-multiply floor, its bound, PyTorch, JAX.

    python -m benchmarks.step                        # batch 128, float32 and float64, 10 rounds
    python -m benchmarks.step --batch 32 128 512 --rounds 15 --steps 100
    python -m benchmarks.step --base /tmp/base       # also numpyvae from another checkout, e.g. a base commit
    python -m benchmarks.step --kernels off Haswell  # also numpyvae under OpenBLAS's own kernels, and Haswell's

A step is loss + backward + optimizer update (plain SGD, lr 0.001, dropout on), on the seed's model
(784-500-500-20, ELU/tanh, dropout keep 0.9, std = 1e-6 + softplus, clipped-sigmoid Bernoulli, analytic KL).
The contenders:

    numpyvae       the step as ``python train.py`` runs it, under the kernels numpyvae chooses (numpyvae.kernels)
    numpyvae@base  the same step with ``numpyvae`` from another checkout (--base), under the same kernels: the
                   ratio compares two versions of the code, not two kernels
    numpyvae[K]    numpyvae with OPENBLAS_CORETYPE=K (--kernels K; K = off: OpenBLAS's own choice, what numpyvae
                   ran before it chose): the ratio compares kernels under the same code
    floor          only the matrix products such a step needs, on arrays of the same shapes
    bound          the floor plus the element-wise work no NumPy step of this model can skip (``bound_step``)
    pytorch        the same model and initial weights in PyTorch (the clip done on the logits, torch.optim.SGD);
                   a column only when torch is importable (pip install -e '.[oracle]')
    jax            the same model and initial weights in JAX: one ``jax.jit`` of loss, gradient and SGD update,
                   the dropout and noise keys drawn inside; a column only when jax is importable
                   (pip install -e '.[bench]')

Every contender runs alone in a fresh process (``--worker``), one process per contender per round, the
order reversed every other round (numpyvae.kernels.timing, the harness numpyvae.doctor uses too), so none
inherits another's spinning BLAS or torch threads, warm caches or heap. Each worker times ``--steps`` steps
after a warm-up and prints them as JSON; a round's figure is the median of its steps, and the table gives the
median over the rounds, the spread (half the interquartile range of the round medians) and ratios of the
medians shown. The header names the CPU, its cores and each contender's BLAS kernels and threads.
"""

from __future__ import annotations

import numpyvae  # noqa: F401  first, before NumPy loads: numpyvae chooses OpenBLAS's kernels (numpyvae.kernels)

# isort: split
import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from numpyvae import kernels
from numpyvae.cli import Parser
from numpyvae.kernels.timing import load_average, measure_rounds, median_and_spread, run_json, time_steps
from numpyvae.models.vae import VAE
from numpyvae.nn.optim import SGD
from numpyvae.training.checkup import OFF, sample_images, seed_step, setting_environment

LR = 0.001
REPO = Path(__file__).resolve().parent.parent
CONTENDERS = ("numpyvae", "floor", "bound", "pytorch", "jax")
KEEP_PROB, STD_FLOOR, PROB_CLIP, VARIANCE_GUARD = 0.9, 1e-6, 1e-8, 1e-8  # the seed's constants


def load_checkout(root: Path, alias: str = "numpyvae_base"):
    """The ``numpyvae`` package of another checkout, imported under ``alias`` beside this one.

    Its modules import one another relatively, so they stay within that checkout; this process's own numpyvae
    was imported first and has chosen the BLAS kernels both use.
    """
    spec = importlib.util.spec_from_file_location(alias, root / "numpyvae" / "__init__.py",
                                                  submodule_search_locations=[str(root / "numpyvae")])
    package = importlib.util.module_from_spec(spec)
    sys.modules[alias] = package
    spec.loader.exec_module(package)
    return package


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
    clip = float(np.log((1 - PROB_CLIP) / PROB_CLIP))
    functional = torch.nn.functional

    def dropout(h):
        return functional.dropout(h, p=1 - KEEP_PROB, training=True)

    def step() -> None:
        h = dropout(functional.elu(layers["encoder.fc1"](x)))
        h = dropout(torch.tanh(layers["encoder.fc2"](h)))
        mean, std = layers["encoder.mean"](h), STD_FLOOR + functional.softplus(layers["encoder.std"](h))
        z = mean + std * torch.randn_like(std)
        h = dropout(torch.tanh(layers["decoder.fc1"](z)))
        h = dropout(functional.elu(layers["decoder.fc2"](h)))
        logits = torch.clamp(layers["decoder.output"](h), -clip, clip)  # the seed's clip of p, on the logits
        log_likelihood = -functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
        kl = 0.5 * (std * std + mean * mean - torch.log(VARIANCE_GUARD + std * std) - 1).sum(1)
        loss = -(log_likelihood - kl).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return step


def jax_loss(params: dict, x, eps, dropout_keys=None):
    """The seed's loss in JAX: -mean(log p(x | z) - KL) with z = mean + std * eps; no dropout without keys.

    ``params`` holds numpyvae's names and layout (weights (in, out)); ``dropout_keys`` four PRNG keys.
    """
    import jax
    import jax.numpy as jnp

    def dense(name, h):
        return h @ params[f"{name}.weight"] + params[f"{name}.bias"]

    def dropout(index, h):
        if dropout_keys is None:
            return h
        return jnp.where(jax.random.bernoulli(dropout_keys[index], KEEP_PROB, h.shape), h / KEEP_PROB, 0)

    h = dropout(0, jax.nn.elu(dense("encoder.fc1", x)))
    h = dropout(1, jnp.tanh(dense("encoder.fc2", h)))
    mean, std = dense("encoder.mean", h), STD_FLOOR + jax.nn.softplus(dense("encoder.std", h))
    z = mean + std * eps
    h = dropout(2, jnp.tanh(dense("decoder.fc1", z)))
    h = dropout(3, jax.nn.elu(dense("decoder.fc2", h)))
    clip = float(np.log((1 - PROB_CLIP) / PROB_CLIP))
    logits = jnp.clip(dense("decoder.output", h), -clip, clip)  # the seed's clip of p, on the logits
    log_likelihood = jnp.sum(x * logits - jax.nn.softplus(logits), axis=1)  # x log p + (1 - x) log(1 - p)
    kl = 0.5 * jnp.sum(std * std + mean * mean - jnp.log(VARIANCE_GUARD + std * std) - 1, axis=1)
    return -jnp.mean(log_likelihood - kl)


def jax_step(batch_size: int, dtype) -> Callable[[], None] | None:
    try:
        import jax
    except ImportError:
        return None
    if np.dtype(dtype) == np.float64:
        jax.config.update("jax_enable_x64", True)
    reference = VAE(dtype=dtype)  # the same initial weights as numpyvae's model
    params = {name: jax.numpy.asarray(array) for name, array in reference.params.items()}
    x = jax.numpy.asarray(sample_images(batch_size, dtype))
    latent = reference.config["latent_dim"]

    def train_step(params, key):
        key, noise, *dropout_keys = jax.random.split(key, 6)
        eps = jax.random.normal(noise, (batch_size, latent), dtype)
        loss, grads = jax.value_and_grad(jax_loss)(params, x, eps, dropout_keys)
        return jax.tree.map(lambda p, g: p - LR * g, params, grads), key, loss

    compiled = jax.jit(train_step, donate_argnums=0)
    state = {"params": params, "key": jax.random.key(0), "loss": None}

    def step() -> None:
        state["params"], state["key"], state["loss"] = compiled(state["params"], state["key"])
        jax.block_until_ready((state["params"], state["loss"]))
    step.state = state
    return step


def importable(module: str) -> bool:
    """Whether ``module`` can be imported here (without importing it: the peers load only in their workers)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules (as the tests do) raises ValueError
        return False


def contender_name(name: str) -> str:
    """The step a column runs: numpyvae@base and numpyvae[K] run numpyvae's."""
    return name.split("@")[0].split("[")[0]


def make_step(name: str, batch_size: int, dtype, package=None) -> Callable[[], None] | None:
    """The step function of a contender (None for pytorch or jax when they are not installed)."""
    if name == "numpyvae":
        return seed_step(batch_size, dtype, package)
    makers = {"floor": floor_step, "bound": bound_step, "pytorch": torch_step, "jax": jax_step}
    return makers[name](batch_size, dtype)


def library_note(name: str) -> str:
    """The contender's own library and its threads, for the header."""
    if name == "pytorch":
        import torch
        return f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    if name == "jax":
        import jax
        return f"jax {jax.__version__} ({jax.default_backend()}, {jax.local_device_count()} device)"
    return ""


def worker(name: str, batch_size: int, dtype: str, steps: int, warmup: int, root: Path | None = None) -> dict:
    """Time ``steps`` steps of one contender after ``warmup`` untimed ones: what a ``--worker`` process prints."""
    package = load_checkout(root) if root is not None else None
    step = make_step(name, batch_size, dtype, package)
    if step is None:
        return {"contender": name, "available": False}
    return {"contender": name, "available": True, "batch": batch_size, "dtype": dtype,
            "numpyvae": str(Path((package or numpyvae).__file__).absolute().parent),
            "kernels": kernels.describe(), "library": library_note(name), **time_steps(step, steps, warmup)}


def run_worker(name: str, batch_size: int, dtype: str, steps: int, warmup: int, root: Path | None = None,
               env: dict[str, str] | None = None) -> dict:
    """One contender alone in a fresh Python process (``root``: the checkout whose numpyvae it times)."""
    command = [sys.executable, "-m", "benchmarks.step", "--worker", contender_name(name), "--batch", str(batch_size),
               "--dtype", dtype, "--steps", str(steps), "--warmup", str(warmup)]
    if root is not None:
        command += ["--root", str(root)]
    environment = dict(os.environ if env is None else env)
    environment["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [environment.get("PYTHONPATH")] if p])
    return run_json(command, env=environment, cwd=REPO)


def contender_environment(name: str) -> dict[str, str]:
    """The environment of a contender's process: this one's, with numpyvae[K]'s core type K set."""
    if "[" not in name:
        return dict(os.environ)
    return setting_environment(name[name.index("[") + 1:-1], None, dict(os.environ))


def measure_separately(names: list[str], roots: dict[str, Path], batch_size: int, dtype: str, rounds: int,
                       steps: int, warmup: int, clock: str = "wall",
                       seen: dict[str, dict] | None = None) -> dict[str, list[float]]:
    """Each round's median step (ms) of each contender, every contender alone in its own process, rounds
    alternating. ``clock="cpu"`` takes the worker process's CPU time (all its threads) instead of the wall time.
    ``seen`` collects each contender's last report (its kernels, its library)."""
    key = {"wall": "step_ms", "cpu": "cpu_ms"}[clock]
    seen = {} if seen is None else seen

    def measure(name: str) -> float | None:
        report = run_worker(name, batch_size, dtype, steps, warmup, roots.get(name), contender_environment(name))
        seen[name] = report
        return float(np.median(report[key])) if report["available"] else None

    return measure_rounds(names, rounds, measure, desc=f"batch {batch_size} {dtype}")


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


def machine_note() -> str:
    """CPU, cores and this process's BLAS (its kernels as OpenBLAS runs them, not as NumPy was built)."""
    return (f"CPU: {kernels.cpu_description()}; {kernels.usable_cores()} cores; {kernels.summary_line()} "
            f"via numpy {np.__version__}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")


def contenders_note(seen: dict[str, dict]) -> str:
    """What each contender's process really ran: its BLAS kernels and threads, its library."""
    parts = []
    for name, report in seen.items():
        if not report.get("available"):
            parts.append(f"{name}: not installed")
            continue
        blas = report["kernels"]
        text = f"{name}: {blas['coretype'] or 'unknown'} x {blas['threads']}"
        parts.append(text + (f", {report['library']}" if report.get("library") else ""))
    return "kernels x BLAS threads per contender: " + "; ".join(parts)


def ratio_columns(columns: list[str]) -> dict[str, tuple[str, str]]:
    ratios = {"nv/bound": ("numpyvae", "bound"), "nv/floor": ("numpyvae", "floor"),
              "nv/torch": ("numpyvae", "pytorch"), "nv/jax": ("numpyvae", "jax"), "bound/floor": ("bound", "floor"),
              "nv/nv@base": ("numpyvae", "numpyvae@base"), "base/torch": ("numpyvae@base", "pytorch")}
    ratios.update({f"nv/nv[{name[9:-1]}]": ("numpyvae", name) for name in columns if name.startswith("numpyvae[")})
    return {label: pair for label, pair in ratios.items() if set(pair) <= set(columns)}


def build_parser() -> Parser:
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
    parser.add_argument("--kernels", nargs="+", default=[], metavar="CORETYPE",
                        help="also time numpyvae with OPENBLAS_CORETYPE set to each of these, as columns "
                             "numpyvae[CORETYPE]; off: OpenBLAS's own choice (default: none)")
    parser.add_argument("--only", nargs="+", default=None, metavar="CONTENDER",
                        help=f"time only these contenders, of {', '.join(CONTENDERS)}, numpyvae@base and "
                             "numpyvae[CORETYPE] (default: all)")
    parser.add_argument("--worker", choices=CONTENDERS, default=None,
                        help="internal: time one contender in this process and print its step times as JSON")
    parser.add_argument("--root", type=Path, default=None,
                        help="internal, with --worker: the checkout whose numpyvae to time (default: this one)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if min(args.batch + [args.rounds, args.steps]) < 1 or args.warmup < 0:
        parser.error("--batch, --rounds and --steps must be positive, --warmup not negative")
    if args.worker is not None:
        if len(args.batch) != 1 or len(args.dtype) != 1:
            parser.error("--worker takes one --batch and one --dtype")
        report = worker(args.worker, args.batch[0], args.dtype[0], args.steps, args.warmup, args.root)
        print(json.dumps(report, allow_nan=False))
        return 0
    if args.base is not None and not (args.base / "numpyvae" / "__init__.py").is_file():
        parser.error(f"--base {args.base}: no numpyvae/__init__.py there")
    cores = []
    for name in args.kernels:
        core = OFF if name.lower() == OFF else kernels.canonical_coretype(name)
        if core is None:
            parser.error(f"--kernels {name}: not an OpenBLAS x86-64 core type (e.g. Haswell, SkylakeX) nor off")
        cores.append(core)

    peers = [name for name, module in (("pytorch", "torch"), ("jax", "jax")) if importable(module)]
    columns = ["numpyvae"] + (["numpyvae@base"] if args.base else []) + \
        [f"numpyvae[{core}]" for core in dict.fromkeys(cores)] + ["floor", "bound"] + peers
    if args.only is not None:
        unknown = sorted(set(args.only) - set(columns))
        if unknown:
            parser.error(f"--only {' '.join(unknown)}: not a contender here (choose from {', '.join(columns)})")
        columns = [name for name in columns if name in args.only]
    print(machine_note())
    ratios = ratio_columns(columns)
    clock = "CPU time of the worker process" if args.clock == "cpu" else "wall time"
    print(f"median step ({clock}), each contender alone in a fresh process, {args.rounds} alternating rounds of "
          f"{args.steps} steps (after {args.warmup} warm-up steps); {load_average()} before")
    print(table_header(columns, ratios))
    seen: dict[str, dict] = {}
    for dtype in args.dtype:
        for batch_size in args.batch:
            roots = {"numpyvae@base": args.base} if args.base else {}
            results = {name: median_and_spread(values) for name, values in
                       measure_separately(columns, roots, batch_size, dtype, args.rounds, args.steps,
                                          args.warmup, args.clock, seen).items()}
            print(table_row(batch_size, dtype, results, columns, ratios), flush=True)
    print(contenders_note(seen))
    for name, module, extra in (("pytorch", "torch", "oracle"), ("jax", "jax", "bench")):
        if not importable(module):
            print(f"{name}: {module} is not installed, so no {name} column (pip install -e '.[{extra}]' to compare)")
    print(load_average() + " after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
