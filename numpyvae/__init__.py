"""numpyvae: a variational autoencoder in NumPy, every gradient written by hand and checked."""

from .errors import CheckpointError, DataError, NumericalError, NumpyvaeError, UsageError
from .layers import ELU, Dense, Dropout, Layer, Sequential, Sigmoid, Softplus, Tanh
from .losses import BernoulliLogLikelihood, GaussianKL
from .modelfile import load_model
from .optim import SGD, Adam
from .vae import VAE

__version__ = "0.1.0"

__all__ = [
    "Adam", "BernoulliLogLikelihood", "CheckpointError", "DataError", "Dense", "Dropout", "ELU",
    "GaussianKL", "Layer", "NumericalError", "NumpyvaeError", "SGD", "Sequential", "Sigmoid",
    "Softplus", "Tanh", "UsageError", "VAE", "load_model",
]
