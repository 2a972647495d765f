"""Plots drawn with Pillow only: axes with ticks, the loss curves of metrics.csv (against the step, or against
the training clock with published reference values beside them), a latent scatter."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..data import to_float
from ..errors import DataError
from ..formats.png import font, font_size_for, save_pillow
from ..models.vae import VAE

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
    """A white canvas with a plot area, axes, ticks and labels, mapping data coordinates to pixels.

    The text is Pillow's scalable font (``numpyvae.formats.png.font``) sized to the picture: 1/30 of its
    smaller side (14 px at 640 x 420), the title a third larger; the margins are measured from that text.
    """

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float], *, title: str, x_label: str,
                 y_label: str, size: tuple[int, int] = (640, 420)) -> None:
        self.image = Image.new("RGB", size, "white")
        self.draw = ImageDraw.Draw(self.image)
        self.text_size = font_size_for(size)
        self.font, self.title_font = font(self.text_size), font(round(self.text_size * 4 / 3))
        self.x_ticks, self.y_ticks = nice_ticks(*x_range), nice_ticks(*y_range)
        self.x_range = (min(x_range[0], self.x_ticks[0]), max(x_range[1], self.x_ticks[-1]))
        self.y_range = (min(y_range[0], self.y_ticks[0]), max(y_range[1], self.y_ticks[-1]))
        gap = self.text_size // 2
        widest_tick = max(self.draw.textlength(tick_label(y), font=self.font) for y in self.y_ticks)
        self.title_y = gap + self.text_size * 2 / 3  # the middle of the title's line
        self.top = round(self.title_y + self.text_size * 2 / 3 + gap + self.text_size + gap)  # title, y label
        self.left = round(gap + widest_tick + gap)
        self.right = size[0] - round(max(gap * 2, self.draw.textlength(tick_label(self.x_ticks[-1]),
                                                                       font=self.font) / 2 + gap))
        self.bottom = size[1] - (gap + self.text_size + gap + self.text_size + gap)  # tick labels, x label
        self.drawn: list[tuple[float, float]] = []  # the pixels of lines and markers, for legend(place="clear")
        self._frame(title, x_label, y_label)

    def pixel(self, x: float, y: float) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.x_range, self.y_range
        return (self.left + (x - x0) / ((x1 - x0) or 1) * (self.right - self.left),
                self.bottom - (y - y0) / ((y1 - y0) or 1) * (self.bottom - self.top))

    def _frame(self, title: str, x_label: str, y_label: str) -> None:
        draw, black, grey, gap = self.draw, (0, 0, 0), (225, 225, 225), self.text_size // 2
        for x in self.x_ticks:
            px = self.pixel(x, 0)[0]
            draw.line([(px, self.top), (px, self.bottom)], fill=grey)
            draw.text((px, self.bottom + gap), tick_label(x), fill=black, font=self.font, anchor="mt")
        for y in self.y_ticks:
            py = self.pixel(0, y)[1]
            draw.line([(self.left, py), (self.right, py)], fill=grey)
            draw.text((self.left - gap, py), tick_label(y), fill=black, font=self.font, anchor="rm")
        draw.rectangle([self.left, self.top, self.right, self.bottom], outline=black)
        draw.text((self.image.width / 2, self.title_y), title, fill=black, font=self.title_font, anchor="mm")
        draw.text(((self.left + self.right) / 2, self.bottom + gap + self.text_size + gap), x_label, fill=black,
                  font=self.font, anchor="mt")
        draw.text((gap, self.top - gap), y_label, fill=black, font=self.font, anchor="ld")

    def line(self, xs: np.ndarray, ys: np.ndarray, colour: tuple[int, int, int]) -> None:
        points = [self.pixel(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        if len(points) > 1:
            self.draw.line(points, fill=colour, width=2)
        for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):  # a pixel every 4 px, for legend="clear"
            steps = max(1, int(math.hypot(x1 - x0, y1 - y0) / 4))
            self.drawn += [(x0 + (x1 - x0) * t / steps, y0 + (y1 - y0) * t / steps) for t in range(steps + 1)]
        self.drawn += points
        for px, py in points:
            self.draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)

    def dots(self, xs: np.ndarray, ys: np.ndarray, colour: tuple[int, int, int]) -> None:
        for x, y in zip(xs, ys, strict=True):
            px, py = self.pixel(x, y)
            self.draw.rectangle([px - 1, py - 1, px + 1, py + 1], fill=colour)

    def diamond(self, x: float, y: float, colour: tuple[int, int, int]) -> None:
        """A filled diamond outlined in black at (``x``, ``y``), a marker that stands out of a line."""
        px, py, r = *self.pixel(x, y), max(5, self.text_size // 2)
        self.drawn += [(px + dx, py + dy) for dx in (-r, 0, r) for dy in (-r, 0, r)]
        self.draw.polygon([(px, py - r), (px + r, py), (px, py + r), (px - r, py)], fill=colour, outline=(0, 0, 0))

    def hline(self, y: float, colour: tuple[int, int, int], dash: int = 8) -> None:
        """A dashed horizontal line across the plot at ``y`` (dashes and gaps ``dash`` pixels long)."""
        py = self.pixel(0, y)[1]
        for x0 in range(self.left, self.right, 2 * dash):
            self.draw.line([(x0, py), (min(x0 + dash, self.right), py)], fill=colour, width=2)

    def legend(self, entries: list[tuple[str, tuple[int, int, int]]], place: str = "top right") -> None:
        """Colour swatches and labels in the plot's top-right corner, or (``place="clear"``) in the corner that
        hides the fewest of the curves' and markers' pixels drawn so far."""
        size = self.text_size
        row_height, swatch, pad = round(size * 1.5), round(size * 0.7), size // 2
        width = pad + swatch + pad + max(self.draw.textlength(label, font=self.font) for label, _ in entries) + pad
        height = row_height * len(entries) + pad
        corners = [(self.right - width - pad, self.top + pad), (self.right - width - pad, self.bottom - height - pad),
                   (self.left + pad, self.top + pad), (self.left + pad, self.bottom - height - pad)]
        hidden = [sum(x0 <= x <= x0 + width and y0 <= y <= y0 + height for x, y in self.drawn) for x0, y0 in corners]
        x0, y0 = corners[int(np.argmin(hidden)) if place == "clear" else 0]
        self.draw.rectangle([x0, y0, x0 + width, y0 + height], fill="white", outline="black")
        for index, (label, colour) in enumerate(entries):
            middle = y0 + pad / 2 + (index + 0.5) * row_height
            self.draw.rectangle([x0 + pad, middle - swatch / 2, x0 + pad + swatch, middle + swatch / 2], fill=colour)
            self.draw.text((x0 + pad + swatch + pad, middle), label, fill=(0, 0, 0), font=self.font, anchor="lm")

    def save(self, path: str | Path) -> None:
        save_pillow(self.image, path)


TERMS = ("test_reconstruction", "test_kl", "active_units")  # the columns metrics.csv has had since free bits


CLOCK = "wall_seconds"  # the training clock, logged since issue 25


def read_metrics(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """metrics.csv as columns (float arrays): step, train_loss, test_loss, and, in a file written since they
    were logged, test_reconstruction, test_kl and active_units (an older file has only the first three); also
    the ``required`` columns, which the file must have (DataError naming the first it lacks)."""
    try:
        with open(path, newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None
    columns = ("step", "train_loss", "test_loss")
    if not rows or any(column not in rows[0] for column in columns):
        raise DataError(f"{path} holds no metrics rows (expected the columns {', '.join(columns)})")
    if missing := [column for column in required if column not in rows[0]]:
        if missing[0] == CLOCK:
            raise DataError(f"{path} has no {CLOCK} column: it was written before numpyvae logged the training "
                            "clock, so it can be drawn against the step only (curves.png)")
        raise DataError(f"{path} has no column {missing[0]} (its columns: {', '.join(rows[0])})")
    columns += tuple(column for column in TERMS + required if column in rows[0] and column not in columns)
    try:
        return {column: np.array([float(row[column]) for row in rows]) for column in columns}
    except (TypeError, ValueError) as error:
        raise DataError(f"{path} has a value that is not a number ({error})") from None


def final_bound(metrics_path: str | Path) -> tuple[int, float] | None:
    """(K, nats) of the IWAE bound on -log p(x) in the evaluation.json beside a run's metrics.csv (the final
    evaluation of ``train.py --eval-k K``), None where the folder has no such file or the run measured none."""
    path = Path(metrics_path).parent / "evaluation.json"
    try:
        evaluation = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path}: {error}") from None
    value = evaluation.get("iwae") if isinstance(evaluation, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(evaluation.get("iwae_k", 0)), float(value)


def _span(*arrays: np.ndarray) -> tuple[float, float]:
    """The finite range of the values, (0, 1) when there is none."""
    values = np.concatenate(arrays)
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)


def _stacked(panels: list[Axes]) -> Image.Image:
    """The panels one under the other, in one picture."""
    image = Image.new("RGB", (max(p.image.width for p in panels), sum(p.image.height for p in panels)), "white")
    top = 0
    for panel in panels:
        image.paste(panel.image, (0, top))
        top += panel.image.height
    return image


def plot_curves(metrics_path: str | Path, png_path: str | Path) -> None:
    """The training loss (mean since the previous row) and the test -ELBO against the step; for a file that logs
    them, the test reconstruction term beside them and, in two panels below, the test KL and the active units."""
    metrics = read_metrics(metrics_path)
    steps = (0.0, float(metrics["step"].max()))
    terms = "test_reconstruction" in metrics
    shown = [metrics["train_loss"], metrics["test_loss"]] + ([metrics["test_reconstruction"]] if terms else [])
    axes = Axes(steps, _span(*shown), title="loss curves", x_label="step", y_label="loss (nats)")
    axes.line(metrics["step"], metrics["train_loss"], TRAIN_COLOUR)
    axes.line(metrics["step"], metrics["test_loss"], TEST_COLOUR)
    legend = [("train loss", TRAIN_COLOUR), ("test -ELBO", TEST_COLOUR)]
    if not terms:  # a metrics.csv written before the terms were logged
        axes.legend(legend)
        axes.save(png_path)
        return
    axes.line(metrics["step"], metrics["test_reconstruction"], PALETTE[2])
    axes.legend(legend + [("test reconstruction", PALETTE[2])])
    kl = Axes(steps, _span(metrics["test_kl"]), title="test KL(q(z|x) || p(z))", x_label="step", y_label="nats")
    kl.line(metrics["step"], metrics["test_kl"], PALETTE[3])
    units = Axes(steps, _span(metrics["active_units"], np.zeros(1)), title="active units (Var E_q[z_d] > 0.01)",
                 x_label="step", y_label="units")
    units.line(metrics["step"], metrics["active_units"], PALETTE[4])
    save_pillow(_stacked([axes, kl, units]), png_path)


def plot_comparison(runs: dict[str, str | Path], png_path: str | Path) -> None:
    """Several runs side by side, one colour each (``runs``: label -> metrics.csv): the test -ELBO, the test
    KL and the active units against the step, in three panels one under the other. Each file must log the
    terms (a metrics.csv written since they were)."""
    if not 1 <= len(runs) <= len(PALETTE):
        raise DataError(f"a comparison draws 1 to {len(PALETTE)} runs, got {len(runs)}")
    metrics = {label: read_metrics(path) for label, path in runs.items()}
    if lacking := [str(runs[label]) for label, m in metrics.items() if "test_kl" not in m]:
        raise DataError(f"{lacking[0]} does not log the KL and the active units (written by an older numpyvae)")
    steps = (0.0, max(float(m["step"].max()) for m in metrics.values()))
    panels = []
    for column, title, unit in (("test_loss", "test -ELBO", "nats"), ("test_kl", "test KL(q(z|x) || p(z))", "nats"),
                                ("active_units", "active units (Var E_q[z_d] > 0.01)", "units")):
        # the units from 0, with room above the highest for the legend (they often all sit at the top)
        extra = [np.zeros(1), 1.5 * np.nanmax([m[column] for m in metrics.values()], axis=None, initial=1)[None]] \
            if column == "active_units" else []
        axes = Axes(steps, _span(*[m[column] for m in metrics.values()], *extra), title=title, x_label="step",
                    y_label=unit)
        for colour, m in zip(PALETTE, metrics.values(), strict=False):
            axes.line(m["step"], m[column], colour)
        axes.legend(list(zip(metrics, PALETTE, strict=False)))
        panels.append(axes)
    save_pillow(_stacked(panels), png_path)


@dataclass(frozen=True)
class ReferencePoint:
    """A published result to draw beside the curves: ``label`` names it and how long it trained (``Burda et
    al. 1-layer VAE, 3,280 epochs``), ``nats`` is its value. Its training time is not on this machine's clock,
    so it is drawn as a dashed level across the plot, not as a point at some time."""

    label: str
    nats: float

    @classmethod
    def parse(cls, text: str) -> ReferencePoint:
        """``LABEL=NATS`` (split at the last ``=``: the label may hold commas and ``=``); ValueError saying
        what is wrong."""
        label, equals, value = text.rpartition("=")
        label = label.strip()
        if not equals or not label:
            raise ValueError(f"expected LABEL=NATS, such as 'Burda et al. 1-layer VAE, 3,280 epochs=86.76', "
                             f"got {text!r}")
        try:
            nats = float(value)
        except ValueError:
            raise ValueError(f"the value after the last '=' must be a number of nats, got {value.strip()!r} "
                             f"in {text!r}") from None
        if not math.isfinite(nats):
            raise ValueError(f"the value must be a finite number of nats, got {value.strip()!r} in {text!r}")
        return cls(label, nats)


# how the legend names the columns that plot_against_time draws (any other column by its own name)
COLUMN_NAMES = {"test_loss": "test -ELBO", "train_loss": "train loss", "validation_loss": "validation -ELBO",
                "test_reconstruction": "test reconstruction", "test_kl": "test KL"}
NOT_NATS = ("step", CLOCK, "active_units")  # columns that are not a loss in nats


def plot_against_time(runs: dict[str, str | Path], png_path: str | Path, columns: tuple[str, ...] = ("test_loss",),
                      points: tuple[ReferencePoint, ...] = (), size: tuple[int, int] = (800, 500)) -> None:
    """Each run's ``columns`` of metrics.csv (the test -ELBO unless told) against minutes of training (the
    ``wall_seconds`` column over 60), one colour per run and column, and the reference ``points`` as dashed
    levels, all named in the legend (``runs``: label -> metrics.csv). A run whose evaluation.json holds an IWAE
    bound (``--eval-k``) also gets a diamond in its first curve's colour at its last minute of training, that
    bound's value, named in its legend entry. DataError when a file lacks a column or has no known training time,
    or when there are more curves and points than colours."""
    if not runs:
        raise DataError("no runs to draw")
    if not columns:
        raise DataError("no columns to draw")
    if odd := [column for column in columns if column in NOT_NATS]:
        raise DataError(f"{odd[0]} is not a loss in nats; draw a loss column such as test_loss")
    if len(runs) * len(columns) + len(points) > len(PALETTE):
        raise DataError(f"a picture holds at most {len(PALETTE)} curves and reference points together (one "
                        f"colour each); got {len(runs)} runs x {len(columns)} columns and {len(points)} points")
    curves, bounds = [], {}  # (legend label, minutes, values); curve index -> (minute, K, nats)
    for label, path in runs.items():
        metrics = read_metrics(path, required=(CLOCK, *columns))
        timed = np.isfinite(metrics[CLOCK])
        if not timed.any():
            raise DataError(f"{path} does not know its training time ({CLOCK} is nan: the run was resumed from a "
                            "checkpoint written before numpyvae kept the training clock)")
        if (bound := final_bound(path)) is not None:
            bounds[len(curves)] = (float(metrics[CLOCK][timed][-1]) / 60, *bound)
        for column in columns:
            name = label if len(columns) == 1 else f"{label}: {COLUMN_NAMES.get(column, column)}"
            curves.append((name, metrics[CLOCK][timed] / 60, metrics[column][timed]))
    minutes = (0.0, max(float(m.max()) for _, m, _ in curves))
    levels = np.array([point.nats for point in points] + [nats for _, _, nats in bounds.values()])
    title = (COLUMN_NAMES.get(columns[0], columns[0]) if len(columns) == 1 else "losses") + " against training time"
    low, high = _span(*[values for _, _, values in curves], levels)
    margin = 0.05 * ((high - low) or 1)  # a level at the lowest value stays off the frame
    axes = Axes(minutes, (low - margin, high + margin), title=title,
                x_label="minutes of training (wall_seconds / 60: the loop without its reports)",
                y_label="nats", size=size)
    legend = []
    for index, (colour, (name, xs, ys)) in enumerate(zip(PALETTE, curves, strict=False)):
        axes.line(xs, ys, colour)
        if index in bounds:
            minute, k, nats = bounds[index]
            axes.diamond(minute, nats, colour)
            name += f", diamond: IWAE({k}) {nats:.2f}"
        legend.append((name, colour))
    for colour, point in zip(PALETTE[len(curves):], points, strict=False):
        axes.hline(point.nats, colour)
        legend.append((f"{point.label}: {point.nats:.2f}", colour))
    axes.legend(legend, place="clear")
    axes.save(png_path)


def plot_latent_scatter(model: VAE, images: np.ndarray, labels: np.ndarray | None, png_path: str | Path,
                        names: tuple[str, ...] | None = None) -> None:
    """The posterior means of ``images`` in a 2-D latent space, one colour per label, with a legend naming each
    label (by ``names`` when given); unlabelled images (``labels`` None) all in the first colour, no legend."""
    given = model.labels_for(labels)
    means = np.concatenate([model.encode(to_float(images[i:i + 1000], model.dtype),
                                         None if given is None else given[i:i + 1000])[0]
                            for i in range(0, len(images), 1000)])
    axes = Axes((float(means[:, 0].min()), float(means[:, 0].max())),
                (float(means[:, 1].min()), float(means[:, 1].max())),
                title="posterior means of the test set", x_label="z[0]", y_label="z[1]", size=(640, 560))
    if labels is None:
        axes.dots(means[:, 0], means[:, 1], PALETTE[0])
    else:
        for label in np.unique(labels):
            chosen = labels == label
            axes.dots(means[chosen, 0], means[chosen, 1], PALETTE[int(label) % len(PALETTE)])
        axes.legend([(names[int(label)] if names else str(int(label)), PALETTE[int(label) % len(PALETTE)])
                     for label in np.unique(labels)])
    axes.save(png_path)


# -- image grids ----------------------------------------------------------------------------------------
