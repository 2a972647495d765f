"""The doctor's check: the seed's training step under each core type this CPU can run and each thread count
that matters, each setting alone in a fresh process, and which is fastest.

``python -m numpyvae.doctor`` calls ``run_checkup`` and prints ``report_lines``; each setting's process is
``python -m numpyvae.training.checkup`` (``worker``), which imports numpyvae (so it chooses its kernels as any
numpyvae command does, under the setting's environment) and prints its step times and kernels as JSON.

Settings: "now" is the user's environment untouched, what ``python train.py`` runs; every other setting sets
``OPENBLAS_CORETYPE`` to one core type (or ``NUMPYVAE_BLAS_CORETYPE=off``, OpenBLAS's own choice) and
``OPENBLAS_NUM_THREADS`` to one thread count. Core types that this OpenBLAS runs with the same kernels as
another (it may lack some, e.g. Cooperlake -> SkylakeX) are found by a quick probe first and timed once.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from ..kernels import ENV, OPENBLAS_ENV, cpu_flags, describe, read_cpuinfo, usable_cores
from ..kernels.timing import WorkerError, measure_rounds, median_and_spread, run_json, time_steps

LR = 0.001  # the seed's SGD step size
NOW = "now"  # the setting that changes nothing: the user's own environment
OFF = "off"  # the setting that leaves OpenBLAS to choose its kernels itself


def sample_images(batch_size: int, dtype="float32", seed: int = 0) -> np.ndarray:
    """MNIST-like inputs without needing the dataset: about 80% zeros, the rest grey levels in (0, 1]."""
    rng = np.random.default_rng(seed)
    pixels = rng.random((batch_size, 784)) * (rng.random((batch_size, 784)) < 0.2)
    return pixels.astype(dtype)


def seed_step(batch_size: int = 128, dtype="float32", package=None):
    """One training step of the seed's model as ``python train.py`` runs it: loss, backward, SGD (lr 0.001).

    ``package`` is the numpyvae package whose ``VAE`` and ``SGD`` to use (default: this one); the benchmarks
    pass an older checkout's to compare two versions of the code.
    """
    if package is None:
        from ..models.vae import VAE
        from ..nn.optim import SGD
    else:
        VAE, SGD = package.VAE, package.SGD
    model = VAE(dtype=dtype)
    optimizer = SGD(model.params, lr=LR)
    x = sample_images(batch_size, dtype)

    def step() -> None:
        model.loss(x)
        model.backward()
        optimizer.step(model.grads)
    step.model = model
    return step


# -- the settings ------------------------------------------------------------------------------------------------


def candidate_coretypes(flags: frozenset[str] | None) -> list[str]:
    """The core types worth timing on a CPU with these flags: its best two tiers of OpenBLAS kernels."""
    if flags is None:
        return []
    tiers = [["SkylakeX"] + (["Cooperlake"] if "avx512_bf16" in flags else []) if {"avx512f", "avx512cd", "avx512bw",
             "avx512dq", "avx512vl", "avx2", "fma"} <= flags else [],
             ["Haswell", "Zen"] if {"avx", "avx2", "fma"} <= flags else [],
             ["Sandybridge"] if "avx" in flags else []]
    return [core for tier in [tier for tier in tiers if tier][:2] for core in tier]


def thread_counts(cores: int) -> list[int]:
    """The BLAS thread counts worth timing: 1, 2 and every core, as far as there are cores."""
    return sorted({count for count in (1, 2, cores) if 1 <= count <= cores})


def setting_environment(coretype: str, threads: int | None, environ: dict[str, str]) -> dict[str, str]:
    """The environment of a setting's process: ``environ`` with the core type and thread count set."""
    env = dict(environ)
    if coretype == NOW:
        return env
    env.pop(OPENBLAS_ENV, None)
    env.pop(ENV, None)
    if coretype == OFF:
        env[ENV] = OFF
    else:
        env[OPENBLAS_ENV] = coretype
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def worker_command(steps: int, warmup: int, batch_size: int) -> list[str]:
    return [sys.executable, "-m", "numpyvae.training.checkup", str(steps), str(warmup), str(batch_size)]


