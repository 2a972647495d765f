"""Pictures: plots (numpyvae.pictures.plots) and a trained model's images (numpyvae.pictures.model)."""

from .model import class_samples, interpolations, manifold, one_style_ten_digits, reconstruction_pairs, write_all
from .plots import (
    PALETTE,
    TRAIN_COLOUR,
    Axes,
    ReferencePoint,
    nice_ticks,
    normal_cdf,
    normal_quantile,
    plot_against_time,
    plot_comparison,
    plot_curves,
    plot_latent_scatter,
    read_metrics,
)

__all__ = ["PALETTE", "TRAIN_COLOUR", "Axes", "ReferencePoint", "class_samples", "interpolations", "manifold",
           "nice_ticks", "normal_cdf", "normal_quantile", "one_style_ten_digits", "plot_against_time",
           "plot_comparison", "plot_curves", "plot_latent_scatter", "read_metrics", "reconstruction_pairs", "write_all"]
