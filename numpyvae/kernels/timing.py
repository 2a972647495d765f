"""The fair way to time a training step, shared by ``numpyvae.doctor`` and ``benchmarks/``.

Each setting (a contender, a core type, a thread count) runs alone in a fresh Python process, which times
its steps after a warm-up and prints them as one line of strict JSON (``time_steps``, ``run_json``). One
process per setting per round; the order of the settings is reversed every other round (``alternating``),
so none always runs first or last, and none inherits another's spinning BLAS threads, warm caches or heap.
(The alternation is ``round_order``.)
A round's figure is the median of its steps; a setting's result is the median over its rounds, with half
the interquartile range of the round medians as its spread (``median_and_spread``).

No NumPy: the medians come from the standard library.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from ..errors import NumpyvaeError
from ..progress import progress_bar


class WorkerError(NumpyvaeError):
    """A timing process that failed or printed no JSON; the message ends with its last lines of stderr."""


def time_steps(step: Callable[[], object], steps: int, warmup: int) -> dict[str, list[float]]:
    """Run ``warmup`` untimed steps, then time ``steps`` more: wall and CPU (this process, all threads) ms each."""
    for _ in range(warmup):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        started, cpu_started = time.perf_counter(), time.process_time()
        step()
        wall.append(1e3 * (time.perf_counter() - started))
        cpu.append(1e3 * (time.process_time() - cpu_started))
    return {"step_ms": wall, "cpu_ms": cpu}


def run_json(command: Sequence[str], env: dict[str, str] | None = None, cwd=None) -> dict:
    """Run a timing process and return the JSON object its last line of output holds."""
    result = subprocess.run(list(command), env=env, cwd=cwd, capture_output=True, text=True, check=False)
    lines = result.stdout.strip().splitlines()
    if result.returncode != 0 or not lines:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:]) or "no output"
        raise WorkerError(f"the timing process {' '.join(command[1:4])} ... failed (exit {result.returncode}): {tail}")
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError as error:
        raise WorkerError(f"the timing process printed no JSON ({error}): {lines[-1][:200]}") from None


def round_order(names: Sequence[str], index: int) -> list[str]:
    """The order of the settings in round ``index`` (from 0): as given, reversed every other round."""
    return list(names) if index % 2 == 0 else list(names)[::-1]


def measure_rounds(names: Sequence[str], rounds: int, measure: Callable[[str], float | None], *,
                   desc: str = "timing", seconds: float | None = None, progress: bool = True) -> dict[str, list[float]]:
    """Each setting's round figures: ``measure(name)`` once per round, rounds alternating.

    ``measure`` returns the round's figure, or None for a setting that cannot run here (it gets no entry).
    ``seconds`` bounds the time: no round starts that would, at the pace of the ones before, end past it
    (the first round always runs). Progress goes to stderr as a bar (whole lines in a log), one tick per process.
    """
    figures: dict[str, list[float]] = {name: [] for name in names}
    started = time.monotonic()
    with progress_bar(total=rounds * len(names), desc=desc, unit="process", leave=False, file=sys.stderr,
              disable=not progress) as bar:
        for index in range(rounds):
            elapsed = time.monotonic() - started
            if seconds is not None and index > 0 and elapsed + elapsed / index > seconds:
                break
            for name in round_order(names, index):
                figure = measure(name)
                if figure is not None:
                    figures[name].append(figure)
                bar.update()
    return {name: values for name, values in figures.items() if values}


def median_and_spread(values: Sequence[float]) -> tuple[float, float]:
    """The median and half the interquartile range (NumPy's linear percentiles; 0 for a single value)."""
    values = [float(value) for value in values]
    if len(values) == 1:
        return values[0], 0.0
    q25, q50, q75 = statistics.quantiles(values, n=4, method="inclusive")
    return q50, (q75 - q25) / 2


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, to set beside any timing ("unknown" where there are none)."""
    try:
        return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())
    except (AttributeError, OSError):
        return "load average unknown"
