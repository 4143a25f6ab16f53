"""A self-contained `index.html` that shows a run's PNG/GIF results, section by section."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

Figure = tuple[str, str | os.PathLike]  # (caption, image path)


def write_index(out_dir: str | Path, title: str, sections: Sequence[tuple[str, str, Sequence[Figure]]]) -> Path:
    """Writes `out_dir/index.html`; each section is (heading, one-paragraph text, figures).

    Image paths are written relative to `out_dir`, so the folder can be moved or zipped.
    """
    out_dir = Path(out_dir)
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "figure{display:inline-block;margin:.5em;text-align:center;vertical-align:top}"
        "img{image-rendering:pixelated;max-width:360px;border:1px solid #ccc}"
        "figcaption{font-size:.85em;color:#444}</style>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for heading, text, figures in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2><p>{html.escape(text)}</p>")
        for caption, path in figures:
            rel = os.path.relpath(Path(path), out_dir)
            parts.append(
                f"<figure><img src='{html.escape(rel)}' alt='{html.escape(caption)}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    out_dir.mkdir(parents=True, exist_ok=True)
    index = out_dir / "index.html"
    index.write_text("\n".join(parts) + "\n")
    return index
