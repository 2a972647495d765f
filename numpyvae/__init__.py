"""numpyvae: a variational autoencoder in NumPy, every gradient written by hand and checked.

The names below are loaded when first used, so that ``python -m numpyvae.<command>`` starts with nothing
heavy imported: its Ctrl-C handler is in place from the first moment (numpyvae.signals). Then, before anything
else imports NumPy, OpenBLAS's kernels are chosen for this CPU (numpyvae.kernels) and NumPy is loaded under them.
"""

import importlib
import sys

from . import signals as _signals

if sys.argv[:1] == ["-m"]:  # python -m numpyvae.<command>, while the package is imported first
    _signals.quiet_start_up()

from . import kernels  # noqa: E402  (sets OPENBLAS_CORETYPE for the moment NumPy loads)

# isort: split
import numpy  # noqa: E402, F401  (OpenBLAS reads its kernels now)

kernels.restore_environment()  # NumPy is loaded: programs started later see the user's own environment

kernels.restore_environment()  # NumPy is loaded now: OpenBLAS has read numpyvae's OPENBLAS_CORETYPE

__version__ = "0.1.0"

_EXPORTS = {
    "errors": ["CheckpointError", "DataError", "NumericalError", "NumpyvaeError", "UsageError"],
    "formats.modelfile": ["load_model"],
    "models.vae": ["VAE"],
    "nn.layers": ["ELU", "Concat", "Dense", "Dropout", "Layer", "LeakyReLU", "ReLU", "Sequential", "Sigmoid",
                  "Softplus", "Tanh"],
    "nn.losses": ["BernoulliLogLikelihood", "ExactBernoulliLogLikelihood", "GaussianKL", "ImportanceWeightedBound",
                  "SampledKL"],
    "nn.optim": ["SGD", "Adam"],
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'numpyvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
