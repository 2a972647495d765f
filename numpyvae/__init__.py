"""numpyvae: a variational autoencoder in NumPy, every gradient written by hand and checked."""

# first of all, before anything imports NumPy: choose OpenBLAS's kernels for this CPU (see numpyvae.kernels)
from . import kernels

# isort: split
from .errors import CheckpointError, DataError, NumericalError, NumpyvaeError, UsageError
from .formats.modelfile import load_model
from .models.vae import VAE
from .nn.layers import ELU, Concat, Dense, Dropout, Layer, LeakyReLU, ReLU, Sequential, Sigmoid, Softplus, Tanh
from .nn.losses import (
    BernoulliLogLikelihood,
    ExactBernoulliLogLikelihood,
    GaussianKL,
    ImportanceWeightedBound,
    SampledKL,
)
from .nn.optim import SGD, Adam

kernels.restore_environment()  # NumPy is loaded now: OpenBLAS has read numpyvae's OPENBLAS_CORETYPE

__version__ = "0.1.0"

__all__ = [
    "Adam", "BernoulliLogLikelihood", "CheckpointError", "DataError", "Dense", "Dropout", "ELU",
    "GaussianKL", "Layer", "NumericalError", "NumpyvaeError", "SGD", "Sequential", "Sigmoid",
    "Softplus", "Tanh", "UsageError", "VAE", "load_model",
    "Concat", "ExactBernoulliLogLikelihood", "ImportanceWeightedBound", "LeakyReLU", "ReLU", "SampledKL",
]
