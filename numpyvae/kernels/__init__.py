"""Which OpenBLAS kernels numpyvae's products run on: chosen from the CPU's flags before NumPy loads.

OpenBLAS (the BLAS inside NumPy's wheels) picks its kernels once, when NumPy loads it, from the CPU it
recognises; it reads the environment variable ``OPENBLAS_CORETYPE`` first, if it is set. A CPU it does not
recognise can get kernels for an older instruction set than the CPU has (AVX2 kernels on an AVX-512 CPU).
So importing numpyvae, before it imports NumPy, does this once:

- the user's own ``OPENBLAS_CORETYPE`` always wins: numpyvae leaves it alone;
- ``NUMPYVAE_BLAS_CORETYPE=off`` leaves OpenBLAS to itself; ``NUMPYVAE_BLAS_CORETYPE=<core type>`` asks for
  that core type (e.g. ``Haswell``, ``SkylakeX``), unless the CPU's flags say it cannot run it;
- otherwise, on Linux x86-64, the CPU's flags in /proc/cpuinfo decide: AVX-512 (F, CD, BW, DQ, VL) ->
  ``SkylakeX``, AVX2 and FMA -> ``Haswell``, anything else -> OpenBLAS's own choice;
- elsewhere (no /proc/cpuinfo, another architecture, flags that contradict each other), OpenBLAS chooses.

numpyvae sets ``OPENBLAS_CORETYPE`` only for the moment NumPy loads: ``restore_environment`` takes it out of
``os.environ`` again, so programs started later see the user's environment. If NumPy was imported before
numpyvae, OpenBLAS has already chosen and nothing changes; ``describe`` then says so.

This module must not import NumPy: it runs before NumPy loads. ``describe`` reads the kernels OpenBLAS
really runs and its thread count afterwards, through ctypes, from the library NumPy loaded; with a BLAS that
is not OpenBLAS (MKL, Accelerate) it names the BLAS and leaves the kernels unknown. Nothing here raises.

The rest of this subpackage, ``timing``, is the fair harness (each setting alone in a fresh process, rounds
alternating, medians) that ``numpyvae.doctor`` and ``benchmarks/`` share; it needs nothing above this layer
either, as what it times is the caller's. The doctor's timed training step, its settings and advice are in
numpyvae.training.checkup, above the models it builds.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass

ENV = "NUMPYVAE_BLAS_CORETYPE"
OPENBLAS_ENV = "OPENBLAS_CORETYPE"
CPUINFO = "/proc/cpuinfo"

AVX512 = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")  # what OpenBLAS's SkylakeX kernels use
AVX2 = ("avx", "avx2", "fma")                                        # Haswell's: AVX2 and FMA3

# OpenBLAS's x86-64 core types, as its OPENBLAS_CORETYPE spells them, and the flags each one's kernels need
# (older ones need nothing an x86-64 CPU lacks); NUMPYVAE_BLAS_CORETYPE takes any of these, in any case
CORE_TYPES = ("Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Core2", "Penryn", "Dunnington",
              "Nehalem", "Athlon", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Sandybridge", "Bobcat",
              "Bulldozer", "Piledriver", "Haswell", "Steamroller", "Excavator", "Zen", "SkylakeX", "Cooperlake")
NEEDS = {"Sandybridge": ("avx",), "Bulldozer": ("avx",), "Piledriver": ("avx", "fma"), "Steamroller": ("avx", "fma"),
         "Excavator": ("avx", "avx2"), "Haswell": AVX2, "Zen": AVX2, "SkylakeX": AVX2 + AVX512,
         "Cooperlake": AVX2 + AVX512 + ("avx512_bf16",)}


@dataclass(frozen=True)
class Choice:
    """What numpyvae asked OpenBLAS for (``coretype``; None: nothing, OpenBLAS decides) and why (``reason``).

    ``warning`` is a one-line complaint about a ``NUMPYVAE_BLAS_CORETYPE`` that could not be followed.
    """

    coretype: str | None
    reason: str
    warning: str | None = None


def cpu_flags(cpuinfo: str) -> frozenset[str] | None:
    """The instruction-set flags that every processor in /proc/cpuinfo's text lists; None if none lists any.

    The intersection over processors: on a CPU whose cores differ, only what all of them can run counts.
    """
    found = None
    for line in cpuinfo.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() == "flags":
            flags = frozenset(value.lower().split())
            found = flags if found is None else found & flags
    return found


def read_cpuinfo(path: str = CPUINFO) -> str | None:
    """The text of /proc/cpuinfo, or None where there is none or it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return None


def fitting_coretype(flags: frozenset[str]) -> tuple[str | None, str]:
    """The core type these flags call for, and the reason in a few words (None: leave OpenBLAS to itself)."""
    has_avx2, has_avx512 = set(AVX2) <= flags, "avx512f" in flags
    if has_avx512 and not has_avx2:
        return None, "the CPU's flags list AVX-512 without AVX2, which no CPU has: OpenBLAS chose"
    if has_avx512 and set(AVX512) <= flags:
        return "SkylakeX", "numpyvae's choice from the CPU's AVX-512 flags"
    if has_avx2:
        return "Haswell", "numpyvae's choice from the CPU's AVX2 and FMA flags"
    return None, "the CPU's flags show neither AVX2 nor AVX-512: OpenBLAS chose"


