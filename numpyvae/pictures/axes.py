"""A drawing canvas with Pillow only: axes with nice ticks and labels, lines, dashed levels, markers and a
legend that finds the clearest corner (or sits under the plot); the colours every plot shares."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..formats.png import font, font_size_for, save_pillow

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
                 y_label: str, size: tuple[int, int] = (640, 420), below: list[str] = ()) -> None:
        """``below``: the labels of a legend to draw under the plot (``legend(place="below")``), whose rows the
        plot area leaves room for, unless they would take more than two thirds of its height: then no room is
        made, and the legend takes the clearest corner."""
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
        self.band = self._band(list(below))
        if self.band[2] + gap > (self.bottom - self.top) * 2 / 3:  # no room: a legend below would squash the plot
            self.band = (0, 0, 0)
        self.bottom -= self.band[2] + (gap if self.band[2] else 0)
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

    def _entry_width(self, labels: list[str]) -> float:
        """The width of a legend's column: a swatch, its label, their padding."""
        pad = self.text_size // 2
        return pad + round(self.text_size * 0.7) + pad + max(self.draw.textlength(label, font=self.font)
                                                             for label in labels) + pad

    def _band(self, labels: list[str]) -> tuple[int, int, int]:
        """(columns, rows, height in pixels) of a legend of ``labels`` under the plot: as many columns of
        entries, filled top to bottom, as the picture's width holds; (0, 0, 0) for no labels, or for labels too
        wide for one column."""
        columns = min(len(labels), int((self.image.width - self.text_size) // self._entry_width(labels or [""])))
        if not columns:
            return 0, 0, 0
        rows = -(-len(labels) // columns)
        return columns, rows, round(self.text_size * 1.5) * rows + self.text_size // 2

    def legend(self, entries: list[tuple[str, tuple[int, int, int]]], place: str = "top right") -> int:
        """Colour swatches and labels in the plot's top-right corner, or (``place="clear"``) in the corner that
        hides the fewest of the curves' and markers' pixels drawn so far, or (``place="below"``) under the plot,
        in the room the Axes were made with (``below=``; the clearest corner when they could make none). Returns
        how many of those pixels the legend hides."""
        row_height, pad = round(self.text_size * 1.5), self.text_size // 2
        width, height = self._entry_width([label for label, _ in entries]), row_height * len(entries) + pad
        if place == "below" and self.band[2]:
            columns, rows, height = self.band
            if columns * rows < len(entries):
                raise ValueError(f"the Axes were made with room for {columns * rows} legend entries below, "
                                 f"not {len(entries)}")
            x0, y0 = (self.image.width - columns * width) / 2, self.image.height - height - pad
            self.draw.rectangle([x0, y0, x0 + columns * width, y0 + height], fill="white", outline="black")
            for index, (label, colour) in enumerate(entries):
                self._entry(x0 + index // rows * width, y0 + pad / 2 + (index % rows + 0.5) * row_height, label,
                            colour)
            return 0
        corners = [(self.right - width - pad, self.top + pad), (self.right - width - pad, self.bottom - height - pad),
                   (self.left + pad, self.top + pad), (self.left + pad, self.bottom - height - pad)]
        hidden = [sum(x0 <= x <= x0 + width and y0 <= y <= y0 + height for x, y in self.drawn) for x0, y0 in corners]
        corner = int(np.argmin(hidden)) if place in ("clear", "below") else 0
        x0, y0 = corners[corner]
        self.draw.rectangle([x0, y0, x0 + width, y0 + height], fill="white", outline="black")
        for index, (label, colour) in enumerate(entries):
            self._entry(x0, y0 + pad / 2 + (index + 0.5) * row_height, label, colour)
        return hidden[corner]

    def _entry(self, x0: float, middle: float, label: str, colour: tuple[int, int, int]) -> None:
        """One legend entry: its swatch from ``x0`` and its label, centred on the row ``middle``."""
        pad, swatch = self.text_size // 2, round(self.text_size * 0.7)
        self.draw.rectangle([x0 + pad, middle - swatch / 2, x0 + pad + swatch, middle + swatch / 2], fill=colour)
        self.draw.text((x0 + pad + swatch + pad, middle), label, fill=(0, 0, 0), font=self.font, anchor="lm")

    def save(self, path: str | Path) -> None:
        save_pillow(self.image, path)
