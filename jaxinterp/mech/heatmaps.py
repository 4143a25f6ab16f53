"""Heatmap PNGs of activation-patching results, drawn with Pillow only.

`heatmap_png` draws one 2-D array: a diverging blue-white-red colour map centred at 0 with symmetric
limits (+-max |value|), one square cell per entry, tick labels, axis labels, a title and a colour bar.
NaN entries are drawn grey. `layout` exposes the geometry (cell boxes, colour bar box) so callers and
tests can find a given cell in the image.

`save_patching_heatmaps` reduces a result of `jaxinterp.mech.patching` (a NamedArray over
{layer, seq, heads, batch}, {layer, seq, head_groups, query_heads, batch} or {layer, seq, batch}) to the
standard views, layer x head and layer x position, and writes one PNG for each.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from penzai import pz
from PIL import Image, ImageDraw, ImageFont

NEGATIVE_RGB = (33, 102, 172)  # value = -limit
ZERO_RGB = (255, 255, 255)  # value = 0
POSITIVE_RGB = (178, 24, 43)  # value = +limit
NAN_RGB = (160, 160, 160)
BACKGROUND_RGB = (255, 255, 255)
TEXT_RGB = (0, 0, 0)

PAD = 6  # space between the image border, labels and the grid
TICK_GAP = 3  # space between a tick label and the grid
COLORBAR_GAP = 12  # space between the grid and the colour bar
COLORBAR_WIDTH = 12
COLORBAR_MIN_HEIGHT = 60


def _font():
    return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    x0, y0, x1, y1 = font.getbbox(text)
    return int(math.ceil(x1 - min(x0, 0))), int(math.ceil(y1 - min(y0, 0)))


def _tick_labels(ticks: Sequence | None, n: int, which: str) -> list[str]:
    if ticks is None:
        return [str(i) for i in range(n)]
    labels = [str(t) for t in ticks]
    if len(labels) != n:
        raise ValueError(f"{which} has {len(labels)} labels for {n} {which.split('_')[0]}s")
    return labels


def _tick_step(cell: int, text_height: int) -> int:
    """Label every k-th tick so labels (text_height tall across the tick direction) do not overlap."""
    return max(1, math.ceil((text_height + 1) / cell))


def _format_limit(value: float) -> str:
    return f"{value:+.3g}" if value != 0 else "0"


@dataclasses.dataclass(frozen=True)
class Layout:
    """Pixel geometry of a heatmap image; boxes are (x0, y0, x1, y1) with x1, y1 exclusive."""

    width: int
    height: int
    rows: int
    cols: int
    cell: int
    grid_left: int
    grid_top: int
    colorbar: tuple[int, int, int, int]
    row_tick_step: int
    col_tick_step: int

    @property
    def grid(self) -> tuple[int, int, int, int]:
        return (
            self.grid_left,
            self.grid_top,
            self.grid_left + self.cols * self.cell,
            self.grid_top + self.rows * self.cell,
        )

    def cell_box(self, row: int, col: int) -> tuple[int, int, int, int]:
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise IndexError(f"cell ({row}, {col}) outside a {self.rows} x {self.cols} grid")
        x0 = self.grid_left + col * self.cell
        y0 = self.grid_top + row * self.cell
        return x0, y0, x0 + self.cell, y0 + self.cell

    def cell_center(self, row: int, col: int) -> tuple[int, int]:
        x0, y0, x1, y1 = self.cell_box(row, col)
        return (x0 + x1) // 2, (y0 + y1) // 2


def layout(
    rows: int,
    cols: int,
    *,
    row_label: str = "",
    col_label: str = "",
    row_ticks: Sequence | None = None,
    col_ticks: Sequence | None = None,
    title: str = "",
    cell: int = 18,
    limit: float = 1.0,
) -> Layout:
    """Geometry of the image `heatmap_png` draws for a (rows, cols) array with the same arguments.

    `limit` is the colour-bar limit (max |value|); it only affects the width of the colour-bar labels.
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"heatmap needs at least one row and one column, got {rows} x {cols}")
    if cell < 1:
        raise ValueError(f"cell must be a positive number of pixels, got {cell}")
    font = _font()
    row_labels = _tick_labels(row_ticks, rows, "row_ticks")
    col_labels = _tick_labels(col_ticks, cols, "col_ticks")
    line_h = _text_size(font, "Ag0")[1]

    row_tick_w = max(_text_size(font, s)[0] for s in row_labels)
    col_tick_len = max(_text_size(font, s)[0] for s in col_labels)  # drawn rotated: width becomes height
    row_label_w = _text_size(font, row_label)[1] + PAD if row_label else 0  # drawn rotated
    col_label_h = _text_size(font, col_label)[1] + PAD if col_label else 0
    title_w, title_h = _text_size(font, title)
    title_h = title_h + PAD if title else 0

    grid_left = PAD + row_label_w + row_tick_w + TICK_GAP
    grid_top = PAD + title_h + line_h // 2  # half a line so the top colour-bar label fits
    grid_w, grid_h = cols * cell, rows * cell

    cb_h = max(grid_h, COLORBAR_MIN_HEIGHT)
    cb_x0 = grid_left + grid_w + COLORBAR_GAP
    colorbar = (cb_x0, grid_top, cb_x0 + COLORBAR_WIDTH, grid_top + cb_h)
    cb_label_w = max(_text_size(font, _format_limit(v))[0] for v in (limit, -limit))

    width = max(colorbar[2] + TICK_GAP + cb_label_w + PAD, PAD + title_w + PAD)
    bottom_of_grid_labels = grid_top + grid_h + TICK_GAP + col_tick_len + col_label_h
    height = max(bottom_of_grid_labels, colorbar[3] + line_h // 2) + PAD
    return Layout(
        width=int(width),
        height=int(height),
        rows=rows,
        cols=cols,
        cell=cell,
        grid_left=grid_left,
        grid_top=grid_top,
        colorbar=colorbar,
        row_tick_step=_tick_step(cell, line_h),
        col_tick_step=_tick_step(cell, line_h),
    )


def colormap(values: np.ndarray, limit: float) -> np.ndarray:
    """RGB uint8 colours (..., 3): -limit blue, 0 white, +limit red, linear in between; NaN grey."""
    values = np.asarray(values, dtype=np.float64)
    nan = np.isnan(values)
    t = np.zeros_like(values) if limit <= 0 else np.clip(np.nan_to_num(values) / limit, -1.0, 1.0)
    zero = np.asarray(ZERO_RGB, np.float64)
    end = np.where((t < 0)[..., None], np.asarray(NEGATIVE_RGB, np.float64), np.asarray(POSITIVE_RGB, np.float64))
    rgb = zero + np.abs(t)[..., None] * (end - zero)
    rgb[nan] = NAN_RGB
    return np.round(rgb).astype(np.uint8)


def _draw_rotated(image: Image.Image, text: str, font, anchor_xy: tuple[int, int], *, align_right_end: bool) -> None:
    """Draw `text` rotated 90 degrees counter-clockwise (reading bottom to top).

    anchor_xy is the (x centre, y) of the label: with align_right_end the text's end sits at y (label hangs
    below y reading upwards), otherwise the text is centred vertically on y.
    """
    w, h = _text_size(font, text)
    if w == 0:
        return
    tile = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((0, 0), text, fill=TEXT_RGB + (255,), font=font)
    tile = tile.rotate(90, expand=True)  # now h wide, w tall; text end at the top
    x = anchor_xy[0] - tile.width // 2
    y = anchor_xy[1] if align_right_end else anchor_xy[1] - tile.height // 2
    image.paste(tile, (x, y), tile)


def heatmap_png(
    values: np.ndarray,
    path,
    *,
    row_label: str,
    col_label: str,
    row_ticks: Sequence | None = None,
    col_ticks: Sequence | None = None,
    title: str = "",
    cell: int = 18,
) -> Path:
    """Write `values` (rows, cols) as a PNG heatmap at `path` and return the path.

    Diverging blue-white-red colours centred at 0 with limits +-max |value| over the finite entries;
    NaN cells grey. Row ticks default to indices, col ticks may be strings (e.g. tokens), drawn rotated.
    Use `layout` with the same arguments to find a cell's pixels.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D array (rows, cols), got shape {values.shape}")
    if values.size == 0:
        raise ValueError(f"heatmap needs a non-empty array, got shape {values.shape}")
    finite = values[np.isfinite(values)]
    limit = float(np.max(np.abs(finite))) if finite.size else 0.0
    rows, cols = values.shape
    geo = layout(
        rows,
        cols,
        row_label=row_label,
        col_label=col_label,
        row_ticks=row_ticks,
        col_ticks=col_ticks,
        title=title,
        cell=cell,
        limit=limit,
    )
    font = _font()
    image = Image.new("RGB", (geo.width, geo.height), BACKGROUND_RGB)
    draw = ImageDraw.Draw(image)

    cells = Image.fromarray(colormap(values, limit), "RGB").resize((cols * cell, rows * cell), Image.NEAREST)
    image.paste(cells, (geo.grid_left, geo.grid_top))
    gx0, gy0, gx1, gy1 = geo.grid
    draw.rectangle((gx0 - 1, gy0 - 1, gx1, gy1), outline=TEXT_RGB)

    if title:
        tw = _text_size(font, title)[0]
        draw.text(((geo.width - tw) // 2, PAD), title, fill=TEXT_RGB, font=font)

    for r, label in enumerate(_tick_labels(row_ticks, rows, "row_ticks")):
        if r % geo.row_tick_step:
            continue
        _, cy = geo.cell_center(r, 0)
        draw.text((gx0 - TICK_GAP - 1, cy), label, fill=TEXT_RGB, font=font, anchor="rm")
    for c, label in enumerate(_tick_labels(col_ticks, cols, "col_ticks")):
        if c % geo.col_tick_step:
            continue
        cx, _ = geo.cell_center(0, c)
        _draw_rotated(image, label, font, (cx, gy1 + TICK_GAP), align_right_end=True)

    if row_label:
        _draw_rotated(
            image, row_label, font, (PAD + _text_size(font, row_label)[1] // 2, (gy0 + gy1) // 2), align_right_end=False
        )
    if col_label:
        draw.text(((gx0 + gx1) // 2, geo.height - PAD), col_label, fill=TEXT_RGB, font=font, anchor="md")

    bx0, by0, bx1, by1 = geo.colorbar
    ramp = np.linspace(limit, -limit, by1 - by0) if limit > 0 else np.zeros(by1 - by0)
    bar = np.repeat(colormap(ramp, limit)[:, None, :], bx1 - bx0, axis=1)
    image.paste(Image.fromarray(bar, "RGB"), (bx0, by0))
    draw.rectangle((bx0 - 1, by0 - 1, bx1, by1), outline=TEXT_RGB)
    draw.text((bx1 + TICK_GAP, by0), _format_limit(limit), fill=TEXT_RGB, font=font, anchor="lm")
    draw.text((bx1 + TICK_GAP, by1 - 1), _format_limit(-limit), fill=TEXT_RGB, font=font, anchor="lm")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return path


def _to_numpy(effects: pz.nx.NamedArray) -> tuple[np.ndarray, list[str]]:
    if effects.positional_shape:
        raise ValueError(f"patching result must have only named axes, got positional shape {effects.positional_shape}")
    names = list(effects.named_shape)
    data = np.asarray(effects.unwrap(*names), dtype=np.float64)
    if "head_groups" in names or "query_heads" in names:
        if not ("head_groups" in names and "query_heads" in names):
            raise ValueError(f"grouped-query heads need both head_groups and query_heads axes, got {names}")
        if "heads" in names:
            raise ValueError(f"result has both heads and head_groups/query_heads axes: {names}")
        g, q = names.index("head_groups"), names.index("query_heads")
        rest = [i for i in range(len(names)) if i not in (g, q)]
        data = np.transpose(data, (*rest, g, q))  # head index = group * query_heads + q
        data = data.reshape(*data.shape[: len(rest)], -1)
        names = [names[i] for i in rest] + ["heads"]
    return data, names


def _reduce(data: np.ndarray, names: list[str], keep: tuple[str, str]) -> np.ndarray:
    """Mean over every axis not in `keep`, returned as (keep[0], keep[1])."""
    drop = tuple(i for i, n in enumerate(names) if n not in keep)
    kept = [n for n in names if n in keep]
    reduced = data.mean(axis=drop) if drop else data
    return reduced if kept == list(keep) else reduced.T


def save_patching_heatmaps(
    effects: pz.nx.NamedArray,
    out_dir,
    *,
    name: str = "patching",
    tokens: Sequence[str] | None = None,
) -> list[Path]:
    """Write the standard heatmaps of a patching result into `out_dir`; return the written paths.

    With head axes ("heads", or "head_groups" and "query_heads", flattened to one head index
    group * query_heads + q): `{name}_layer_head.png` (mean over seq, batch) and
    `{name}_layer_position.png` (mean over heads, batch). Without head axes (resid sites:
    {layer, seq, batch}) only `{name}_layer_position.png`. `tokens` label the positions.
    Any other axes (e.g. an unknown extra axis) are averaged as well, in both views; the titles
    name every averaged axis.
    """
    data, names = _to_numpy(effects)
    if "layer" not in names:
        raise ValueError(f"patching result needs a layer axis, got axes {names}")
    has_heads, has_seq = "heads" in names, "seq" in names
    if not (has_heads or has_seq):
        raise ValueError(f"patching result needs a heads or seq axis next to layer, got axes {names}")
    if tokens is not None and has_seq and len(tokens) != data.shape[names.index("seq")]:
        raise ValueError(f"{len(tokens)} tokens for a seq axis of length {data.shape[names.index('seq')]}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    views = []
    if has_heads:
        views.append(("heads", "head", "layer_head", None))
    if has_seq:
        views.append(("seq", "position", "layer_position", list(tokens) if tokens is not None else None))
    for axis, col_label, suffix, col_ticks in views:
        keep = ("layer", axis)
        averaged = [n for n in names if n not in keep]
        values = _reduce(data, names, keep)
        title = f"{name}: layer x {col_label}" + (f" (mean over {', '.join(averaged)})" if averaged else "")
        written.append(
            heatmap_png(
                values,
                out_dir / f"{name}_{suffix}.png",
                row_label="layer",
                col_label=col_label,
                col_ticks=col_ticks,
                title=title,
            )
        )
    return written
