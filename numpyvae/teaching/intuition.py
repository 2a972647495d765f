"""Two pictures for intuition, drawn with Pillow: ``python -m numpyvae.intuition``.

    reparameterization   the noise eps ~ N(0, 1) moved by mu and sigma into z = mu + sigma * eps, and the
                         paths the gradient takes back: to mu unchanged, to sigma times eps, none to eps
    elbo-gap CHECKPOINT  for one test image of a trained model: the ELBO, the IWAE bounds L_K for K = 1 ... 5000,
                         and log p(x) estimated by L_K at a far larger K; the gap between the ELBO and log p(x) is
                         KL(q(z | x) || p(z | x)), and L_K closes most of it

The pictures in docs/images are drawn with

    python -m numpyvae.intuition reparameterization --out docs/images/reparameterization.png
    python -m numpyvae.intuition elbo-gap runs/<run>/checkpoint.npz --out docs/images/elbo_gap.png

The estimates of the ELBO gap, per image (symbols of docs/elbo_backprop.md): N = ``samples`` log weights
log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x) are drawn once. L_K is estimated by the mean, over the
N / K disjoint groups of K of them, of log (1/K) sum_k w_k (with the standard error of that mean); log p(x)
by L_N, the bound of all N together (itself a lower bound, the tightest the draws give); the ELBO by the mean
of the N log weights: E_q[log w] = E_q[log p(x | z)] - KL(q(z | x) || p(z)), the same expectation whether the
KL is sampled or in closed form (the two estimators differ in variance only).
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..cli import Parser, add_checkpoint_arguments, load_checkpoint_and_data, require_one_layer_vae, run_command
from ..data import to_float
from ..data.binarization import TEST_DRAW_SEED, fixed_binarization
from ..errors import UsageError
from ..evaluation.bounds import log_weights
from ..formats.atomic import check_file_destination, write_bytes_atomic
from ..models.vae import VAE
from ..pictures.axes import nice_ticks
from .explain.graph import font

BLACK, RED, GREY, BLUE, ORANGE, LIGHT = (0, 0, 0), (200, 30, 30), (110, 110, 110), (31, 119, 180), (230, 140, 0), \
    (225, 225, 225)
KS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def _png(image: Image.Image, path: str) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def _arrow(draw: ImageDraw.ImageDraw, start, end, colour, width: int = 2) -> None:
    draw.line([start, end], fill=colour, width=width)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    for side in (-0.45, 0.45):
        draw.line([end, (end[0] - 12 * math.cos(angle + side), end[1] - 12 * math.sin(angle + side))],
                  fill=colour, width=width)


def _box(draw: ImageDraw.ImageDraw, centre, lines: list[str], outline=BLACK) -> tuple[float, float]:
    text = font(17)
    half_w = max(draw.textlength(line, font=text) for line in lines) / 2 + 12
    half_h = 11 * len(lines) + 6
    x, y = centre
    draw.rounded_rectangle([x - half_w, y - half_h, x + half_w, y + half_h], radius=8, fill=(242, 246, 252),
                           outline=outline, width=2)
    for index, line in enumerate(lines):
        draw.text((x, y - half_h + 6 + 22 * index + 11), line, fill=BLACK if index == 0 else GREY, font=text,
                  anchor="mm")
    return half_w, half_h


def normal_density(t: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def draw_reparameterization(path: str, mu: float = 1.5, sigma: float = 0.5, draws: int = 9, seed: int = 3) -> None:
    """The noise moved by mu and sigma (left) and the gradient's paths (right), as a PNG."""
    image = Image.new("RGB", (1640, 720), "white")
    draw = ImageDraw.Draw(image)
    draw.text((30, 22), "The reparameterization: z = mu + sigma * eps, with the noise eps ~ N(0, 1) drawn first and "
              "then held fixed", fill=BLACK, font=font(22))
    # left: two number lines on one scale, eps above, z below, each draw joined to where it lands
    left, right, rows = 60, 760, {"eps": 250, "z": 520}
    low, high = -3.5, 3.5

    def px(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    grid = np.linspace(low, high, 300)
    for name, (mean, std, colour) in {"eps": (0.0, 1.0, GREY), "z": (mu, sigma, BLUE)}.items():
        base = rows[name]
        draw.line([(left, base), (right, base)], fill=BLACK, width=1)
        for tick in range(-3, 4):
            draw.line([(px(tick), base), (px(tick), base + 6)], fill=BLACK)
            draw.text((px(tick), base + 10), f"{tick}", fill=BLACK, font=font(14), anchor="mt")
        curve = normal_density(grid, mean, std)
        points = [(px(t), base - 130 * c / 0.8) for t, c in zip(grid, curve, strict=True)]
        draw.line(points, fill=colour, width=3)
    eps = np.sort(np.random.default_rng(seed).standard_normal(draws))
    for value in eps:
        start, end = (px(value), rows["eps"]), (px(mu + sigma * value), rows["z"])
        draw.line([start, end], fill=LIGHT, width=2)
        draw.ellipse([start[0] - 5, start[1] - 5, start[0] + 5, start[1] + 5], fill=GREY)
        draw.ellipse([end[0] - 5, end[1] - 5, end[0] + 5, end[1] + 5], fill=BLUE)
    draw.text((left, rows["eps"] - 150), "eps ~ N(0, 1): the draws, before", fill=GREY, font=font(18))
    draw.text((left, rows["z"] - 150), f"z = mu + sigma * eps ~ N(mu, sigma^2), mu = {mu:g}, sigma = {sigma:g}: "
              "the same draws, after", fill=BLUE, font=font(18))
    draw.text((left, rows["z"] + 40), "each draw is scaled by sigma, then shifted by mu; its randomness stays in eps",
              fill=BLACK, font=font(17))
    draw.text((left, rows["z"] + 66), "so z is an ordinary function of mu and sigma, and can be differentiated",
              fill=BLACK, font=font(17))
    # right: the graph, forward in black, the gradient in red
    nodes = {"sigma": (900, 170), "eps": (900, 350), "times": (1130, 260), "mu": (1130, 480), "plus": (1340, 370),
             "z": (1530, 370), "F": (1530, 540)}
    texts = {"eps": ["eps", "held fixed"], "sigma": ["sigma"], "mu": ["mu"], "times": ["sigma * eps"],
             "plus": ["+ mu"], "z": ["z"], "F": ["F(z)", "= log p(x | z)"]}
    halves = {name: _box(draw, centre, texts[name], ORANGE if name in ("mu", "sigma") else BLACK)
              for name, centre in nodes.items()}

    def edge(a: str, b: str, label: str = "", where: float = 0.5) -> None:
        (x0, y0), (x1, y1) = nodes[a], nodes[b]
        length = math.dist(nodes[a], nodes[b])
        dx, dy = (x1 - x0) / length, (y1 - y0) / length

        def exit_point(centre, half, sign):
            t = min(half[0] / abs(dx) if dx else math.inf, half[1] / abs(dy) if dy else math.inf)
            return centre[0] + sign * dx * t, centre[1] + sign * dy * t

        start, end = exit_point(nodes[a], halves[a], 1), exit_point(nodes[b], halves[b], -1)
        nx, ny = -dy * 6, dx * 6
        _arrow(draw, (start[0] - nx, start[1] - ny), (end[0] - nx, end[1] - ny), BLACK)
        if label:
            _arrow(draw, (end[0] + nx, end[1] + ny), (start[0] + nx, start[1] + ny), RED)
            middle = (start[0] + (end[0] - start[0]) * where + nx * 4, start[1] + (end[1] - start[1]) * where + ny * 4)
            width = draw.textlength(label, font=font(15))
            draw.rectangle([middle[0] - width / 2 - 3, middle[1] - 9, middle[0] + width / 2 + 3, middle[1] + 9],
                           fill="white")
            draw.text(middle, label, fill=RED, font=font(15), anchor="mm")

    edge("eps", "times")
    edge("sigma", "times", "dF/dsigma = dF/dz * eps", 0.5)
    edge("times", "plus", "dF/dz", 0.5)
    edge("mu", "plus", "dF/dmu = dF/dz", 0.5)
    edge("plus", "z", "dF/dz", 0.5)
    edge("z", "F", "dF/dz", 0.5)
    draw.text((860, 400), "no gradient:", fill=GREY, font=font(15))
    draw.text((860, 420), "eps is data here", fill=GREY, font=font(15))
    for index, (line, colour) in enumerate((
            ("black: the forward pass; red: the gradient of F flowing back to mu and sigma.", BLACK),
            ("The score function instead multiplies the number F(z) by d log q / dmu = eps / sigma:", GREY),
            ("it never uses dF/dz, which says which way to move z.", GREY),
            ("Drawn by numpyvae/teaching/intuition.py", GREY))):
        draw.text((860, 600 + 24 * index), line, fill=colour, font=font(16))
    _png(image, path)


def elbo_gap(model: VAE, x: np.ndarray, *, ks=KS, samples: int = 100_000, seed: int = 0) -> dict:
    """The ELBO, the IWAE bounds L_K (mean and standard error over disjoint groups of K) and log p(x) ~ L_N of one
    image x (1, P), from N = ``samples`` log weights (module docstring). In nats, as log-likelihoods."""
    if x.shape[0] != 1:
        raise ValueError(f"elbo_gap takes one image, shape (1, P), got {x.shape}")
    if max(ks) > samples:
        raise UsageError(f"the largest K ({max(ks)}) needs at least that many samples, got --samples {samples}")
    log_w = log_weights(model, x, samples, np.random.default_rng(seed))[0]  # (N,), float64
    bounds = []
    for k in ks:
        groups = log_w[:samples // k * k].reshape(-1, k)
        values = np.logaddexp.reduce(groups, axis=1) - math.log(k)
        error = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
        bounds.append({"k": int(k), "bound": float(values.mean()), "stderr": error, "groups": len(values)})
    return {"elbo": float(log_w.mean()), "elbo_stderr": float(np.std(log_w, ddof=1) / math.sqrt(samples)),
            "bounds": bounds, "samples": samples, "log_p": float(np.logaddexp.reduce(log_w) - math.log(samples))}


def draw_elbo_gap(path: str, gap: dict, caption: str) -> None:
    """The bounds of ``elbo_gap`` against K on a log axis, with the ELBO and log p(x) as lines, as a PNG."""
    width, height = 1200, 720
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 110, 120, width - 330, height - 110
    ks = [row["k"] for row in gap["bounds"]]
    values = [row["bound"] for row in gap["bounds"]] + [gap["elbo"], gap["log_p"]]
    span = max(values) - min(values)
    rough = nice_ticks(min(values) - 0.05 * span, max(values) + 0.05 * span, 6)
    spacing = rough[1] - rough[0]
    y_low = math.floor((min(values) - 0.05 * span) / spacing) * spacing
    y_high = math.ceil((max(values) + 0.05 * span) / spacing) * spacing
    y_ticks = [y_low + i * spacing for i in range(round((y_high - y_low) / spacing) + 1)]
    x_low, x_high = 0.0, math.log10(gap["samples"])

    def px(k: float, value: float) -> tuple[float, float]:
        return (left + (math.log10(k) - x_low) / (x_high - x_low) * (right - left),
                bottom - (value - y_low) / (y_high - y_low) * (bottom - top))

    tick_font, label_font = font(15), font(17)
    for value in y_ticks:
        y = px(1, value)[1]
        draw.line([(left, y), (right, y)], fill=LIGHT)
        draw.text((left - 8, y), f"{value:g}", fill=BLACK, font=tick_font, anchor="rm")
    for k in (1, 10, 100, 1000, 10_000, 100_000, 1_000_000):
        if k <= gap["samples"]:
            x = px(k, y_low)[0]
            draw.line([(x, top), (x, bottom)], fill=LIGHT)
            draw.text((x, bottom + 8), f"{k:,}", fill=BLACK, font=tick_font, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline=BLACK)
    draw.text((width / 2, 30), "The ELBO gap of one image: log p(x) >= L_K >= ... >= L_1 ~ ELBO", fill=BLACK,
              font=font(22), anchor="mm")
    draw.text((width / 2, 58), caption, fill=GREY, font=font(15), anchor="mm")
    draw.text(((left + right) / 2, bottom + 36), "K, importance samples per estimate (log scale)", fill=BLACK,
              font=label_font, anchor="mt")
    draw.text((20, top - 28), "nats (a log-likelihood: higher is better)", fill=BLACK, font=label_font)
    for name, value, colour in (("ELBO", gap["elbo"], ORANGE),
                                (f"log p(x) ~ L_{gap['samples']:,}", gap["log_p"], RED)):
        y = px(1, value)[1]
        for x in range(left, right, 14):
            draw.line([(x, y), (min(x + 8, right), y)], fill=colour, width=2)
        draw.text((right + 12, y), f"{name}: {value:.2f}", fill=colour, font=label_font, anchor="lm")
    points = [px(row["k"], row["bound"]) for row in gap["bounds"]]
    draw.line(points, fill=BLUE, width=3)
    for (x, y), row in zip(points, gap["bounds"], strict=True):
        half = row["stderr"] / (y_high - y_low) * (bottom - top)
        draw.line([(x, y - half), (x, y + half)], fill=BLUE, width=2)
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=BLUE)
    last = gap["bounds"][-1]
    draw.text((right + 12, points[-1][1] + 24), f"L_{last['k']}: {last['bound']:.2f}", fill=BLUE, font=label_font,
              anchor="lm")
    gap_nats = gap["log_p"] - gap["elbo"]
    notes = [f"gap log p(x) - ELBO >= {gap_nats:.2f} nats", "(= KL(q(z|x) || p(z|x)),", "how far q is from",
             "the true posterior)", "", f"L_{ks[-1]} closes "
             f"{(last['bound'] - gap['elbo']) / gap_nats:.0%} of it" if gap_nats > 0 else ""]
    for index, line in enumerate(notes):
        draw.text((right + 12, (top + bottom) / 2 - 60 + 24 * index), line, fill=BLACK, font=label_font)
    draw.text((left, height - 34), f"blue: L_K, the mean over disjoint groups of K of {gap['samples']:,} draws of "
              "log w_k, with its standard error. Drawn by numpyvae/teaching/intuition.py", fill=GREY, font=tick_font)
    _png(image, path)


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.intuition", description="Pictures for intuition: the "
                    "reparameterization, and the ELBO gap of one image of a trained model.")
    commands = parser.add_subparsers(dest="picture", required=True, metavar="{reparameterization,elbo-gap}")
    reparam = commands.add_parser("reparameterization", help="the noise eps moved by mu and sigma, and the "
                                  "gradient's paths")
    reparam.add_argument("--out", default="reparameterization.png", help="the PNG to write")
    gap = commands.add_parser("elbo-gap", help="the ELBO, the IWAE bounds for K = 1 ... 5000 and log p(x) of one "
                              "test image")
    add_checkpoint_arguments(gap)
    gap.add_argument("--image", type=int, default=0, help="which test image (its index)")
    gap.add_argument("--samples", type=int, default=100_000,
                     help="log weights drawn; log p(x) is estimated by the bound of all of them")
    gap.add_argument("--seed", type=int, default=0, help="seed of the draws")
    gap.add_argument("--out", default="elbo_gap.png", help="the PNG to write")
    return parser