def canonical_coretype(name: str) -> str | None:
    """OpenBLAS's own spelling of an x86-64 core type given in any case, or None if it is not one."""
    return next((core for core in CORE_TYPES if core.lower() == name.strip().lower()), None)


def choose(cpuinfo: str | None, environ: Mapping[str, str], *, numpy_loaded: bool = False,
           machine: str | None = None) -> Choice:
    """Decide which core type to ask OpenBLAS for, from /proc/cpuinfo's text and the environment.

    A pure function of its arguments (``machine`` defaults to ``platform.machine()``); ``apply`` acts on it.
    """
    machine = platform.machine() if machine is None else machine
    users = environ.get(OPENBLAS_ENV, "").strip()
    if users:
        return Choice(None, f"your {OPENBLAS_ENV}={users}")
    asked = environ.get(ENV, "").strip()
    if numpy_loaded:
        return Choice(None, "NumPy was imported before numpyvae, so OpenBLAS chose by itself",
                      f"{ENV}={asked} came too late: NumPy was imported before numpyvae" if asked else None)
    if asked.lower() == "off":
        return Choice(None, f"{ENV}=off: OpenBLAS chose")
    x86 = machine.lower() in ("x86_64", "amd64")
    flags = cpu_flags(cpuinfo) if cpuinfo is not None and x86 else None
    if asked and asked.lower() != "auto":
        if not x86:  # OpenBLAS's names for other architectures are its own business: passed on as given
            if not asked.replace("_", "").isalnum() or not asked.isascii():
                return Choice(None, "OpenBLAS chose", f"{ENV}={asked!r} is not a core type's name: OpenBLAS "
                                                      "chooses its own kernels")
            return Choice(asked, f"your {ENV}")
        core = canonical_coretype(asked)
        if core is None:
            return Choice(None, "OpenBLAS chose", f"{ENV}={asked} is not off, auto or an OpenBLAS x86-64 core type "
                                                  "(Haswell, SkylakeX, ...: numpyvae.kernels.CORE_TYPES lists them); "
                                                  "OpenBLAS chooses its own kernels")
        missing = [flag for flag in NEEDS.get(core, ()) if flags is not None and flag not in flags]
        if missing:
            return Choice(None, "OpenBLAS chose", f"{ENV}={asked} needs {', '.join(missing)}, which this CPU's flags "
                                                  "do not list: OpenBLAS chooses its own kernels")
        return Choice(core, f"your {ENV}")
    if not x86:
        return Choice(None, f"OpenBLAS chose (numpyvae chooses only on x86-64, not {machine or 'this machine'})")
    if cpuinfo is None:
        return Choice(None, f"OpenBLAS chose ({CPUINFO} unreadable or absent)")
    if flags is None:
        return Choice(None, f"OpenBLAS chose ({CPUINFO} lists no flags)")
    return Choice(*fitting_coretype(flags))


CHOICE: Choice | None = None  # what ``apply`` decided in this process
_SET_BY_NUMPYVAE: str | None = None  # the OPENBLAS_CORETYPE value apply put into os.environ, if any


def apply(environ: MutableMapping[str, str] | None = None, cpuinfo_path: str = CPUINFO, *,
          numpy_loaded: bool | None = None, machine: str | None = None) -> Choice:
    """Make the choice and, if it names a core type, put it into ``environ`` (os.environ) for OpenBLAS to read.

    Acting on os.environ (the default), it is this process's choice: kept as ``CHOICE`` for ``describe``.
    ``numpy_loaded`` defaults to whether NumPy is imported, ``machine`` to this one's (tests give others).
    Never raises: whatever goes wrong leaves OpenBLAS to itself. A warning is printed on stderr, one line.
    """
    global CHOICE, _SET_BY_NUMPYVAE
    this_process = environ is None or environ is os.environ
    environ = os.environ if environ is None else environ
    numpy_loaded = "numpy" in sys.modules if numpy_loaded is None else numpy_loaded
    try:
        choice = choose(read_cpuinfo(cpuinfo_path), environ, numpy_loaded=numpy_loaded, machine=machine)
        if choice.coretype is not None:
            environ[OPENBLAS_ENV] = choice.coretype
    except Exception as error:  # a choice of kernels must never stop a command
        choice = Choice(None, "OpenBLAS chose", f"numpyvae's choice of kernels failed ({error})")
    if choice.warning:
        print(f"warning: {choice.warning}", file=sys.stderr)
    if this_process:
        CHOICE, _SET_BY_NUMPYVAE = choice, choice.coretype
    return choice


