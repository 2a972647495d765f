"""The model family's command-line settings: checking them, and building the VAE they describe.

``train.py``'s "model" flags (--hidden-dims, --decoder-dims, --activations, --decoder-activations,
--conditional, --objective, --k, --kl, --likelihood, beside the seed's --model, --latent-dim, --keep-prob,
--reconstruction, --kl-weight) become a ``VAE`` here; every combination that does not fit is a UsageError
naming the flag.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import UsageError
from ..models.architecture import resolve
from ..models.vae import VAE

# run settings added with the model family; checkpoints written before them lack these keys and keep the defaults
MODEL_SETTINGS = ("decoder_dims", "activations", "decoder_activations", "conditional", "objective", "k", "kl",
                  "likelihood")
NUM_CLASSES = 10  # MNIST's digits and Fashion-MNIST's garments


def split_names(names: list[str] | None) -> list[str] | None:
    """Activation names given as ``elu tanh`` or ``elu,tanh``."""
    return None if names is None else [name for item in names for name in item.split(",") if name]


def validate_model(args: argparse.Namespace) -> None:
    """The model family's flags (--decoder-dims ... --likelihood): UsageError naming the first that does not fit."""
    iwae = args.objective == "iwae"
    checks = [
        (args.k is None or args.k >= 1, f"--k must be at least 1, got {args.k}"),
        (args.k is None or iwae, "--k sets the samples of --objective iwae; the ELBO draws one"),
        (not iwae or args.model == "vae", "--objective iwae needs --model vae (the autoencoder has no posterior)"),
        (not iwae or (args.kl_weight == 1 and args.kl_warmup == 0),
         "--objective iwae has no KL term to weigh: --kl-weight and --kl-warmup apply to the ELBO only"),
        (not iwae or args.kl == "analytic", "--kl chooses the ELBO's KL estimator; the IWAE bound samples its own"),
        (args.kl == "analytic" or args.model == "vae", "--kl sampled needs --model vae (the autoencoder has no KL)"),
        (args.likelihood == "clipped" or args.reconstruction == "bernoulli",
         "--likelihood exact is the Bernoulli likelihood without its clip: it needs --reconstruction bernoulli"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)
    try:
        resolve(args.hidden_dims, args.decoder_dims, split_names(args.activations),
                split_names(args.decoder_activations))
    except ValueError as error:
        raise UsageError(f"model layers: {error}") from None


def build_model(args: argparse.Namespace, input_dim: int = 28 * 28, num_classes: int = NUM_CLASSES) -> VAE:
    """The VAE the flags describe (the seed's with the defaults), for images of ``input_dim`` pixels and, when
    conditional, labels of ``num_classes`` classes (both the data's)."""
    return VAE(input_dim, args.hidden_dims, args.latent_dim, args.keep_prob, seed=args.seed,
               dtype=np.dtype(args.dtype), variational=args.model == "vae", reconstruction=args.reconstruction,
               kl_weight=args.kl_weight, decoder_dims=args.decoder_dims, activations=split_names(args.activations),
               decoder_activations=split_names(args.decoder_activations),
               num_classes=num_classes if args.conditional else 0, objective=args.objective, k=args.k or 1,
               kl=args.kl, likelihood=args.likelihood)


def labels_if_conditional(model: VAE, labels: np.ndarray | None) -> np.ndarray | None:
    """``labels`` for a conditional model, None for the others (which take none)."""
    return labels if model.conditional else None