def probe(coretypes: list[str], environ: dict[str, str]) -> dict[str, str | None]:
    """The kernels OpenBLAS really runs when asked for each core type (None: it will not say), all at once."""
    processes = {core: subprocess.Popen(worker_command(0, 0, 1), env=setting_environment(core, None, environ),
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for core in coretypes}
    found = {}
    for core, process in processes.items():
        output, _ = process.communicate()
        try:
            found[core] = json.loads(output.strip().splitlines()[-1])["kernels"]["coretype"]
        except (ValueError, IndexError, KeyError, TypeError):
            found[core] = None
    return found


@dataclass
class Setting:
    """One way to run: what is asked for (``coretype``: a core type, "off" or "now"), the kernels that then run
    (``runs``), ``threads`` (None: as the environment says) and the other names that run the same kernels."""

    coretype: str
    runs: str | None
    threads: int | None
    aliases: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.coretype}/{self.threads}"


@dataclass
class Checkup:
    """What ``run_checkup`` measured: the settings, each one's round medians (ms, keyed ``Setting.key``), what
    numpyvae runs now (``describe()``), the step's size and counts, the rounds asked for, the seconds taken, and
    notes on core types this OpenBLAS runs with another's kernels."""

    settings: list[Setting]
    rounds: dict[str, list[float]]
    now: dict
    batch_size: int
    steps: int
    warmup: int
    rounds_asked: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    def result(self, setting: Setting) -> tuple[float, float] | None:
        values = self.rounds.get(setting.key)
        return median_and_spread(values) if values else None


def plan(coretypes: list[str], threads: list[int], environ: dict[str, str], now: dict) -> tuple[list[Setting],
                                                                                                 list[str]]:
    """The settings to time: "now", then one per distinct kernels x thread count; and notes on what merged."""
    running = probe([OFF, *coretypes], environ)
    distinct: dict[str, Setting] = {}
    notes = []
    for core in coretypes + [OFF]:  # a named core type represents its kernels before "off" does
        runs = running[core]
        if runs is None:
            notes.append(f"{core}: this OpenBLAS would not say which kernels it ran (not timed)")
            continue
        if runs in distinct:
            distinct[runs].aliases.append(core)
        else:
            distinct[runs] = Setting(core, runs, None)
        if core not in (OFF, runs):
            notes.append(f"asked for {core}, this OpenBLAS runs {runs}")
    settings = [Setting(NOW, now.get("coretype"), now.get("threads"))]
    settings += [Setting(kernels.coretype, kernels.runs, count, kernels.aliases)
                 for kernels in distinct.values() for count in threads]
    return settings, notes


def run_checkup(rounds: int = 5, steps: int = 50, warmup: int = 10, batch_size: int = 128,
                coretypes: list[str] | None = None, threads: list[int] | None = None, seconds: float = 60.0,
                progress: bool = True, environ: dict[str, str] | None = None) -> Checkup:
    """Time the seed's step under every setting, each alone in a fresh process, rounds alternating.

    ``coretypes`` default to those the CPU's flags fit (``candidate_coretypes``), ``threads`` to
    ``thread_counts`` of the usable cores; ``seconds`` bounds the whole run (rounds stop early to keep it).
    """
    started = time.monotonic()
    environ = dict(os.environ if environ is None else environ)
    now = describe()
    coretypes = candidate_coretypes(cpu_flags(read_cpuinfo() or "")) if coretypes is None else coretypes
    threads = thread_counts(usable_cores()) if threads is None else threads
    settings, notes = plan(coretypes, threads, environ, now)
    by_key = {setting.key: setting for setting in settings}
    command = worker_command(steps, warmup, batch_size)

    def measure(key: str) -> float:
        setting = by_key[key]
        report = run_json(command, env=setting_environment(setting.coretype, setting.threads, environ))
        return float(np.median(report["step_ms"]))

    left = max(seconds - (time.monotonic() - started), 0.0)
    figures = measure_rounds(list(by_key), rounds, measure, desc="doctor", seconds=left, progress=progress)
    return Checkup(settings, figures, now, batch_size, steps, warmup, rounds, time.monotonic() - started, notes)


# -- the verdict ----------------------------------------------------------------------------------------------


def asked_for(setting: Setting) -> str:
    """How a setting asks for its kernels: the core types (and "OpenBLAS's own choice") that all run them."""
    if setting.coretype == NOW:
        return "nothing: your environment as it is"
    return ", ".join("OpenBLAS's own choice" if name == OFF else name for name in [setting.coretype, *setting.aliases])


