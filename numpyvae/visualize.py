"""Pictures of a trained model, drawn with Pillow only: ``python -m numpyvae.visualize CHECKPOINT``.

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

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .cli import Parser, add_checkpoint_arguments, load_checkpoint_and_data, run
from .data import Dataset, to_float
from .errors import DataError
from .files import prepare_folder
from .images import save_grid, save_pillow
from .vae import VAE

# ten colours that stay apart from each other on white (one per digit label)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
TRAIN_COLOUR, TEST_COLOUR = PALETTE[0], PALETTE[1]


# -- the inverse of the normal distribution function --------------------------------------------------

def normal_cdf(x: float) -> float:
    """Phi(x) = P(Z <= x) for Z ~ N(0, 1)."""
    return 0.5 * math.erfc(-x / math.sqrt(2))


def normal_quantile(p: float) -> float:
    """Phi^-1(p) for p in (0, 1): the z with P(Z <= z) = p, to double precision.

    Start from the rational approximation 26.2.23 of Abramowitz and Stegun (error below 4.5e-4), then
    refine with Newton's method on Phi(x) - p, whose derivative is the normal density.
    """
    if not 0 < p < 1:
        raise ValueError(f"a quantile needs p in (0, 1), got {p}")
    if p > 0.5:
        return -normal_quantile(1 - p)  # the lower tail keeps the precision of small p
    t = math.sqrt(-2 * math.log(p))
    x = -(t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t
                                                                 + 0.001308 * t ** 3))
    for _ in range(50):
        step = (normal_cdf(x) - p) / (math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi))
        x -= step
        if abs(step) <= 1e-15 * max(1.0, abs(x)):
            break
    return x


# -- plots ----------------------------------------------------------------------------------------------

def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    spacing = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / spacing) * spacing
    return [first + i * spacing for i in range(int((high - first) / spacing + 1e-9) + 1)]


def tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.0e}"


class Axes:
    """A white canvas with a plot area, axes, ticks and labels, mapping data coordinates to pixels."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], *, title: str, x_label: str,
                 y_label: str, size: tuple[int, int] = (640, 420)) -> None:
        self.image = Image.new("RGB", size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default()
        self.left, self.top, self.right, self.bottom = 70, 40, size[0] - 20, size[1] - 50
        self.x_ticks, self.y_ticks = nice_ticks(*x_range), nice_ticks(*y_range)
        self.x_range = (min(x_range[0], self.x_ticks[0]), max(x_range[1], self.x_ticks[-1]))
        self.y_range = (min(y_range[0], self.y_ticks[0]), max(y_range[1], self.y_ticks[-1]))
        self._frame(title, x_label, y_label)

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return (self.left + (x - x0) / ((x1 - x0) or 1) * (self.right - self.left),
                self.bottom - (y - y0) / ((y1 - y0) or 1) * (self.bottom - self.top))

    def _frame(self, title: str, x_label: str, y_label: str) -> None:
        draw, black, grey = self.draw, (0, 0, 0), (225, 225, 225)
        for x in self.x_ticks:
            px = self.pixel(x, 0)[0]
            draw.line([(px, self.top), (px, self.bottom)], fill=grey)
            draw.text((px, self.bottom + 6), tick_label(x), fill=black, font=self.font, anchor="mt")
        for y in self.y_ticks:
            py = self.pixel(0, y)[1]
            draw.line([(self.left, py), (self.right, py)], fill=grey)
            draw.text((self.left - 6, py), tick_label(y), fill=black, font=self.font, anchor="rm")
        draw.rectangle([self.left, self.top, self.right, self.bottom], outline=black)
        width = self.image.width
        draw.text((width / 2, 15), title, fill=black, font=self.font, anchor="mm")
        draw.text(((self.left + self.right) / 2, self.bottom + 30), x_label, fill=black, font=self.font, anchor="mt")
        draw.text((8, self.top - 18), y_label, fill=black, font=self.font, anchor="lm")

    def line(self, xs: np.ndarray, ys: np.ndarray, colour: tuple[int, int, int]) -> None:
        points = [self.pixel(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        if len(points) > 1:
            self.draw.line(points, fill=colour, width=2)
        for px, py in points:
            self.draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)

    def dots(self, xs: np.ndarray, ys: np.ndarray, colour: tuple[int, int, int]) -> None:
        for x, y in zip(xs, ys, strict=True):
            px, py = self.pixel(x, y)
            self.draw.rectangle([px - 1, py - 1, px + 1, py + 1], fill=colour)

    def legend(self, entries: list[tuple[str, tuple[int, int, int]]]) -> None:
        """Colour swatches and labels in the plot's top-right corner."""
        row_height = 14
        width = 16 + max(self.draw.textlength(label, font=self.font) for label, _ in entries) + 8
        x0, y0 = self.right - width - 6, self.top + 6
        self.draw.rectangle([x0, y0, x0 + width, y0 + row_height * len(entries) + 4], fill="white", outline="black")
        for index, (label, colour) in enumerate(entries):
            y = y0 + 4 + index * row_height
            self.draw.rectangle([x0 + 4, y + 2, x0 + 12, y + 10], fill=colour)
            self.draw.text((x0 + 16, y + 6), label, fill=(0, 0, 0), font=self.font, anchor="lm")

    def save(self, path: str | Path) -> None:
        save_pillow(self.image, path)


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """metrics.csv as columns: step, train_loss, test_loss (float arrays)."""
    try:
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    columns = ("step", "train_loss", "test_loss")
    if not rows or any(column not in rows[0] for column in columns):
        raise DataError(f"{path} holds no metrics rows (expected the columns {', '.join(columns)})")
    try:
        return {column: np.array([float(row[column]) for row in rows]) for column in columns}
    except (TypeError, ValueError) as error:
        raise DataError(f"{path} has a value that is not a number ({error})") from None


def plot_curves(metrics_path: str | Path, png_path: str | Path) -> None:
    """The training loss (mean since the previous row) and the test -ELBO against the step."""
    metrics = read_metrics(metrics_path)
    losses = np.concatenate([metrics["train_loss"], metrics["test_loss"]])
    losses = losses[np.isfinite(losses)]
    low, high = (float(losses.min()), float(losses.max())) if len(losses) else (0.0, 1.0)
    axes = Axes((0.0, float(metrics["step"].max())), (low, high), title="loss curves",
                x_label="step", y_label="loss (nats)")
    axes.line(metrics["step"], metrics["train_loss"], TRAIN_COLOUR)
    axes.line(metrics["step"], metrics["test_loss"], TEST_COLOUR)
    axes.legend([("train loss", TRAIN_COLOUR), ("test -ELBO", TEST_COLOUR)])
    axes.save(png_path)


def plot_latent_scatter(model: VAE, images: np.ndarray, labels: np.ndarray, png_path: str | Path) -> None:
    """The posterior means of ``images`` in a 2-D latent space, one colour per label, with a legend."""
    given = labels if model.conditional else None
    means = np.concatenate([model.encode(to_float(images[i:i + 1000], model.dtype),
                                         None if given is None else given[i:i + 1000])[0]
                            for i in range(0, len(images), 1000)])
    axes = Axes((float(means[:, 0].min()), float(means[:, 0].max())),
                (float(means[:, 1].min()), float(means[:, 1].max())),
                title="posterior means of the test set", x_label="z[0]", y_label="z[1]", size=(640, 560))
    for label in np.unique(labels):
        chosen = labels == label
        axes.dots(means[chosen, 0], means[chosen, 1], PALETTE[int(label) % len(PALETTE)])
    axes.legend([(str(int(label)), PALETTE[int(label) % len(PALETTE)]) for label in np.unique(labels)])
    axes.save(png_path)


# -- image grids ----------------------------------------------------------------------------------------

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

    def grid(name: str, images: np.ndarray, columns: int, scale: int = 2) -> None:
        save_grid(images, out / name, columns=columns, scale=scale)
        written.append(out / name)

    if metrics is not None and Path(metrics).is_file():
        plot_curves(metrics, out / "curves.png")
        written.append(out / "curves.png")
    count = len(dataset.test_images)
    chosen = rng.choice(count, size=4 * pairs, replace=4 * pairs > count)  # repeats only in a tiny test set
    labels = dataset.test_labels[chosen] if model.conditional else [None] * len(chosen)
    grid("reconstruction_pairs.png", reconstruction_pairs(model, dataset.test_images[chosen[:2 * pairs]],
                                                          labels[:2 * pairs] if model.conditional else None), 8)
    z = rng.standard_normal((64, model.config["latent_dim"])).astype(model.dtype)
    grid("prior_samples.png", model.decode(z, np.arange(64) % model.num_classes if model.conditional else None), 8)
    first, second = dataset.test_images[chosen[2 * pairs:3 * pairs]], dataset.test_images[chosen[3 * pairs:]]
    if model.conditional:
        grid("interpolations.png", interpolations(model, first, second, 10, labels[2 * pairs:3 * pairs],
                                                  labels[3 * pairs:]), 10)
        grid("class_samples.png", class_samples(model, 10, seed), 10)
        grid("one_style_ten_digits.png", one_style_ten_digits(model, dataset.test_images[chosen[:pairs]],
                                                              labels[:pairs]), 1 + model.num_classes)
    else:
        grid("interpolations.png", interpolations(model, first, second), 10)
    if model.config["latent_dim"] == 2 and model.conditional:  # its manifold would need one per class
        plot_latent_scatter(model, dataset.test_images, dataset.test_labels, out / "latent_scatter.png")
        written.append(out / "latent_scatter.png")
    elif model.config["latent_dim"] == 2:
        grid("manifold.png", manifold(model), 20, scale=1)  # 20 x 20 digits are big enough as they are
        plot_latent_scatter(model, dataset.test_images, dataset.test_labels, out / "latent_scatter.png")
        written.append(out / "latent_scatter.png")
    return written


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.visualize",
                    description="Draw a trained model: loss curves, reconstructions, prior samples, "
                                "interpolations and, for a 2-D latent space, its manifold and the test set in it.")
    add_checkpoint_arguments(parser)
    parser.add_argument("--out", default=None, help="folder for the PNGs (default: the checkpoint's folder)")
    parser.add_argument("--metrics", default=None, help="metrics.csv to plot (default: the one beside the "
                        "checkpoint; skipped when there is none)")
    parser.add_argument("--pairs", type=int, default=8, help="test images shown with their reconstructions")
    parser.add_argument("--seed", type=int, default=0, help="which test images and prior draws")
    return parser


def visualize_command(args: argparse.Namespace) -> int:
    folder = Path(args.checkpoint).parent
    out = prepare_folder(args.out or folder, "--out")  # before any work: a bad folder fails at once
    model, _, dataset = load_checkpoint_and_data(args)
    metrics = Path(args.metrics) if args.metrics else folder / "metrics.csv"
    if not metrics.is_file():
        print(f"note: no {metrics}; skipping the loss curves", file=sys.stderr)
    for path in write_all(model, dataset, out, metrics, seed=args.seed, pairs=max(1, args.pairs)):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(visualize_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
