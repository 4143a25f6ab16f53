"""One HTML report per reproduction study: each finding next to the paper's claim, figures, and the numbers.

`write_report(out, title, intro, findings, figures, numbers)` writes `<out>/index.html` (self-contained but
for the PNGs it links, which sit beside it) and `<out>/numbers.json`. A `Finding` is one point of the
paper: its claim, the paper's number, ours (mean +- spread over seeds where there are several), and whether
ours supports the claim (True / False / None = not comparable), so a reader sees agreement and
disagreement point by point. `bar_chart_png` draws grouped bars with error bars, Pillow only.
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = ((33, 102, 172), (178, 24, 43), (77, 146, 33), (230, 145, 56), (118, 42, 131))


@dataclasses.dataclass(frozen=True)
class Finding:
    claim: str
    paper: str
    ours: str
    holds: bool | None
    note: str = ""


def mean_spread(values: Sequence[float]) -> str:
    """ "0.93 +- 0.02 (n=3)": mean and standard deviation over seeds."""
    values = np.asarray(values, float)
    if values.size == 1:
        return f"{values[0]:.3f}"
    return f"{values.mean():.3f} +- {values.std():.3f} (n={values.size})"


def bar_chart_png(
    groups: dict[str, dict[str, tuple[float, float]]], path: str | Path, title: str, y_max: float = 1.0
) -> Path:
    """Grouped bars: `groups[group][series] = (mean, spread)`; one colour per series, error bar = spread."""
    font = ImageFont.load_default()
    series = list(dict.fromkeys(s for bars in groups.values() for s in bars))
    bar, gap, height, left, top, bottom = 16, 18, 180, 40, 28, 60
    width = left + len(groups) * (len(series) * bar + gap) + gap + 150
    image = Image.new("RGB", (width, top + height + bottom), "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 6), title, fill="black", font=font)
    base = top + height
    draw.line((left, top, left, base, width - 150, base), fill="black")
    for tick in np.linspace(0, y_max, 5):
        y = base - tick / y_max * height
        draw.line((left - 4, y, left, y), fill="black")
        draw.text((2, y - 6), f"{tick:.2g}", fill="black", font=font)
    x = left + gap
    for name, bars in groups.items():
        for k, s in enumerate(series):
            if s in bars and np.isfinite(bars[s][0]):  # no data (NaN): no bar
                mean, spread = bars[s]
                y = base - min(max(mean, 0.0), y_max) / y_max * height
                draw.rectangle((x + k * bar, y, x + (k + 1) * bar - 2, base), fill=PALETTE[k % len(PALETTE)])
                if spread > 0:
                    cx = x + k * bar + bar // 2 - 1
                    lo, hi = (base - (mean + d * spread) / y_max * height for d in (-1, 1))
                    draw.line((cx, lo, cx, hi), fill="black")
        draw.text((x, base + 6), name[:14], fill="black", font=font)
        x += len(series) * bar + gap
    for k, s in enumerate(series):  # legend
        draw.rectangle((width - 140, top + 14 * k, width - 130, top + 14 * k + 10), fill=PALETTE[k % len(PALETTE)])
        draw.text((width - 125, top + 14 * k - 1), s[:20], fill="black", font=font)
    path = Path(path)
    image.save(path)
    return path


def write_report(
    out: str | Path,
    title: str,
    intro: str,
    findings: Sequence[Finding],
    figures: Sequence[tuple[str, str | Path]],
    numbers: dict,
) -> Path:
    """Writes `<out>/index.html` and `<out>/numbers.json`; figures are (caption, PNG path inside `out`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "numbers.json").write_text(json.dumps(numbers, indent=1, default=_jsonable))
    marks = {True: "&#10003; agrees", False: "&#10007; differs", None: "&ndash;"}
    rows = "".join(
        f"<tr><td>{html.escape(f.claim)}</td><td>{html.escape(f.paper)}</td><td>{html.escape(f.ours)}</td>"
        f"<td>{marks[f.holds]}</td><td>{html.escape(f.note)}</td></tr>"
        for f in findings
    )
    images = "".join(
        f"<figure><img src='{html.escape(Path(p).name)}'><figcaption>{html.escape(c)}</figcaption></figure>"
        for c, p in figures
    )
    page = (
        "<!doctype html><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}td,th{border:1px solid #ccc;padding:.3em .6em;"
        "vertical-align:top}table{border-collapse:collapse}figure{display:inline-block;margin:1em}</style>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(intro)}</p>"
        "<table><tr><th>claim</th><th>paper</th><th>ours</th><th></th><th>note</th></tr>"
        f"{rows}</table>{images}<p>All numbers: <a href='numbers.json'>numbers.json</a></p>\n"
    )
    path = out / "index.html"
    path.write_text(page)
    return path


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
