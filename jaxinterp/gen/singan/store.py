"""A SinGAN run on disk: what was trained, on what, and the trained scales.

    <run>/run.json         config, pyramid geometry, input image path (written before training)
    <run>/reals/NN.png     the training image at every scale, for looking at
    <run>/scales/NN/       orbax checkpoint of finished scale NN: G and D variables, z_opt, noise_amp
    <run>/samples/         what training writes at the end (random samples, reconstruction)

In-scale progress checkpoints live in `<out>/progress/` of the training call (see `train.py`).
A finished scale is never rewritten by `--resume`; `load_trained` is all the applications need. The
layout and the checks are the shared `gen/pyramid_store.py`; this module adds SinGAN's geometry.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_store
from jaxinterp.gen.pyramid import PyramidGeometry
from jaxinterp.gen.singan.config import SinGANConfig

# Fields that change only how the work is chunked and saved, not the model: they may differ on resume.
_ENGINEERING_FIELDS = ("iters_per_call", "checkpoint_every")


@dataclasses.dataclass
class TrainedSinGAN:
    """A (possibly partly) trained pyramid, ready for the applications."""

    run_dir: Path
    config: SinGANConfig
    geometry: PyramidGeometry
    image_path: str
    scales: list[dict]  # finished scales, coarsest first
    reals: list[np.ndarray]  # training image per scale, [-1, 1]

    @property
    def num_trained(self) -> int:
        return len(self.scales)


def geometry_to_json(geometry: PyramidGeometry) -> dict:
    return dataclasses.asdict(geometry)


def geometry_from_json(data: dict) -> PyramidGeometry:
    return PyramidGeometry(
        input_hw=tuple(data["input_hw"]),
        input_scale=float(data["input_scale"]),
        scale_factor=float(data["scale_factor"]),
        shapes=tuple(tuple(s) for s in data["shapes"]),
    )


def write_run_json(run_dir: Path, config: SinGANConfig, geometry: PyramidGeometry, image_path: str) -> None:
    pyramid_store.write_run_json(run_dir, "singan", config, geometry_to_json(geometry), {"image": str(image_path)})


def read_run_json(run_dir: Path) -> tuple[SinGANConfig, PyramidGeometry, str]:
    config, data = pyramid_store.read_run_json(run_dir, "singan", SinGANConfig, "jaxinterp singan train")
    try:
        return config, geometry_from_json(data["geometry"]), data["image"]
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{Path(run_dir) / 'run.json'} is corrupt: {err}") from None


def check_same_config(run_dir: Path, config: SinGANConfig, geometry: PyramidGeometry) -> None:
    """Raises InputError if the run in `run_dir` was made with another config or image geometry."""
    saved_config, saved_geometry, _ = read_run_json(run_dir)
    diffs = pyramid_store.config_diffs(saved_config, config, _ENGINEERING_FIELDS)
    if saved_geometry.shapes != geometry.shapes:
        diffs.append(f"pyramid {saved_geometry.shapes} (now {geometry.shapes})")
    pyramid_store.refuse_diffs(run_dir, diffs)


scale_dir = pyramid_store.scale_dir
finished_scales = pyramid_store.finished_scales
save_scale = pyramid_store.save_scale
load_scale = pyramid_store.load_scale


def load_trained(run_dir: str | Path, require_complete: bool = True) -> TrainedSinGAN:
    """Loads a run for sampling; by default all scales must be finished."""
    from jaxinterp.data.images import load_rgb
    from jaxinterp.gen.pyramid import build_pyramid

    run_dir = Path(run_dir)
    config, geometry, image_path = read_run_json(run_dir)
    n = finished_scales(run_dir)
    if require_complete and n < geometry.num_scales:
        raise InputError(
            f"{run_dir} has {n} of {geometry.num_scales} scales trained; finish it with "
            f"`jaxinterp singan train {image_path} --out {run_dir} --resume`"
        )
    scales = [load_scale(run_dir, i) for i in range(n)]
    reals_dir = run_dir / "reals"
    if (reals_dir / f"{geometry.num_scales - 1:02d}.npy").exists():
        reals = [np.load(reals_dir / f"{i:02d}.npy") for i in range(geometry.num_scales)]
    else:
        reals = [np.asarray(r) for r in build_pyramid(load_rgb(image_path), geometry)]
    return TrainedSinGAN(run_dir, config, geometry, image_path, scales, reals)
