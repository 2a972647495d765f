"""The computation graph, drawn with Pillow: ``python -m numpyvae.explain graph``.

Forward edges are black, backward edges red beside them, labelled with the gradient they carry; the nodes
where gradients from two paths add up carry a "+" badge: h (read by both heads) and mu and sigma (each
reached by dz through z = mu + sigma * eps and by the KL). ``--worked`` writes the same graph with the numbers
of ``python -m numpyvae.explain worked`` at every node. The pictures in docs/images are redrawn with

    python -m numpyvae.explain graph --out docs/images/graph.png
    python -m numpyvae.explain graph --worked --out docs/images/graph_worked.png
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from dataclasses import dataclass

from PIL import Image, ImageDraw

from ...cli import Parser, run_command
from ...errors import UsageError
from ...formats.atomic import check_file_destination, write_bytes_atomic
from ...formats.png import font

BLACK, RED, GREY, ORANGE, FILL = (0, 0, 0), (200, 30, 30), (110, 110, 110), (230, 140, 0), (242, 246, 252)
SIZE = (1700, 860)


@dataclass
class Node:
    name: str
    lines: list[str]
    centre: tuple[int, int]
    adds: bool = False  # gradients from two paths add up here


NODES = [
    Node("x", ["x", "images (B, P)"], (100, 400)),
    Node("trunk", ["encoder trunk", "Dense, ELU, dropout,", "Dense, tanh, dropout"], (290, 400)),
    Node("h", ["h", "trunk output"], (460, 400), adds=True),
    Node("mu", ["mu", "= h W_mu + b_mu"], (700, 250), adds=True),
    Node("a_sigma", ["a_sigma", "= h W_sigma + b_sigma"], (600, 590)),
    Node("sigma", ["sigma", "= 1e-6 + softplus(a_sigma)"], (990, 590), adds=True),
    Node("eps", ["eps ~ N(0, I)", "(held fixed)"], (1150, 730)),
    Node("z", ["z", "= mu + sigma * eps"], (1150, 400)),
    Node("decoder", ["decoder", "Dense, tanh, dropout,", "Dense, ELU, dropout, Dense"], (1350, 400)),
    Node("logits", ["logits", "xhat = sigmoid(logits)"], (1580, 400)),
    Node("loglik", ["log p(x | z)", "= sum x log xhat", "+ (1 - x) log(1 - xhat)"], (1580, 200)),
    Node("kl", ["KL(q(z|x) || p(z))", "= 0.5 sum (sigma^2 + mu^2", "- log(1e-8 + sigma^2) - 1)"], (900, 105)),
    Node("loss", ["L = (1/B) sum_b", "(KL_b - log p(x_b | z_b))"], (1330, 90)),
]

# (from, to, the gradient the backward edge carries back, where along the edge its label sits)
EDGES = [
    ("x", "trunk", "", 0.5), ("trunk", "h", "dh", 0.5), ("h", "mu", "dmu W_mu^T", 0.5),
    ("h", "a_sigma", "da_sigma W_sigma^T", 0.5), ("a_sigma", "sigma", "dsigma * sigmoid(a_sigma)", 0.5),
    ("mu", "z", "dz", 0.8), ("sigma", "z", "dz * eps", 0.5), ("eps", "z", "", 0.5), ("z", "decoder", "dz", 0.5),
    ("decoder", "logits", "dlogits", 0.5), ("logits", "loglik", "-(x - xhat) / B", 0.5),
    ("loglik", "loss", "-1/B", 0.5), ("mu", "kl", "mu / B", 0.5),
    ("sigma", "kl", "(sigma - sigma/(1e-8 + sigma^2)) / B", 0.25), ("kl", "loss", "1/B", 0.5),
]


def _box(draw: ImageDraw.ImageDraw, node: Node, text_font) -> tuple[float, float]:
    """Draw the node's box and text; returns its half width and half height."""
    widths = [draw.textlength(line, font=text_font) for line in node.lines]
    half_w, half_h = max(widths) / 2 + 12, 10 * len(node.lines) + 8
    x, y = node.centre
    outline = ORANGE if node.adds else BLACK
    draw.rounded_rectangle([x - half_w, y - half_h, x + half_w, y + half_h], radius=8, fill=FILL, outline=outline,
                           width=3 if node.adds else 1)
    for index, line in enumerate(node.lines):
        draw.text((x, y - half_h + 8 + 20 * index + 10), line, fill=BLACK if index == 0 else GREY, font=text_font,
                  anchor="mm")
    if node.adds:
        bx, by = x + half_w, y - half_h
        draw.ellipse([bx - 12, by - 12, bx + 12, by + 12], fill=ORANGE)
        draw.text((bx, by), "+", fill="white", font=font(20), anchor="mm")
    return half_w, half_h


def _edge_point(centre, half, direction) -> tuple[float, float]:
    """Where a ray from the box's centre in ``direction`` leaves the box."""
    (x, y), (half_w, half_h), (dx, dy) = centre, half, direction
    t = min(half_w / abs(dx) if dx else math.inf, half_h / abs(dy) if dy else math.inf)
    return x + dx * t, y + dy * t


