"""Pictures: a drawing canvas (numpyvae.pictures.axes), plots (numpyvae.pictures.plots) and a trained model's
images (numpyvae.pictures.model)."""

from .axes import PALETTE, TRAIN_COLOUR, Axes, nice_ticks, normal_cdf, normal_quantile
from .model import class_samples, interpolations, manifold, one_style_ten_digits, reconstruction_pairs, write_all
from .plots import (
    SIDES,
    ReferencePoint,
    metrics_file,
    plot_against_time,
    plot_comparison,
    plot_curves,
    plot_latent_scatter,
    read_metrics,
)

__all__ = ["PALETTE", "SIDES", "TRAIN_COLOUR", "Axes", "ReferencePoint", "class_samples", "interpolations", "manifold",
           "metrics_file", "nice_ticks", "normal_cdf", "normal_quantile", "one_style_ten_digits", "plot_against_time",
           "plot_comparison", "plot_curves", "plot_latent_scatter", "read_metrics", "reconstruction_pairs", "write_all"]
