"""An IDC run on disk (the shared `gen/pyramid_store` layout, SinGAN's geometry):

<run>/run.json        config, pyramid geometry, image and mask paths
<run>/reals/NN.npy    the image per level, hole blanked (pre-filled below the first masked scale);
                      <run>/reals/known_NN.npy its known map
<run>/prefill.npy     the pre-filled level below the first masked scale (and .png), if any
<run>/scales/NN/      finished scale NN: G and D variables, z_opt, noise_amp, known (all ones on
                      pre-filled scales, which train on every pixel)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_store
from jaxinterp.gen.idc.config import IDCConfig
from jaxinterp.gen.pyramid import PyramidGeometry
from jaxinterp.gen.singan.store import geometry_from_json, geometry_to_json

MODEL = "idc"
_ENGINEERING_FIELDS = ("iters_per_call", "checkpoint_every")


@dataclasses.dataclass
class TrainedIDC:
    """A trained IDC pyramid, ready for completion."""

    run_dir: Path
    config: IDCConfig
    geometry: PyramidGeometry
    scales: list[dict]  # coarsest first
    reals: list[np.ndarray]  # hole-blanked image per level, [-1, 1]
    knowns: list[np.ndarray]  # 1 = visible pixel, per level


def write_run_json(run_dir: Path, config: IDCConfig, geometry: PyramidGeometry, image: str, mask: str) -> None:
    pyramid_store.write_run_json(run_dir, MODEL, config, geometry_to_json(geometry), {"image": image, "mask": mask})


def read_run_json(run_dir: Path) -> tuple[IDCConfig, PyramidGeometry]:
    config, data = pyramid_store.read_run_json(run_dir, MODEL, IDCConfig, "jaxinterp idc train IMAGE MASK --out RUN")
    try:
        return config, geometry_from_json(data["geometry"])
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{Path(run_dir) / 'run.json'} is corrupt: {err}") from None


def check_same_config(run_dir: Path, config: IDCConfig, geometry: PyramidGeometry) -> None:
    saved_config, saved_geometry = read_run_json(run_dir)
    diffs = pyramid_store.config_diffs(saved_config, config, _ENGINEERING_FIELDS)
    if saved_geometry.shapes != geometry.shapes:
        diffs.append(f"pyramid {saved_geometry.shapes} (now {geometry.shapes})")
    pyramid_store.refuse_diffs(run_dir, diffs)


def save_reals(run_dir: Path, reals: list[dict]) -> None:
    folder = Path(run_dir) / "reals"
    folder.mkdir(parents=True, exist_ok=True)
    for n, real in enumerate(reals):
        np.save(folder / f"{n:02d}.npy", real["image"])
        np.save(folder / f"known_{n:02d}.npy", real["known"])


def load_trained(run_dir: str | Path) -> TrainedIDC:
    """Loads a finished run; every scale must be trained."""
    run_dir = Path(run_dir)
    config, geometry = read_run_json(run_dir)
    n = pyramid_store.finished_scales(run_dir)
    if n < geometry.num_scales:
        raise InputError(
            f"{run_dir} has {n} of {geometry.num_scales} scales trained; finish it with "
            f"`jaxinterp idc train IMAGE MASK --out {run_dir} --resume`"
        )
    try:
        reals = [np.load(run_dir / "reals" / f"{i:02d}.npy") for i in range(n)]
        knowns = [np.load(run_dir / "reals" / f"known_{i:02d}.npy") for i in range(n)]
    except OSError as err:
        raise InputError(f"cannot read the training levels of {run_dir}: {err}") from None
    scales = [pyramid_store.load_scale(run_dir, i) for i in range(n)]
    return TrainedIDC(run_dir, config, geometry, scales, reals, knowns)