def restore_environment() -> None:
    """Take numpyvae's OPENBLAS_CORETYPE out of os.environ once NumPy (so OpenBLAS) is loaded: it was read."""
    global _SET_BY_NUMPYVAE
    if _SET_BY_NUMPYVAE is not None and "numpy" in sys.modules and os.environ.get(OPENBLAS_ENV) == _SET_BY_NUMPYVAE:
        del os.environ[OPENBLAS_ENV]
    _SET_BY_NUMPYVAE = None


# -- after NumPy has loaded: what runs ---------------------------------------------------------------------------


def _numpy_blas() -> dict:
    """numpy.show_config's entry for the BLAS NumPy was built with ({} if NumPy is not loaded or will not say)."""
    numpy = sys.modules.get("numpy")
    try:
        return dict(numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]) if numpy is not None else {}
    except Exception:
        return {}


def _openblas_library() -> ctypes.CDLL | None:
    """The OpenBLAS library NumPy loaded, opened again through ctypes (the same copy in memory), or None."""
    numpy = sys.modules.get("numpy")
    if numpy is None:
        return None
    numpy_dir = os.path.dirname(os.path.abspath(numpy.__file__))
    paths = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:  # Linux: what is loaded
            paths = [line.split(None, 5)[-1].strip() for line in maps if "openblas" in line.lower()]
    except OSError:
        pass
    # elsewhere, or besides: the copy NumPy's wheels bundle next to the package
    paths += glob.glob(os.path.join(numpy_dir + ".libs", "*openblas*")) + \
        glob.glob(os.path.join(numpy_dir, ".dylibs", "*openblas*"))
    paths = [path for path in dict.fromkeys(paths) if os.path.isfile(path)]
    paths.sort(key=lambda path: not path.startswith(numpy_dir))  # NumPy's own copy (numpy.libs, .dylibs) first
    for path in paths:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _openblas_call(library: ctypes.CDLL, name: str, restype):
    """Call OpenBLAS's ``openblas_<name>()`` under whichever prefix and suffix this build gave it; None if none."""
    for symbol in (f"scipy_openblas_{name}64_", f"scipy_openblas_{name}", f"openblas_{name}64_", f"openblas_{name}"):
        function = getattr(library, symbol, None)
        if function is not None:
            function.restype, function.argtypes = restype, []
            return function()
    return None


def running_openblas() -> tuple[str | None, int | None]:
    """The core type OpenBLAS runs and its thread count in this process, (None, None) if that cannot be read."""
    try:
        library = _openblas_library()
        if library is None:
            return None, None
        core = _openblas_call(library, "get_corename", ctypes.c_char_p)
        threads = _openblas_call(library, "get_num_threads", ctypes.c_int)
        return (core.decode("ascii", "replace") if core else None), threads
    except Exception:
        return None, None


def describe() -> dict:
    """The BLAS NumPy runs, its kernels and thread count, and how the kernels were chosen: strict-JSON-able.

    Keys: ``blas`` (name and version, or None), ``coretype`` (the kernels OpenBLAS runs, None when unknown),
    ``threads``, ``asked`` (what numpyvae asked OpenBLAS for, None: nothing), ``reason``, ``warning``.
    """
    blas = _numpy_blas()
    name = " ".join(str(blas[key]) for key in ("name", "version") if blas.get(key)) or None
    core, threads = running_openblas()
    choice = CHOICE or Choice(None, "numpyvae made no choice")
    warning = choice.warning
    if choice.coretype and core and core.lower() != choice.coretype.lower():
        warning = f"numpyvae asked OpenBLAS for {choice.coretype}; this OpenBLAS runs {core} for it"
    return {"blas": name, "coretype": core, "threads": threads, "asked": choice.coretype, "reason": choice.reason,
            "warning": warning}


def summary_line(description: dict | None = None) -> str:
    """One line for a command's start: ``BLAS: <name>, <kernels> kernels (<why>), <n> threads``."""
    d = describe() if description is None else description
    kernels = f"{d['coretype']} kernels" if d["coretype"] else "kernels unknown (not OpenBLAS, or it will not say)"
    threads = f", {d['threads']} thread{'s' if d['threads'] != 1 else ''}" if d["threads"] else ""
    line = f"BLAS: {d['blas'] or 'unknown'}, {kernels} ({d['reason']}){threads}"
    return line + (f"; warning: {d['warning']}" if d["warning"] else "")


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU's model name and its widest vector extension, from /proc/cpuinfo, else the platform's name."""
    cpuinfo = read_cpuinfo() if cpuinfo is None else cpuinfo
    if cpuinfo is None:
        return platform.processor() or platform.machine() or "unknown CPU"
    model = next((line.partition(":")[2].strip() for line in cpuinfo.splitlines()
                  if line.partition(":")[0].strip() == "model name"), platform.machine() or "unknown CPU")
    flags = cpu_flags(cpuinfo) or frozenset()
    vector = "AVX-512" if set(AVX512) <= flags else "AVX2" if set(AVX2) <= flags else "no AVX2"
    return f"{model}, {vector}"


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the platform says, else the CPU count)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


apply()
