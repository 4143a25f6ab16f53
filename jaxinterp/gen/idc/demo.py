"""IDC's part of `jaxinterp quickstart`: a tiny pyramid trained on the visible part of a built-in photo
with a synthetic hole (no download), then diverse completions of the hole with the weight-free metrics.

The `tiny` preset at a 48 px finest level (2 scales, 8-channel nets; the coarsest one pre-filled by
the Deep-Image-Prior net, the finest one masked) with `QUICKSTART_ITERATIONS` per scale keeps it under a
minute on 2 CPU cores. The masked scale trains at SinGAN's 5e-4 instead of upstream's 5e-5, which
needs thousands of iterations. Completions are crude at this size (the paper: 256 px, 3000 iterations
per masked scale: `jaxinterp idc complete IMAGE MASK --out DIR`). Rerunning reuses the trained model.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from jaxinterp.data.images import load_rgb
from jaxinterp.gen.idc import store
from jaxinterp.gen.idc.cli import write_completions
from jaxinterp.gen.idc.config import PRESETS, IDCConfig
from jaxinterp.gen.idc.train import train

QUICKSTART_ITERATIONS = 60
DIP_ITERATIONS = 150  # the tiny preset's 6 leave the pre-fill noise-coloured
NUM_COMPLETIONS = 6
SOURCE = "builtin:chelsea"
HOLE = (0.375, 0.625, 0.25, 0.45)  # top, bottom, left, right as fractions of the image: 5% of it


def write_hole_mask(image: str, path: Path, hole: tuple[float, float, float, float] = HOLE) -> Path:
    """A mask PNG of `image`'s size, white inside the `hole` rectangle (fractions of height and width)."""
    h, w = load_rgb(image).shape[:2]
    mask = np.zeros((h, w), np.uint8)
    mask[int(hole[0] * h) : int(hole[1] * h), int(hole[2] * w) : int(hole[3] * w)] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)
    return path


def demo_config(iterations: int) -> IDCConfig:
    """The tiny preset at 48 px, `iterations` on every scale at SinGAN's rate, a 32-channel pre-fill."""
    tiny = PRESETS["tiny"]
    return tiny.replace(
        max_size=48,
        niter=iterations,
        niter_masked=iterations,
        lr_masked=tiny.lr_g,
        dip_iters=DIP_ITERATIONS,
        dip_channels=32,
        iters_per_call=10,
        checkpoint_every=iterations,
    )


def quickstart_section(out: Path, iterations: int = QUICKSTART_ITERATIONS) -> tuple[str, str, list]:
    """Trains (or reuses) the demo model under `out`, completes its hole and returns an index section
    (title, text, figures)."""
    start = time.time()
    cfg = demo_config(iterations)
    run_dir = out / "model"
    mask = write_hole_mask(SOURCE, out / "mask.png", HOLE)
    train(SOURCE, str(mask), run_dir, cfg, resume=(run_dir / "run.json").exists(), show_progress=False)
    results = out / "results"
    _, metrics = write_completions(run_dir, results, NUM_COMPLETIONS, seed=0)
    figures = [("input (hole in white) and completions", results / "contact_sheet.png")]
    if (run_dir / "prefill.png").is_file():
        figures.append(("Deep-Image-Prior pre-fill of the coarse scale", run_dir / "prefill.png"))
    levels = " and ".join(f"{h}x{w}" for h, w in store.read_run_json(run_dir)[1].shapes)
    text = (
        f"IDC (tiny preset, {iterations} iterations per scale at {levels} px) trained on the visible part of {SOURCE} "
        f"with a {100 * metrics['hole_fraction']:.0f}% hole; {NUM_COMPLETIONS} completions. Hole diversity "
        f"{metrics['hole_diversity']:.2f} (per-pixel std across completions / std of the visible pixels; 0 = "
        f"identical); patch distance to the nearest visible patch {metrics['hole_patch_distance']:.3f} (the "
        f"photo's own hole {metrics.get('original_patch_distance', float('nan')):.3f}, a flat fill "
        f"{metrics['flat_fill_patch_distance']:.3f}); {time.time() - start:.0f} s on {jax.devices()[0].platform}."
    )
    return ("IDC: diverse completions of a hole", text, figures)