def export_line(best: Setting, now: dict, environ: dict[str, str]) -> str | None:
    """The shell line that makes ``best`` what numpyvae runs (None if it already is)."""
    exports, unsets = {}, []
    if best.runs != now.get("coretype"):
        if environ.get(OPENBLAS_ENV):  # the user's own variable wins over numpyvae's: change that one
            if best.coretype == OFF:
                unsets.append(OPENBLAS_ENV)
            else:
                exports[OPENBLAS_ENV] = best.coretype
        else:
            exports[ENV] = best.coretype
    if best.threads is not None and best.threads != now.get("threads"):
        exports["OPENBLAS_NUM_THREADS"] = str(best.threads)
    parts = ["export " + " ".join(f"{key}={shlex.quote(value)}" for key, value in exports.items())] if exports else []
    return "; ".join(parts + [f"unset {key}" for key in unsets]) or None


def changes(setting: Setting, now: dict) -> int:
    """How many of the two (kernels, threads) a setting changes from what numpyvae runs now."""
    if setting.coretype == NOW:
        return 0
    return (setting.runs != now.get("coretype")) + (setting.threads not in (None, now.get("threads")))


def noise_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The relative difference two medians need to count as different here: their spreads, at least 2%."""
    return max(0.02, (a[1] + b[1]) / min(a[0], b[0]))


def describe_setting(setting: Setting) -> str:
    threads = "as now" if setting.threads is None else f"{setting.threads} thread{'s' if setting.threads != 1 else ''}"
    return f"{setting.runs} kernels, {threads}"


def verdict(checkup: Checkup, environ: dict[str, str]) -> list[str]:
    """Which setting is fastest, and the export line that makes it the default (when it beats "now").

    Among the settings as fast as the fastest (within the noise of the two), the one that changes least from
    now is advised: a 1% gain that needs another core type is noise, not advice.
    """
    timed = [(checkup.result(setting), setting) for setting in checkup.settings]
    timed = [(result, setting) for result, setting in timed if result is not None]
    now_result = checkup.result(checkup.settings[0])
    if not timed or now_result is None:
        return ["no setting could be timed"]
    best_result, best = min(timed, key=lambda item: item[0][0])
    as_fast = [(result, setting) for result, setting in timed
               if result[0] / best_result[0] - 1 <= noise_between(result, best_result)]
    pick_result, pick = min(as_fast, key=lambda item: (changes(item[1], checkup.now), item[0][0]))
    line = export_line(pick, checkup.now, environ)
    if changes(best, checkup.now) == 0:
        return [f"fastest: {describe_setting(best)}: what numpyvae runs now; nothing to change"]
    fastest = f"fastest: {describe_setting(best)}, {best_result[0] / now_result[0]:.3f} x now"
    if changes(pick, checkup.now) == 0 or line is None:
        return [f"{fastest}, within this run's noise of what numpyvae runs now; nothing worth changing"]
    if pick is not best:
        fastest += (f"; as fast within this run's noise and closer to now: {describe_setting(pick)}, "
                    f"{pick_result[0] / now_result[0]:.3f} x now")
    return [fastest + ". To make it the default, in your shell or its profile:", f"  {line}"]


def report_lines(checkup: Checkup, environ: dict[str, str] | None = None) -> list[str]:
    """The doctor's table and verdict."""
    environ = dict(os.environ if environ is None else environ)
    now_result = checkup.result(checkup.settings[0])
    lines = ["| kernels | asked for | BLAS threads | ms / step | ± | / now |", "|---|---|---|---|---|---|"]
    for setting in checkup.settings:
        result = checkup.result(setting)
        threads = "as now" if setting.threads is None else str(setting.threads)
        if setting.coretype == NOW:
            threads = f"{setting.threads} (now)" if setting.threads else "as now"
        if result is None:
            lines.append(f"| {setting.runs or 'unknown'} | {asked_for(setting)} | {threads} | - | - | - |")
            continue
        ratio = f"{result[0] / now_result[0]:.3f}" if now_result else "-"
        lines.append(f"| {setting.runs or 'unknown'} | {asked_for(setting)} | {threads} | {result[0]:.2f} | "
                     f"{result[1]:.2f} | {ratio} |")
    return lines + [f"note: {note}" for note in checkup.notes] + verdict(checkup, environ)


# -- the process that times one setting -----------------------------------------------------------------------


def worker(argv: list[str]) -> int:
    """``python -m numpyvae.training.checkup STEPS WARMUP BATCH``: time the seed's step, print JSON (0 steps: only
    the kernels, a probe)."""
    steps, warmup, batch_size = (int(value) for value in argv)
    report = {"kernels": describe()}
    if steps:
        report.update(time_steps(seed_step(batch_size), steps, warmup))
    print(json.dumps(report, allow_nan=False))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(worker(sys.argv[1:]))
    except (ValueError, WorkerError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
