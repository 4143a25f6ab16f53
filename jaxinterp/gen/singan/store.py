"""A SinGAN run on disk: what was trained, on what, and the trained scales.

    <run>/run.json         config, pyramid geometry, input image path (written before training)
    <run>/reals/NN.png     the training image at every scale, for looking at
    <run>/scales/NN/       orbax checkpoint of finished scale NN: G and D variables, z_opt, noise_amp
    <run>/samples/         what training writes at the end (random samples, reconstruction)

In-scale progress checkpoints live in `<out>/progress/` of the training call (see `train.py`).
A finished scale is never rewritten by `--resume`; `load_trained` is all the applications need.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from jaxinterp.checkpoint import load_tree, save_tree
from jaxinterp.errors import InputError
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
    run_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": "singan",
        "config": dataclasses.asdict(config),
        "geometry": geometry_to_json(geometry),
        "image": str(image_path),
    }
    (run_dir / "run.json").write_text(json.dumps(payload, indent=2))


def read_run_json(run_dir: Path) -> tuple[SinGANConfig, PyramidGeometry, str]:
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise InputError(f"{run_dir} is not a SinGAN run (no run.json); train one with `jaxinterp singan train`")
    try:
        data = json.loads(path.read_text())
        if data.get("model") != "singan":
            raise InputError(f"{run_dir} holds a {data.get('model')!r} run, not a SinGAN one")
        known = {f.name for f in dataclasses.fields(SinGANConfig)}
        config = SinGANConfig(**{k: v for k, v in data["config"].items() if k in known})
        return config, geometry_from_json(data["geometry"]), data["image"]
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{path} is corrupt: {err}") from None


def check_same_config(run_dir: Path, config: SinGANConfig, geometry: PyramidGeometry) -> None:
    """Raises InputError if the run in `run_dir` was made with another config or image geometry."""
    saved_config, saved_geometry, _ = read_run_json(run_dir)
    diffs = [
        f"{f.name}={getattr(saved_config, f.name)!r} (now {getattr(config, f.name)!r})"
        for f in dataclasses.fields(SinGANConfig)
        if f.name not in _ENGINEERING_FIELDS and getattr(saved_config, f.name) != getattr(config, f.name)
    ]
    if saved_geometry.shapes != geometry.shapes:
        diffs.append(f"pyramid {saved_geometry.shapes} (now {geometry.shapes})")
    if diffs:
        raise InputError(f"checkpoint in {run_dir} is from another config: " + "; ".join(diffs))


def scale_dir(run_dir: Path, scale: int) -> Path:
    return Path(run_dir) / "scales" / f"{scale:02d}"


def finished_scales(run_dir: Path) -> int:
    """How many scales (0, 1, ...) are finished and saved."""
    # Orbax renames a checkpoint folder into place only once it is complete.
    n = 0
    while scale_dir(run_dir, n).is_dir():
        n += 1
    return n


def save_scale(run_dir: Path, scale: int, record: dict) -> None:
    save_tree(scale_dir(run_dir, scale), record)


def load_scale(run_dir: Path, scale: int) -> dict:
    try:
        return load_tree(scale_dir(run_dir, scale))
    except (OSError, ValueError, FileNotFoundError) as err:
        raise InputError(f"cannot read scale {scale} of {run_dir}: {err}") from None


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
