"""The offline drawer: writes real matplotlib programs for the concepts it knows, with randomised parameters.

It stands in for the language model wherever no model is available, so `checkup generate` and `checkup
pretrain` run with no API. Every program it writes is a standalone script in the form the model is asked for
(see `llm.py`): it imports matplotlib, draws on a `fig, ax` with the unit square as data coordinates and
saves `image.png` in the current directory. All numbers are literals in the program text (position, size,
rotation, colours, counts), so two programs for the same concept differ and the program alone reproduces
its image.

Templates are written for a shape / object at `(x, y)` with size `s` (about its half-width in axes units), so
scenes are compositions of object templates and the representation-learning set can mix shapes, objects,
textures (stripes, checkerboards, dots, scribbles) and multi-shape compositions (`random_program`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from jaxinterp.agent.checkup.concepts import Concept
from jaxinterp.errors import InputError

IMAGE_FILE = "image.png"  # what every drawing program writes, in its current directory
FIGURE_INCHES = 4.0
FIGURE_DPI = 64  # 4 in x 64 dpi = 256 x 256 pixels

PALETTE = (
    "tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive",
    "tab:cyan", "black", "navy", "gold", "crimson", "teal", "darkgreen", "slategray",
)  # fmt: skip
BACKGROUNDS = ("white", "white", "white", "ivory", "lightyellow", "aliceblue", "honeydew", "lavender", "mistyrose")

Template = Callable[[np.random.Generator, float, float, float], list[str]]


def _n(v: float) -> str:
    return f"{float(v):.3f}".rstrip("0").rstrip(".") if abs(v) > 1e-9 else "0"


def _c(r: np.random.Generator) -> str:
    return repr(str(r.choice(PALETTE)))


def _fill(r: np.random.Generator) -> str:
    """Filled in a colour, or an outline of random width."""
    if r.random() < 0.6:
        return f"color={_c(r)}"
    return f"fill=False, edgecolor={_c(r)}, linewidth={_n(r.uniform(2, 6))}"


def _polygon(sides: int) -> Template:
    def draw(r, x, y, s):
        turn = r.uniform(0, 2 * np.pi / sides)
        return [f"ax.add_patch(mp.RegularPolygon(({_n(x)}, {_n(y)}), {sides}, radius={_n(s)}, "
                f"orientation={_n(turn)}, {_fill(r)}))"]  # fmt: skip

    return draw


def _circle(r, x, y, s):
    return [f"ax.add_patch(mp.Circle(({_n(x)}, {_n(y)}), {_n(s)}, {_fill(r)}))"]


def _rectangle(r, x, y, s):
    w, h = 2 * s, 2 * s / r.uniform(1.6, 2.6)
    return [f"ax.add_patch(mp.Rectangle(({_n(x - w / 2)}, {_n(y - h / 2)}), {_n(w)}, {_n(h)}, "
            f"angle={_n(r.uniform(-30, 30))}, rotation_point='center', {_fill(r)}))"]  # fmt: skip


def _ellipse(r, x, y, s):
    return [f"ax.add_patch(mp.Ellipse(({_n(x)}, {_n(y)}), {_n(2 * s)}, {_n(2 * s / r.uniform(1.5, 2.5))}, "
            f"angle={_n(r.uniform(0, 180))}, {_fill(r)}))"]  # fmt: skip


def _star(r, x, y, s):
    points = int(r.choice([5, 5, 6, 8]))
    return [
        f"t = np.linspace(0, 2 * np.pi, {2 * points + 1})[:-1] + {_n(r.uniform(0, np.pi))}",
        f"rad = np.where(np.arange({2 * points}) % 2 == 0, {_n(s)}, {_n(s * r.uniform(0.35, 0.5))})",
        f"ax.add_patch(mp.Polygon(np.c_[{_n(x)} + rad * np.cos(t), {_n(y)} + rad * np.sin(t)], {_fill(r)}))",
    ]


def _segment(r, x, y, s):
    a = r.uniform(0, np.pi)
    dx, dy = s * np.cos(a), s * np.sin(a)
    return x - dx, y - dy, x + dx, y + dy


def _line(r, x, y, s):
    x0, y0, x1, y1 = _segment(r, x, y, s)
    return [f"ax.plot([{_n(x0)}, {_n(x1)}], [{_n(y0)}, {_n(y1)}], color={_c(r)}, linewidth={_n(r.uniform(2, 8))})"]


def _dotted_line(r, x, y, s):
    x0, y0, x1, y1 = _segment(r, x, y, s)
    n = int(r.integers(6, 14))
    return [f"ax.plot(np.linspace({_n(x0)}, {_n(x1)}, {n}), np.linspace({_n(y0)}, {_n(y1)}, {n}), 'o', "
            f"color={_c(r)}, markersize={_n(r.uniform(4, 9))})"]  # fmt: skip


def _spiral(r, x, y, s):
    return [
        f"t = np.linspace(0, {_n(r.uniform(3, 6) * np.pi)}, 400)",
        f"rad = {_n(s)} * t / t.max()",
        f"ax.plot({_n(x)} + rad * np.cos(t), {_n(y)} + rad * np.sin(t), color={_c(r)}, "
        f"linewidth={_n(r.uniform(2, 5))})",
    ]


def _cross(r, x, y, s):
    c, w = _c(r), _n(r.uniform(6, 16))
    return [
        f"ax.plot([{_n(x - s)}, {_n(x + s)}], [{_n(y)}, {_n(y)}], color={c}, linewidth={w})",
        f"ax.plot([{_n(x)}, {_n(x)}], [{_n(y - s)}, {_n(y + s)}], color={c}, linewidth={w})",
    ]


def _arrow(r, x, y, s):
    x0, y0, x1, y1 = _segment(r, x, y, s)
    w = s * r.uniform(0.08, 0.15)
    return [f"ax.add_patch(mp.FancyArrow({_n(x0)}, {_n(y0)}, {_n(x1 - x0)}, {_n(y1 - y0)}, width={_n(w)}, "
            f"head_width={_n(3 * w)}, head_length={_n(3 * w)}, length_includes_head=True, color={_c(r)}))"]  # fmt: skip


def _concentric(r, x, y, s):
    n = int(r.integers(3, 7))
    return [
        f"for k in range({n}):",
        f"    ax.add_patch(mp.Circle(({_n(x)}, {_n(y)}), {_n(s)} * (k + 1) / {n}, fill=False, "
        f"edgecolor={_c(r)}, linewidth={_n(r.uniform(2, 5))}))",
    ]


def _torus(r, x, y, s):
    h = s / r.uniform(1.6, 2.4)
    return [
        f"ax.add_patch(mp.Ellipse(({_n(x)}, {_n(y)}), {_n(2 * s)}, {_n(2 * h)}, color={_c(r)}))",
        f"ax.add_patch(mp.Ellipse(({_n(x)}, {_n(y + 0.1 * h)}), {_n(0.9 * s)}, {_n(0.6 * h)}, "
        "color=fig.get_facecolor()))",
    ]


def _cube(r, x, y, s):
    a, d = 1.2 * s, 0.5 * s * r.uniform(0.7, 1.2)
    x0, y0 = x - 0.6 * s - d / 2, y - 0.6 * s - d / 2
    front = [(x0, y0), (x0 + a, y0), (x0 + a, y0 + a), (x0, y0 + a)]
    top = [(x0, y0 + a), (x0 + a, y0 + a), (x0 + a + d, y0 + a + d), (x0 + d, y0 + a + d)]
    side = [(x0 + a, y0), (x0 + a + d, y0 + d), (x0 + a + d, y0 + a + d), (x0 + a, y0 + a)]
    c = _c(r)
    out = []
    for face, alpha in ((front, 1.0), (top, 0.55), (side, 0.75)):
        pts = ", ".join(f"({_n(px)}, {_n(py)})" for px, py in face)
        out.append(f"ax.add_patch(mp.Polygon([{pts}], facecolor={c}, alpha={alpha}, edgecolor='black', linewidth=2))")
    return out


def _grid(r, x, y, s):
    n, c = int(r.integers(3, 8)), _c(r)
    return [
        f"for v in np.linspace({_n(-s)}, {_n(s)}, {n}):",
        f"    ax.plot([{_n(x)} + v, {_n(x)} + v], [{_n(y - s)}, {_n(y + s)}], color={c}, linewidth=2)",
        f"    ax.plot([{_n(x - s)}, {_n(x + s)}], [{_n(y)} + v, {_n(y)} + v], color={c}, linewidth=2)",
    ]


def _zigzag(r, x, y, s):
    n = int(r.integers(4, 10))
    return [
        f"xs = np.linspace({_n(x - s)}, {_n(x + s)}, {n + 1})",
        f"ys = {_n(y)} + {_n(s * r.uniform(0.2, 0.5))} * (-1) ** np.arange({n + 1})",
        f"ax.plot(xs, ys, color={_c(r)}, linewidth={_n(r.uniform(2, 6))})",
    ]


def _crescent(r, x, y, s):
    a = r.uniform(0, 2 * np.pi)
    off = s * r.uniform(0.3, 0.55)
    return [
        f"ax.add_patch(mp.Circle(({_n(x)}, {_n(y)}), {_n(s)}, color={_c(r)}))",
        f"ax.add_patch(mp.Circle(({_n(x + off * np.cos(a))}, {_n(y + off * np.sin(a))}), {_n(s * 0.9)}, "
        "color=fig.get_facecolor()))",
    ]


def _box(x, y, w, h, color, **extra) -> str:
    more = "".join(f", {k}={v}" for k, v in extra.items())
    return f"ax.add_patch(mp.Rectangle(({_n(x)}, {_n(y)}), {_n(w)}, {_n(h)}, color={color}{more}))"


def _house(r, x, y, s):
    wall, roof = _c(r), _c(r)
    return [
        _box(x - s, y - s, 2 * s, 1.2 * s, wall),
        f"ax.add_patch(mp.Polygon([({_n(x - 1.15 * s)}, {_n(y + 0.2 * s)}), ({_n(x + 1.15 * s)}, "
        f"{_n(y + 0.2 * s)}), ({_n(x)}, {_n(y + s * r.uniform(0.9, 1.2))})], color={roof}))",
        _box(x - 0.2 * s, y - s, 0.4 * s, 0.7 * s, "'saddlebrown'"),
        _box(x + 0.4 * s, y - 0.4 * s, 0.35 * s, 0.35 * s, "'lightblue'", edgecolor="'black'"),
    ]


def _tree(r, x, y, s):
    trunk = [_box(x - 0.12 * s, y - s, 0.24 * s, 0.9 * s, "'saddlebrown'")]
    green = repr(str(r.choice(["forestgreen", "green", "darkgreen", "olivedrab"])))
    if r.random() < 0.5:  # a pine
        return trunk + [
            f"ax.add_patch(mp.Polygon([({_n(x - 0.7 * s)}, {_n(y - 0.4 * s)}), ({_n(x + 0.7 * s)}, "
            f"{_n(y - 0.4 * s)}), ({_n(x)}, {_n(y + s)})], color={green}))"
        ]
    return trunk + [f"ax.add_patch(mp.Circle(({_n(x)}, {_n(y + 0.25 * s)}), {_n(0.65 * s)}, color={green}))"]


def _car(r, x, y, s):
    body = _c(r)
    return [
        _box(x - s, y - 0.45 * s, 2 * s, 0.55 * s, body),
        _box(x - 0.55 * s, y + 0.1 * s, 1.1 * s, 0.45 * s, body),
        _box(x - 0.45 * s, y + 0.17 * s, 0.4 * s, 0.3 * s, "'lightblue'"),
        _box(x + 0.05 * s, y + 0.17 * s, 0.4 * s, 0.3 * s, "'lightblue'"),
        f"for wx in ({_n(x - 0.55 * s)}, {_n(x + 0.55 * s)}):",
        f"    ax.add_patch(mp.Circle((wx, {_n(y - 0.45 * s)}), {_n(0.25 * s)}, color='black'))",
    ]


def _bicycle(r, x, y, s):
    c, w, rad = _c(r), _n(r.uniform(2, 4)), 0.42 * s
    lx, rx, wy = x - 0.55 * s, x + 0.55 * s, y - 0.3 * s
    px, py = x - 0.05 * s, wy  # pedal
    sx, sy, hx, hy = x - 0.2 * s, y + 0.35 * s, x + 0.4 * s, y + 0.4 * s  # seat post top, handlebar
    frame = [(lx, wy), (px, py), (sx, sy), (lx, wy), (sx, sy), (hx, hy), (px, py), (hx, hy), (rx, wy)]
    xs, ys = ", ".join(_n(p[0]) for p in frame), ", ".join(_n(p[1]) for p in frame)
    return [
        f"for wx in ({_n(lx)}, {_n(rx)}):",
        f"    ax.add_patch(mp.Circle((wx, {_n(wy)}), {_n(rad)}, fill=False, edgecolor='black', linewidth={w}))",
        f"ax.plot([{xs}], [{ys}], color={c}, linewidth={w})",
        f"ax.plot([{_n(sx - 0.12 * s)}, {_n(sx + 0.12 * s)}], [{_n(sy)}, {_n(sy)}], color='black', linewidth=4)",
        f"ax.plot([{_n(hx)}, {_n(hx + 0.1 * s)}], [{_n(hy)}, {_n(hy + 0.12 * s)}], color='black', linewidth=3)",
    ]


def _lamp(r, x, y, s):
    shade = _c(r)
    return [
        f"ax.add_patch(mp.Ellipse(({_n(x)}, {_n(y - 0.95 * s)}), {_n(0.8 * s)}, {_n(0.15 * s)}, color='dimgray'))",
        f"ax.plot([{_n(x)}, {_n(x)}], [{_n(y - 0.95 * s)}, {_n(y + 0.4 * s)}], color='dimgray', linewidth=4)",
        f"ax.add_patch(mp.Polygon([({_n(x - 0.5 * s)}, {_n(y + 0.3 * s)}), ({_n(x + 0.5 * s)}, {_n(y + 0.3 * s)}), "
        f"({_n(x + 0.25 * s)}, {_n(y + s)}), ({_n(x - 0.25 * s)}, {_n(y + s)})], color={shade}))",
    ]


def _legs(x0, x1, y0, y1, color, n=2) -> list[str]:
    return [
        f"for lx in np.linspace({_n(x0)}, {_n(x1)}, {n}):",
        f"    ax.plot([lx, lx], [{_n(y0)}, {_n(y1)}], color={color}, linewidth=5)",
    ]


def _table(r, x, y, s):
    c = repr(str(r.choice(["saddlebrown", "peru", "sienna", "black", "slategray"])))
    return [_box(x - s, y, 2 * s, 0.15 * s, c), *_legs(x - 0.85 * s, x + 0.85 * s, y, y - 0.9 * s, c)]


def _chair(r, x, y, s):
    c = _c(r)
    return [
        _box(x - 0.5 * s, y - 0.1 * s, s, 0.15 * s, c),
        _box(x - 0.5 * s, y - 0.1 * s, 0.13 * s, s, c),
        *_legs(x - 0.45 * s, x + 0.45 * s, y - 0.1 * s, y - 0.9 * s, c),
    ]


def _flower(r, x, y, s):
    n = int(r.integers(5, 9))
    return [
        f"ax.plot([{_n(x)}, {_n(x)}], [{_n(y - s)}, {_n(y + 0.3 * s)}], color='green', linewidth=4)",
        f"t = np.linspace(0, 2 * np.pi, {n + 1})[:-1]",
        "for a in t:",
        f"    ax.add_patch(mp.Circle(({_n(x)} + {_n(0.3 * s)} * np.cos(a), {_n(y + 0.3 * s)} + {_n(0.3 * s)} * "
        f"np.sin(a)), {_n(0.18 * s)}, color={_c(r)}))",
        f"ax.add_patch(mp.Circle(({_n(x)}, {_n(y + 0.3 * s)}), {_n(0.15 * s)}, color='gold'))",
    ]


def _sun(r, x, y, s):
    n = int(r.integers(8, 16))
    return [
        f"ax.add_patch(mp.Circle(({_n(x)}, {_n(y)}), {_n(0.55 * s)}, color='gold'))",
        f"for a in np.linspace(0, 2 * np.pi, {n + 1})[:-1]:",
        f"    ax.plot([{_n(x)} + {_n(0.65 * s)} * np.cos(a), {_n(x)} + {_n(s)} * np.cos(a)], "
        f"[{_n(y)} + {_n(0.65 * s)} * np.sin(a), {_n(y)} + {_n(s)} * np.sin(a)], color='orange', linewidth=3)",
    ]


def _boat(r, x, y, s):
    return [
        f"ax.add_patch(mp.Polygon([({_n(x - s)}, {_n(y - 0.3 * s)}), ({_n(x + s)}, {_n(y - 0.3 * s)}), "
        f"({_n(x + 0.7 * s)}, {_n(y - 0.7 * s)}), ({_n(x - 0.7 * s)}, {_n(y - 0.7 * s)})], color={_c(r)}))",
        f"ax.plot([{_n(x)}, {_n(x)}], [{_n(y - 0.3 * s)}, {_n(y + s)}], color='black', linewidth=3)",
        f"ax.add_patch(mp.Polygon([({_n(x + 0.03 * s)}, {_n(y - 0.2 * s)}), ({_n(x + 0.03 * s)}, {_n(y + 0.95 * s)}),"
        f" ({_n(x + 0.7 * s)}, {_n(y - 0.2 * s)})], color={_c(r)}))",
    ]


def _cup(r, x, y, s):
    c = _c(r)
    return [
        f"ax.add_patch(mp.Polygon([({_n(x - 0.5 * s)}, {_n(y + 0.5 * s)}), ({_n(x + 0.5 * s)}, {_n(y + 0.5 * s)}), "
        f"({_n(x + 0.4 * s)}, {_n(y - 0.6 * s)}), ({_n(x - 0.4 * s)}, {_n(y - 0.6 * s)})], color={c}))",
        f"ax.add_patch(mp.Arc(({_n(x + 0.5 * s)}, {_n(y)}), {_n(0.5 * s)}, {_n(0.6 * s)}, theta1=-90, theta2=90, "
        f"color={c}, linewidth=5))",
    ]


def _clock(r, x, y, s):
    h, m = r.uniform(0, 2 * np.pi), r.uniform(0, 2 * np.pi)
    return [
        f"ax.add_patch(mp.Circle(({_n(x)}, {_n(y)}), {_n(s)}, facecolor='white', edgecolor={_c(r)}, linewidth=5))",
        "for a in np.linspace(0, 2 * np.pi, 13)[:-1]:",
        f"    ax.plot([{_n(x)} + {_n(0.8 * s)} * np.cos(a), {_n(x)} + {_n(0.92 * s)} * np.cos(a)], "
        f"[{_n(y)} + {_n(0.8 * s)} * np.sin(a), {_n(y)} + {_n(0.92 * s)} * np.sin(a)], color='black', linewidth=2)",
        f"ax.plot([{_n(x)}, {_n(x + 0.45 * s * np.cos(h))}], [{_n(y)}, {_n(y + 0.45 * s * np.sin(h))}], "
        "color='black', linewidth=4)",
        f"ax.plot([{_n(x)}, {_n(x + 0.75 * s * np.cos(m))}], [{_n(y)}, {_n(y + 0.75 * s * np.sin(m))}], "
        "color='black', linewidth=2)",
    ]


def _ladder(r, x, y, s):
    c, n = _c(r), int(r.integers(4, 8))
    return [
        f"for rx in ({_n(x - 0.3 * s)}, {_n(x + 0.3 * s)}):",
        f"    ax.plot([rx, rx], [{_n(y - s)}, {_n(y + s)}], color={c}, linewidth=5)",
        f"for ry in np.linspace({_n(y - 0.8 * s)}, {_n(y + 0.8 * s)}, {n}):",
        f"    ax.plot([{_n(x - 0.3 * s)}, {_n(x + 0.3 * s)}], [ry, ry], color={c}, linewidth=4)",
    ]


def _dresser(r, x, y, s):
    n = int(r.integers(2, 5))
    return [
        _box(x - 0.8 * s, y - s, 1.6 * s, 1.8 * s, repr(str(r.choice(["saddlebrown", "peru", "sienna", "tan"])))),
        f"for k in range({n}):",
        f"    dy = {_n(y - 0.9 * s)} + k * {_n(1.6 * s / n)}",
        f"    ax.add_patch(mp.Rectangle(({_n(x - 0.7 * s)}, dy), {_n(1.4 * s)}, {_n(1.6 * s / n * 0.85)}, "
        "fill=False, edgecolor='black', linewidth=2))",
        f"    ax.add_patch(mp.Circle(({_n(x)}, dy + {_n(0.8 * s / n * 0.85)}), {_n(0.05 * s)}, color='black'))",
    ]


def _bird(r, x, y, s):
    c = _c(r)
    return [
        f"ax.add_patch(mp.Ellipse(({_n(x)}, {_n(y)}), {_n(1.2 * s)}, {_n(0.7 * s)}, color={c}))",
        f"ax.add_patch(mp.Circle(({_n(x + 0.6 * s)}, {_n(y + 0.35 * s)}), {_n(0.28 * s)}, color={c}))",
        f"ax.add_patch(mp.Polygon([({_n(x + 0.85 * s)}, {_n(y + 0.42 * s)}), ({_n(x + 1.1 * s)}, {_n(y + 0.32 * s)}),"
        f" ({_n(x + 0.85 * s)}, {_n(y + 0.25 * s)})], color='orange'))",
        f"ax.add_patch(mp.Polygon([({_n(x - 0.5 * s)}, {_n(y)}), ({_n(x - s)}, {_n(y + 0.3 * s)}), "
        f"({_n(x - s)}, {_n(y - 0.2 * s)})], color={c}))",
        f"ax.add_patch(mp.Circle(({_n(x + 0.68 * s)}, {_n(y + 0.42 * s)}), {_n(0.05 * s)}, color='black'))",
    ]


SHAPE_TEMPLATES: dict[str, Template] = {
    "circle": _circle, "square": _polygon(4), "triangle": _polygon(3), "rectangle": _rectangle,
    "pentagon": _polygon(5), "hexagon": _polygon(6), "octagon": _polygon(8), "star": _star, "ellipse": _ellipse,
    "line": _line, "dotted_line": _dotted_line, "spiral": _spiral, "cross": _cross, "arrow": _arrow,
    "concentric_circles": _concentric, "torus": _torus, "cube": _cube, "grid": _grid, "zigzag": _zigzag,
    "crescent": _crescent,
}  # fmt: skip
OBJECT_TEMPLATES: dict[str, Template] = {
    "house": _house, "tree": _tree, "car": _car, "bicycle": _bicycle, "lamp": _lamp, "table": _table,
    "chair": _chair, "flower": _flower, "sun": _sun, "boat": _boat, "cup": _cup, "clock": _clock,
    "ladder": _ladder, "dresser": _dresser, "bird": _bird,
}  # fmt: skip


def _ground(color: str, top: float) -> str:
    return _box(0, 0, 1, top, repr(color))


def _row(r, template, n, y, s, jitter=0.02) -> list[str]:
    out = []
    for x in np.linspace(0.5 / n, 1 - 0.5 / n, n):
        out += template(r, x + r.uniform(-jitter, jitter), y, s)
    return out


SCENE_TEMPLATES: dict[str, Callable[[np.random.Generator], list[str]]] = {
    "row_of_bicycles": lambda r: _row(r, _bicycle, int(r.integers(3, 5)), r.uniform(0.35, 0.6), 0.1),
    "house_next_to_a_tree": lambda r: [_ground("yellowgreen", 0.2), *_house(r, 0.35, 0.45, 0.22),
                                       *_tree(r, 0.78, 0.45, 0.22)],
    "boat_on_the_sea_under_the_sun": lambda r: [_ground("royalblue", r.uniform(0.3, 0.45)),
                                                *_boat(r, r.uniform(0.3, 0.6), 0.45, 0.2),
                                                *_sun(r, r.uniform(0.65, 0.85), 0.8, 0.13)],
    "lamp_standing_beside_a_table": lambda r: [*_lamp(r, 0.22, 0.45, 0.25), *_table(r, 0.65, 0.45, 0.25)],
    "street_with_two_cars": lambda r: [_ground("dimgray", 0.45), *_row(r, _car, 2, 0.3, 0.18, 0.05)],
    "garden_with_flowers": lambda r: [_ground("yellowgreen", 0.25),
                                      *_row(r, _flower, int(r.integers(3, 7)), 0.35, 0.12, 0.03)],
    "forest_of_trees": lambda r: [_ground("darkolivegreen", 0.2),
                                  *_row(r, _tree, int(r.integers(4, 8)), 0.35, 0.14, 0.03)],
    "clock_above_a_dresser": lambda r: [*_clock(r, 0.5, 0.78, 0.14), *_dresser(r, 0.5, 0.32, 0.25)],
}  # fmt: skip

KNOWN = {**{k: "shapes" for k in SHAPE_TEMPLATES}, **{k: "objects" for k in OBJECT_TEMPLATES},
         **{k: "scenes" for k in SCENE_TEMPLATES}}  # fmt: skip


def program(body: list[str], background: str = "white") -> str:
    """A complete drawing program: header (figure on the unit square, axes off), `body`, save `image.png`."""
    head = [
        "import matplotlib",
        "matplotlib.use('Agg')",
        "import matplotlib.pyplot as plt",
        "import matplotlib.patches as mp",
        "import numpy as np",
        "",
        f"fig, ax = plt.subplots(figsize=({FIGURE_INCHES}, {FIGURE_INCHES}))",
        f"fig.patch.set_facecolor({background!r})",
        "ax.set_position([0, 0, 1, 1])",
        "ax.set_xlim(0, 1)",
        "ax.set_ylim(0, 1)",
        "ax.set_aspect('equal')",
        "ax.axis('off')",
        "",
    ]
    tail = ["", f"fig.savefig({IMAGE_FILE!r}, dpi={FIGURE_DPI}, facecolor=fig.get_facecolor())"]
    return "\n".join(head + body + tail) + "\n"


def _placement(r: np.random.Generator, small: float = 0.18, large: float = 0.36) -> tuple[float, float, float]:
    s = r.uniform(small, large)
    return r.uniform(s, 1 - s), r.uniform(s, 1 - s), s


def body(concept: Concept | str, rng: np.random.Generator) -> list[str]:
    """The drawing statements for `concept` (a `Concept` or its name), without the program's head and tail.

    Raises:
        InputError: the offline drawer has no template for this concept.
    """
    name = concept if isinstance(concept, str) else concept.name
    if name in SCENE_TEMPLATES:
        return SCENE_TEMPLATES[name](rng)
    template = SHAPE_TEMPLATES.get(name) or OBJECT_TEMPLATES.get(name)
    if template is None:
        raise InputError(f"the offline drawer has no template for {name!r}; use an LLM drawer (--drawer)")
    return template(rng, *_placement(rng))


def draw(concept: Concept | str, rng: np.random.Generator) -> str:
    """A matplotlib program that draws `concept` (a `Concept` or its name), parameters drawn from `rng`."""
    background = str(rng.choice(BACKGROUNDS))
    return program(body(concept, rng), background)


def statements(lines: list[str]) -> list[list[str]]:
    """`lines` grouped into top-level statements (an indented line belongs to the statement above it)."""
    out: list[list[str]] = []
    for line in lines:
        if line.startswith((" ", "\t")) and out:
            out[-1].append(line)
        else:
            out.append([line])
    return out


def _texture(r: np.random.Generator) -> list[str]:
    kind = r.integers(4)
    c1, c2 = _c(r), _c(r)
    if kind == 0:  # stripes at an angle
        n, a = int(r.integers(4, 14)), r.uniform(0, np.pi)
        return [
            f"for k in np.linspace(-1.5, 1.5, {2 * n}):",
            f"    ax.plot([0.5 + k * {_n(np.cos(a))} - 2 * {_n(np.sin(a))}, 0.5 + k * {_n(np.cos(a))} + 2 * "
            f"{_n(np.sin(a))}], [0.5 + k * {_n(np.sin(a))} + 2 * {_n(np.cos(a))}, 0.5 + k * {_n(np.sin(a))} - 2 * "
            f"{_n(np.cos(a))}], color={c1}, linewidth={_n(r.uniform(2, 10))})",
        ]
    if kind == 1:  # checkerboard
        n = int(r.integers(3, 9))
        return [
            f"for i in range({n}):",
            f"    for j in range({n}):",
            f"        ax.add_patch(mp.Rectangle((i / {n}, j / {n}), 1 / {n}, 1 / {n}, "
            f"color={c1} if (i + j) % 2 else {c2}))",
        ]
    if kind == 2:  # dots
        n, seed = int(r.integers(10, 60)), int(r.integers(1 << 30))
        return [
            f"pts = np.random.default_rng({seed}).random(({n}, 2))",
            f"ax.scatter(pts[:, 0], pts[:, 1], s={_n(r.uniform(20, 200))}, color={c1})",
        ]
    n, seed = int(r.integers(3, 12)), int(r.integers(1 << 30))  # scribbles: random polylines
    return [
        f"walk = np.random.default_rng({seed})",
        f"for _ in range({n}):",
        "    pts = np.cumsum(walk.normal(0, 0.08, (8, 2)), axis=0) + walk.random(2)",
        f"    ax.plot(pts[:, 0], pts[:, 1], color=walk.choice([{c1}, {c2}]), linewidth={_n(r.uniform(1, 5))})",
    ]


def random_program(rng: np.random.Generator) -> tuple[str, str]:
    """One random drawing program for the representation-learning set, and its kind.

    Kinds (equal odds): a shape, an object, a scene, a texture, a composition of 2-5 shapes / objects.
    """
    kind = ["shape", "object", "scene", "texture", "composition"][rng.integers(5)]
    background = str(rng.choice(BACKGROUNDS))
    if kind == "shape":
        body = SHAPE_TEMPLATES[str(rng.choice(list(SHAPE_TEMPLATES)))](rng, *_placement(rng))
    elif kind == "object":
        body = OBJECT_TEMPLATES[str(rng.choice(list(OBJECT_TEMPLATES)))](rng, *_placement(rng))
    elif kind == "scene":
        body = SCENE_TEMPLATES[str(rng.choice(list(SCENE_TEMPLATES)))](rng)
    elif kind == "texture":
        body = _texture(rng)
    else:
        body = []
        pool = {**SHAPE_TEMPLATES, **OBJECT_TEMPLATES}
        for _ in range(int(rng.integers(2, 6))):
            body += pool[str(rng.choice(list(pool)))](rng, *_placement(rng, 0.08, 0.2))
    return program(body, background), kind