def command(args: argparse.Namespace) -> int:
    if not args.out.lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file, got {args.out}")
    check_file_destination(args.out, "--out")
    if args.picture == "reparameterization":
        draw_reparameterization(args.out)
        print(args.out)
        return 0
    if args.samples < max(KS) or args.samples > 10_000_000:
        raise UsageError(f"--samples must be between {max(KS)} and 10,000,000, got {args.samples}")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer, got {args.seed}")
    model, checkpoint, dataset = load_checkpoint_and_data(args)
    require_one_layer_vae(model, "the ELBO gap", args.checkpoint)
    if not model.variational or model.conditional:
        raise UsageError("the ELBO gap needs an unconditional VAE (this checkpoint is a plain autoencoder or "
                         "a conditional model)")
    if not 0 <= args.image < len(dataset.test_images):
        raise UsageError(f"--image must be between 0 and {len(dataset.test_images) - 1}, got {args.image}")
    how = checkpoint.config.get("run", {}).get("binarize", "none")
    images = fixed_binarization(dataset.test_images[args.image:args.image + 1], how, seed=TEST_DRAW_SEED)
    gap = elbo_gap(model, to_float(images, model.dtype), samples=args.samples, seed=args.seed)
    data = "grey levels" if how == "none" else f"binarized ({how})"
    caption = (f"{dataset.name} test image {args.image}, {data}; the model of {Path(args.checkpoint).name} after "
               f"{checkpoint.step:,} steps; {args.samples:,} draws, seed {args.seed}")
    draw_elbo_gap(args.out, gap, caption)
    print(f"ELBO {gap['elbo']:.3f}, L_1 {gap['bounds'][0]['bound']:.3f}, L_{gap['bounds'][-1]['k']} "
          f"{gap['bounds'][-1]['bound']:.3f}, log p(x) ~ L_{args.samples} {gap['log_p']:.3f} nats")
    print(args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
