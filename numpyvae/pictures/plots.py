"""Plots on numpyvae.pictures.axes: the loss curves of metrics.csv (against the step, or against the training
clock with published reference values beside them), a latent scatter."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..data import to_float
from ..errors import DataError
from ..formats.png import save_pillow
from ..models.vae import VAE
from .axes import PALETTE, TEST_COLOUR, TRAIN_COLOUR, Axes

TERMS = ("test_reconstruction", "test_kl", "active_units")  # the columns metrics.csv has had since free bits


SIDES = (200, 4000)  # a picture's side in pixels: legible, and at most 48 MB of RGB


CLOCK = "wall_seconds"  # the training clock, logged since issue 25


def metrics_file(text: str | Path) -> Path:
    """A run's metrics.csv: the file inside a run's folder, or the file itself; ValueError when there is none."""
    path = Path(text)
    metrics = path / "metrics.csv" if path.is_dir() else path
    if not metrics.is_file():
        raise ValueError(f"{text} holds no metrics.csv" if path.is_dir() else f"no file {text}")
    return metrics


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
    bound's value, named in its legend entry. The legend sits in the corner of the plot that hides the fewest
    curve pixels, or under the plot (which then shrinks) when every corner would hide some. DataError when a
    file lacks a column or has no known training time, or when there are more curves and points than colours;
    ValueError for a side outside ``SIDES``."""
    if not all(SIDES[0] <= side <= SIDES[1] for side in size):
        raise ValueError(f"a picture's sides must be {SIDES[0]} to {SIDES[1]} pixels, got {size}")
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
    legend = [(name + (f", diamond: IWAE({bounds[index][1]}) {bounds[index][2]:.2f}" if index in bounds else ""),
               colour) for index, (colour, (name, _, _)) in enumerate(zip(PALETTE, curves, strict=False))]
    legend += [(f"{point.label}: {point.nats:.2f}", colour) for colour, point in
               zip(PALETTE[len(curves):], points, strict=False)]

    def draw(below: list[str]) -> tuple[Axes, int]:
        axes = Axes(minutes, (low - margin, high + margin), title=title,
                    x_label="minutes of training (wall_seconds / 60: the loop without its reports)",
                    y_label="nats", size=size, below=below)
        for index, (colour, (_, xs, ys)) in enumerate(zip(PALETTE, curves, strict=False)):
            axes.line(xs, ys, colour)
            if index in bounds:
                axes.diamond(bounds[index][0], bounds[index][2], colour)
        for colour, point in zip(PALETTE[len(curves):], points, strict=False):
            axes.hline(point.nats, colour)
        return axes, axes.legend(legend, place="below" if below else "clear")

    axes, hidden = draw([])
    if hidden:  # every corner of the plot hides some of the curves: the legend goes under it
        axes, _ = draw([label for label, _ in legend])
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
