"""A BlendGAN run on disk (the shared `gen/pyramid_store.py` layout, with K images):

<run>/run.json          config, pyramid geometry, the K image sources in order (index = identity)
<run>/reals/NN.npy      (K, h, w, 3) training images at level NN; reals/NN_k.png to look at
<run>/scales/NN/        finished scale NN: G and D variables, z_opt (K, h, w, 3), noise_amp (K,)
<run>/progress/         in-scale checkpoints while training
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxinterp.data.images import save_png
from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_store
from jaxinterp.gen.blendgan.config import BlendGANConfig
from jaxinterp.gen.pyramid import PyramidGeometry
from jaxinterp.gen.singan.store import geometry_from_json, geometry_to_json

MODEL = "blendgan"
_ENGINEERING_FIELDS = ("iters_per_call", "checkpoint_every")
finished_scales = pyramid_store.finished_scales


@dataclasses.dataclass
class TrainedBlendGAN:
    """A trained pyramid, ready for the applications."""

    run_dir: Path
    config: BlendGANConfig
    geometry: PyramidGeometry
    images: list[str]  # sources; position = identity channel
    scales: list[dict]  # coarsest first
    reals: list[np.ndarray]  # (K, h, w, 3) per level, [-1, 1]

    @property
    def num_images(self) -> int:
        return len(self.images)


def write_run_json(run_dir: Path, config: BlendGANConfig, geometry: PyramidGeometry, images: Sequence[str]) -> None:
    sources = {"images": [str(p) for p in images]}
    pyramid_store.write_run_json(run_dir, MODEL, config, geometry_to_json(geometry), sources)


def read_run_json(run_dir: Path) -> tuple[BlendGANConfig, PyramidGeometry, list[str]]:
    config, data = pyramid_store.read_run_json(run_dir, MODEL, BlendGANConfig, "jaxinterp blendgan train")
    try:
        return config, geometry_from_json(data["geometry"]), [str(p) for p in data["images"]]
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{Path(run_dir) / 'run.json'} is corrupt: {err}") from None


def check_same_run(run_dir: Path, config: BlendGANConfig, geometry: PyramidGeometry, images: Sequence[str]) -> None:
    """Raises InputError if `run_dir` was trained with another config, geometry or image list."""
    saved_config, saved_geometry, saved_images = read_run_json(run_dir)
    diffs = pyramid_store.config_diffs(saved_config, config, _ENGINEERING_FIELDS)
    if saved_geometry.shapes != geometry.shapes:
        diffs.append(f"pyramid {saved_geometry.shapes} (now {geometry.shapes})")
    if saved_images != [str(p) for p in images]:
        diffs.append(f"images {saved_images} (now {list(map(str, images))})")
    pyramid_store.refuse_diffs(run_dir, diffs)


def save_reals(run_dir: Path, reals: Sequence[np.ndarray]) -> None:
    folder = Path(run_dir) / "reals"
    folder.mkdir(parents=True, exist_ok=True)
    for n, level in enumerate(reals):
        np.save(folder / f"{n:02d}.npy", level)
        for k, image in enumerate(level):
            save_png(folder / f"{n:02d}_{k}.png", image)


def load_trained(run_dir: str | Path) -> TrainedBlendGAN:
    """Loads a finished run (every scale trained)."""
    run_dir = Path(run_dir)
    config, geometry, images = read_run_json(run_dir)
    n = finished_scales(run_dir)
    if n < geometry.num_scales:
        raise InputError(
            f"{run_dir} has {n} of {geometry.num_scales} scales trained; finish it with "
            f"`jaxinterp blendgan train {' '.join(images)} --out {run_dir} --resume`"
        )
    scales = [pyramid_store.load_scale(run_dir, i) for i in range(n)]
    try:
        reals = [np.load(run_dir / "reals" / f"{i:02d}.npy") for i in range(n)]
    except OSError as err:
        raise InputError(f"cannot read the training images of {run_dir}: {err}") from None
    return TrainedBlendGAN(run_dir, config, geometry, images, scales, reals)
