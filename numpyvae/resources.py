"""What this machine can hold: a flag that sizes memory or processes is checked here before anything is allocated.

    available_memory()   bytes the machine can still give (Linux: MemAvailable of /proc/meminfo; elsewhere the
                         free physical pages; None when unknown, and then nothing is refused)
    check_memory(...)    UsageError with the estimate when a planned allocation does not fit
    check_processes(...) UsageError when more processes are asked for than the machine has cores

Estimates are written in the message, so that a user sees what the flag costs:
``--k 1000000000 needs 1.9 TiB for one batch (128 images); this machine has 22.6 GiB available: at most --k 12000
fits``.
"""

from __future__ import annotations

import os

from .errors import NumpyvaeError, UsageError

FRACTION = 0.8  # of the available memory one command may plan to use


def available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def size(count: float) -> str:
    """A byte count for people: 1.9 TiB, 22.6 GiB, 310 MiB."""
    for unit, scale in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{int(count)} bytes"


def check_memory(needed: float, what: str, per_unit: float | None = None, unit_flag: str | None = None,
                 available: int | None = None, error: type[NumpyvaeError] = UsageError) -> None:
    """``error`` (a UsageError by default) when ``needed`` bytes (for ``what``, e.g. "--k 1000000000 ... for one
    batch") do not fit in FRACTION of the available memory; with ``per_unit`` (the bytes one unit of ``unit_flag``
    costs), the message says how many would fit."""
    available = available_memory() if available is None else available
    if available is None or needed <= FRACTION * available:
        return
    fits = f": at most {unit_flag} {int(FRACTION * available // per_unit):,} fits" if per_unit else ""
    raise error(f"{what} needs {size(needed)}; this machine has {size(available)} available{fits}")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def check_processes(count: int, flag: str) -> None:
    """UsageError for more worker processes than this machine has cores (each would only wait for the others)."""
    if count > cores():
        raise UsageError(f"{flag} {count} asks for more processes than this machine's {cores()} cores; "
                         f"give at most {flag} {cores()}")