def _arrow(draw, start, end, colour, width=2) -> None:
    draw.line([start, end], fill=colour, width=width)
    angle = math.atan2(end[1] - start[1], end[0] - start[0])
    for side in (-0.45, 0.45):
        draw.line([end, (end[0] - 12 * math.cos(angle + side), end[1] - 12 * math.sin(angle + side))], fill=colour,
                  width=width)


def draw_graph(path, values: dict[str, list[str]] | None = None, title: str | None = None,
               lines: dict[str, list[str]] | None = None) -> None:
    """Draw the graph into ``path`` (PNG); ``values`` adds lines of numbers to the named nodes, ``lines``
    replaces a node's own text."""
    image = Image.new("RGB", SIZE, "white")
    draw = ImageDraw.Draw(image)
    text_font, label_font = font(15), font(13)
    nodes = {node.name: Node(node.name, (lines or {}).get(node.name, node.lines) + (values or {}).get(node.name, []),
                             node.centre, node.adds) for node in NODES}
    halves = {name: _box(draw, node, text_font) for name, node in nodes.items()}
    for source, target, label, where in EDGES:
        a, b = nodes[source].centre, nodes[target].centre
        length = math.dist(a, b)
        direction = ((b[0] - a[0]) / length, (b[1] - a[1]) / length)
        start = _edge_point(a, halves[source], direction)
        end = _edge_point(b, halves[target], (-direction[0], -direction[1]))
        normal = (-direction[1] * 6, direction[0] * 6)
        _arrow(draw, (start[0] - normal[0], start[1] - normal[1]), (end[0] - normal[0], end[1] - normal[1]), BLACK)
        if label:
            _arrow(draw, (end[0] + normal[0], end[1] + normal[1]), (start[0] + normal[0], start[1] + normal[1]), RED)
            middle = (start[0] + (end[0] - start[0]) * where + normal[0] * 3.5,
                      start[1] + (end[1] - start[1]) * where + normal[1] * 3.5)
            width = draw.textlength(label, font=label_font)
            draw.rectangle([middle[0] - width / 2 - 2, middle[1] - 8, middle[0] + width / 2 + 2, middle[1] + 8],
                           fill="white")
            draw.text(middle, label, fill=RED, font=label_font, anchor="mm")
    heading = title or "The VAE's computation graph: forward in black, backward in red (each edge's gradient)"
    draw.text((20, 20), heading, fill=BLACK, font=font(18))
    draw.text((20, SIZE[1] - 52), "+  gradients from two paths add up: at h (both heads read it, dh = dmu W_mu^T + "
              "da_sigma W_sigma^T) and at mu and sigma (dz through z = mu + sigma eps, plus the KL's own gradient)",
              fill=ORANGE, font=text_font)
    draw.text((20, SIZE[1] - 28), "dN = dL/dN.  B images of P pixels; x also enters log p(x | z) as the target; "
              "drawn by numpyvae/explain/graph.py", fill=GREY, font=text_font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


WORKED_LINES = {"x": ["x", "one image, 2 pixels"], "trunk": ["encoder trunk", "Dense 1, tanh"],
                "decoder": ["decoder", "Dense 1, tanh, Dense 2"]}


def worked_values() -> dict[str, str]:
    """The value and the gradient of each node of the worked example, one line each."""
    from .worked import numbers, worked_example
    traced, loss, rows = worked_example()
    gradients = {stage.name: stage.gradient for stage, _ in rows}
    v = traced.values
    out = {name: [f"value {numbers(v[name])}", f"d: {numbers(gradients[name])}"]
           for name in ("h", "mu", "a_sigma", "sigma", "z", "logits")}
    out["x"] = [f"value {numbers(traced.x)}"]
    out["eps"] = [f"value {numbers(traced.eps)}"]
    out["trunk"] = [f"enc.a1 {numbers(v['enc.a1'])}, d: {numbers(gradients['enc.a1'])}"]
    out["decoder"] = [f"dec.a1 {numbers(v['dec.a1'])}, d: {numbers(gradients['dec.a1'])}"]
    model = traced.model
    out["loglik"] = [f"value {model.reconstruction.forward(v['logits'], traced.x).item():.4f}"]
    out["kl"] = [f"value {model.kl.forward(v['mu'], v['sigma']).item():.4f}"]
    out["loss"] = [f"value {loss:.4f}"]
    return out


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.explain graph",
                    description="Draw the VAE's computation graph, forward and backward, as a PNG.")
    parser.add_argument("--out", default="graph.png", help="the PNG to write")
    parser.add_argument("--worked", action="store_true",
                        help="write the worked example's numbers (value and gradient) at every node")
    return parser


def graph_command(args: argparse.Namespace) -> int:
    if not args.out.lower().endswith(".png"):
        raise UsageError(f"--out must name a .png file, got {args.out}")
    title = ("The worked example (python -m numpyvae.explain worked): each node's value and gradient d, B = 1"
             if args.worked else None)
    check_file_destination(args.out, "--out")
    draw_graph(args.out, worked_values() if args.worked else None, title, WORKED_LINES if args.worked else None)
    print(args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(graph_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
