"""One drawing of every concept by the offline drawer, rendered in one sandboxed batch: the quickstart's
check-up section (a few seconds) and a quick look at what the templates draw."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from jaxinterp.agent.checkup import drawer
from jaxinterp.agent.checkup.concepts import CONCEPTS
from jaxinterp.agent.checkup.render import render_batch
from jaxinterp.data.images import save_png, uint8_to_unit
from jaxinterp.errors import InputError


def gallery(out: str | Path, seed: int = 0, size: int = 96) -> tuple[str, str, list[tuple[str, Path]]]:
    """Writes `out/<group>.png` (a row of drawings per group) and returns an index section for them."""
    start = time.time()
    rng = np.random.default_rng(seed)
    names = {group: [c.name for c in concepts] for group, concepts in CONCEPTS.items()}
    programs = [drawer.draw(name, rng) for group in names.values() for name in group]
    images, errors = render_batch(programs, size=size)
    if any(errors):
        raise InputError(f"an offline drawing failed to render: {next(e for e in errors if e)}")
    figures, k = [], 0
    for group, group_names in names.items():
        row = images[k : k + len(group_names)]
        k += len(group_names)
        path = save_png(Path(out) / f"{group}.png", uint8_to_unit(np.concatenate(list(row), axis=1)))
        figures.append((f"{group}: {', '.join(group_names)}", path))
    text = (
        f"Vision check-up: one matplotlib program per concept from the offline drawer (templates with random "
        f"parameters, no model), run in the sandbox and rendered at {size} px; {time.time() - start:.1f} s. "
        "`jaxinterp checkup generate|correct` asks a language model instead; `checkup pretrain` learns features "
        "from such drawings."
    )
    return ("Vision check-up: concepts drawn as code (offline)", text, figures)
