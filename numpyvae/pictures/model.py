"""Pictures of a trained model (``python -m numpyvae.visualize CHECKPOINT`` writes them all).

    curves.png                the training and test losses from metrics.csv
    reconstruction_pairs.png  test images (left of each pair) beside their reconstructions
    prior_samples.png         an 8x8 grid of images decoded from z ~ N(0, I)
    interpolations.png        decodes of (1 - t) z_a + t z_b between the posterior means of test images
    manifold.png              (2-D latent space) decodes over a grid of the prior's quantiles
    latent_scatter.png        (2-D latent space) the test set's posterior means, coloured by label

A conditional model (``--conditional``) is drawn with the labels of its images (its prior samples and
interpolations with the labels 0, 1, ..., 9 in turn), and gets two pictures more:

    class_samples.png         one row per class: the same ten prior draws z decoded with each label
    one_style_ten_digits.png  test images (first column) whose posterior mean z is decoded with each label
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import Dataset, to_float
from ..formats.png import save_grid
from ..models.vae import VAE
from .axes import normal_quantile
from .plots import plot_curves, plot_latent_scatter


def reconstruction_pairs(model: VAE, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """Each input followed by its reconstruction: (2N, input_dim). A conditional model takes the labels."""
    x = to_float(images, model.dtype)
    pairs = np.empty((2 * len(x), x.shape[1]), dtype=x.dtype)
    pairs[0::2], pairs[1::2] = x, model.reconstruct(x, labels)
    return pairs


def interpolations(model: VAE, first: np.ndarray, second: np.ndarray, steps: int = 10,
                   first_labels: np.ndarray | None = None, second_labels: np.ndarray | None = None) -> np.ndarray:
    """Decodes of (1 - t) z_a + t z_b, t from 0 to 1, between the posterior means of paired images.

    ``first`` and ``second`` are (P, input_dim) uint8 rows; returns (P * steps, input_dim), row by row.
    A conditional model takes both images' labels; the one-hot label moves from y_a to y_b with z.
    """
    y_first = model.one_hot(first_labels, len(first))
    y_second = model.one_hot(second_labels, len(second))
    z_first = model.encode(to_float(first, model.dtype), y_first)[0]
    z_second = model.encode(to_float(second, model.dtype), y_second)[0]
    t = np.linspace(0, 1, steps, dtype=model.dtype)[None, :, None]
    path = (1 - t) * z_first[:, None, :] + t * z_second[:, None, :]       # (P, steps, latent)
    if y_first is None:
        return model.decode(path.reshape(-1, path.shape[-1]))
    labels = (1 - t) * y_first[:, None, :] + t * y_second[:, None, :]   # (P, steps, classes)
    return model.decode(path.reshape(-1, path.shape[-1]), labels.reshape(-1, labels.shape[-1]))


def class_samples(model: VAE, columns: int = 10, seed: int = 0) -> np.ndarray:
    """A conditional model's prior samples, one row per class: the same ``columns`` draws z ~ N(0, I)
    decoded with label 0 in the first row, 1 in the second, ...: (num_classes * columns, input_dim)."""
    z = np.random.default_rng(seed).standard_normal((columns, model.config["latent_dim"])).astype(model.dtype)
    classes = np.repeat(np.arange(model.num_classes), columns)
    return model.decode(np.tile(z, (model.num_classes, 1)), classes)


def one_style_ten_digits(model: VAE, images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One row per test image: the image, then its posterior mean z (encoded with its own label) decoded
    with each label in turn, the style kept and the class changed: (N * (1 + num_classes), input_dim)."""
    x = to_float(images, model.dtype)
    z = model.encode(x, labels)[0]
    classes = model.num_classes
    decoded = model.decode(np.repeat(z, classes, axis=0), np.tile(np.arange(classes), len(x)))
    rows = np.concatenate([x[:, None, :], decoded.reshape(len(x), classes, -1)], axis=1)
    return rows.reshape(-1, x.shape[1])


def manifold(model: VAE, side: int = 20) -> np.ndarray:
    """Decodes over a side x side grid of the 2-D prior's quantiles, Phi^-1 of evenly spaced levels."""
    levels = np.linspace(0.5 / side, 1 - 0.5 / side, side)
    z = np.array([normal_quantile(p) for p in levels], dtype=model.dtype)
    rows, columns = np.meshgrid(z[::-1], z, indexing="ij")  # z[1] grows upwards, like a plot's y axis
    return model.decode(np.stack([columns.ravel(), rows.ravel()], axis=1))


def write_all(model: VAE, dataset: Dataset, out: str | Path, metrics: str | Path | None = None,
              seed: int = 0, pairs: int = 8) -> list[Path]:
    """Every picture this module draws for ``model``, into ``out``; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    written = []

    def grid(name: str, images: np.ndarray, columns: int, cell: int = 56) -> None:
        """Images of the data's own height and width, each enlarged to about ``cell`` pixels."""
        save_grid(images, out / name, columns=columns, shape=dataset.image_shape, cell=cell)
        written.append(out / name)

    if metrics is not None and Path(metrics).is_file():
        plot_curves(metrics, out / "curves.png")
        written.append(out / "curves.png")
    count = len(dataset.test_images)
    chosen = rng.choice(count, size=4 * pairs, replace=4 * pairs > count)  # repeats only in a tiny test set
    labels = dataset.test_labels[chosen] if model.conditional else [None] * len(chosen)
    grid("reconstruction_pairs.png", reconstruction_pairs(model, dataset.test_images[chosen[:2 * pairs]],
                                                          labels[:2 * pairs] if model.conditional else None), 8)
    grid("prior_samples.png", model.sample(64, np.arange(64) % model.num_classes if model.conditional else None,
                                           rng=rng), 8)
    first, second = dataset.test_images[chosen[2 * pairs:3 * pairs]], dataset.test_images[chosen[3 * pairs:]]
    if model.conditional:
        grid("interpolations.png", interpolations(model, first, second, 10, labels[2 * pairs:3 * pairs],
                                                  labels[3 * pairs:]), 10)
        grid("class_samples.png", class_samples(model, 10, seed), 10)
        grid("one_style_ten_digits.png", one_style_ten_digits(model, dataset.test_images[chosen[:pairs]],
                                                              labels[:pairs]), 1 + model.num_classes)
    else:
        grid("interpolations.png", interpolations(model, first, second), 10)
    # the manifold of N(0, I)'s quantiles: a one-layer model with the standard prior, unconditional (a conditional
    # one would need one per class)
    if model.latent_dims == [2] and model.prior == "standard" and not model.conditional:
        grid("manifold.png", manifold(model), 20, cell=28)  # 20 x 20 digits are big enough at 28 pixels
    if model.latent_dims[0] == 2:  # q(z1 | x)'s means
        plot_latent_scatter(model, dataset.test_images, dataset.test_labels, out / "latent_scatter.png",
                            names=dataset.classes)
        written.append(out / "latent_scatter.png")
    return written
