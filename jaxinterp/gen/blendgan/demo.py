"""BlendGAN's part of `jaxinterp quickstart`: one tiny pyramid trained on two built-in photos (no
download), then the three applications as PNGs: a morph from one image to the other, a left|right
meld and structure-texture fusion both ways, with the fusion's texture and structure scores
(`metrics.py`).

The `tiny` preset (2 scales up to 24x36 px, 8-16 channels, 40 iterations per scale) keeps it under
about a minute on 2 CPU cores (59 s measured from scratch, mostly XLA compilation); the images are
crude and the fusion is weak on so shallow a pyramid (the `fusion` preset's 4 scales fuse visibly:
`jaxinterp blendgan train builtin:coffee builtin:chelsea --preset fusion --out DIR`, 8-10 min).
Rerunning reuses the trained model.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import numpy as np

from jaxinterp.data.images import save_png
from jaxinterp.gen.blendgan import apps, store
from jaxinterp.gen.blendgan.config import PRESETS
from jaxinterp.gen.blendgan.identity import split_mask
from jaxinterp.gen.blendgan.metrics import fusion_scores
from jaxinterp.gen.blendgan.train import train

SOURCES = ("builtin:coffee", "builtin:chelsea")
MORPH_FRAMES = 5


def _row(images) -> np.ndarray:
    return np.concatenate([np.asarray(im) for im in images], axis=1)


def quickstart_section(out: Path) -> tuple[str, str, list]:
    """Trains (or reuses) the demo model under `out` and returns an index section (title, text, figures)."""
    start = time.time()
    cfg = PRESETS["tiny"]
    run_dir = Path(out) / "model"
    train(SOURCES, run_dir, cfg, resume=(run_dir / "run.json").exists(), show_progress=False)
    model = store.load_trained(run_dir)
    key = jax.random.PRNGKey(0)
    res = Path(out) / "results"
    names = [s.removeprefix("builtin:") for s in SOURCES]
    switch = model.geometry.num_scales - 1
    fused = [np.asarray(apps.fuse(model, s, 1 - s, switch, key)) for s in (0, 1)]
    meld, _ = apps.meld(model, split_mask("left-right", model.geometry.finest_hw), 0, 1, key)
    figures = [
        (f"training images ({names[0]} | {names[1]})", save_png(res / "reals.png", _row(model.reals[-1]))),
        ("their reconstructions", save_png(res / "reconstructions.png", _row(apps.reconstructions(model)))),
        (
            f"morph {names[0]} -> {names[1]} ({MORPH_FRAMES} frames)",
            save_png(res / "morph.png", _row(apps.morph(model, 0, 1, MORPH_FRAMES, key))),
        ),
        (f"meld: {names[0]} left, {names[1]} right", save_png(res / "meld.png", np.asarray(meld))),
        *(
            (
                f"fuse: {names[s]}'s structure, {names[1 - s]}'s texture (scales {switch}+)",
                save_png(res / f"fuse_{names[s]}_{names[1 - s]}.png", fused[s]),
            )
            for s in (0, 1)
        ),
    ]
    reals = model.reals[-1]
    scores = fusion_scores(fused[0][None], reals[0], reals[1], key)
    text = (
        f"BlendGAN (tiny preset, {cfg.niter} iterations per scale, pyramid {model.geometry.shapes}) trained on "
        f"{' and '.join(SOURCES)} at once; every result is the one model under another identity map. Fusion "
        f"({names[0]}'s structure, {names[1]}'s texture): fine-scale patch SWD to {names[1]} "
        f"{scores['swd_fine_to_texture']:.0f} vs to {names[0]} {scores['swd_fine_to_structure']:.0f}, low-pass MSE "
        f"to {names[0]} {scores['lowpass_mse_to_structure']:.3f} vs to {names[1]} "
        f"{scores['lowpass_mse_to_texture']:.3f}: a 2-scale pyramid keeps the structure image's texture (train "
        f"with --preset fusion for a visible fusion); {time.time() - start:.0f} s on {jax.devices()[0].platform}."
    )
    return ("BlendGAN: morphing, melding and fusing two photos", text, figures)
