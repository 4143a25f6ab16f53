"""A single-example pyramid GAN run on disk, for every model that uses `pyramid_train` (SinGAN, CAW, ...).

    <run>/run.json       {"model": name, "config": {...}, "geometry": {...}, <input key>: source}
                         (written before training; the geometry is whatever the model's pyramid is:
                         image shapes and a scale factor, or sample rates and lengths)
    <run>/scales/NN/     orbax checkpoint of finished scale NN (what the model's recipe keeps)
    <run>/metrics.jsonl  training metrics, one row per `iters_per_call` iterations (chunk means)

A finished scale is never rewritten by a resume. The model-specific stores (`singan/store.py`,
`caw/store.py`) add the typed geometry and the loader the applications use.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from jaxinterp.checkpoint import load_tree, save_tree
from jaxinterp.errors import InputError


def write_run_json(run_dir: Path, model: str, config, geometry: dict, sources: dict[str, Any]) -> None:
    """Writes run.json: the model name, its config dataclass, its geometry (JSON) and the inputs."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    payload = {"model": model, "config": dataclasses.asdict(config), "geometry": geometry, **sources}
    (run_dir / "run.json").write_text(json.dumps(payload, indent=2))


def read_run_json(run_dir: Path, model: str, config_cls: type, train_hint: str) -> tuple[Any, dict]:
    """(config, the whole run.json) of a run of `model`; config fields unknown to `config_cls` are dropped.

    Raises:
      InputError: no run.json (`train_hint` says how to make one), another model's run, or corrupt.
    """
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise InputError(f"{run_dir} is not a {_title(model)} run (no run.json); train one with `{train_hint}`")
    try:
        data = json.loads(path.read_text())
        if data.get("model") != model:
            raise InputError(f"{run_dir} holds a {data.get('model')!r} run, not a {_title(model)} one")
        known = {f.name for f in dataclasses.fields(config_cls)}
        config = config_cls(**{k: _tuples(v) for k, v in data["config"].items() if k in known})
        return config, data
    except (KeyError, TypeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{path} is corrupt: {err}") from None


def _title(model: str) -> str:
    names = {"singan": "SinGAN", "caw": "Catch-A-Waveform", "idc": "IDC", "blendgan": "BlendGAN"}
    return names.get(model, model)


def _tuples(value):
    """JSON lists back to the tuples frozen configs use."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def config_diffs(saved, config, ignore: tuple[str, ...]) -> list[str]:
    """'field=saved (now new)' for every config field that differs, except the `ignore`d ones."""
    return [
        f"{f.name}={getattr(saved, f.name)!r} (now {getattr(config, f.name)!r})"
        for f in dataclasses.fields(config)
        if f.name not in ignore and getattr(saved, f.name) != getattr(config, f.name)
    ]


def refuse_diffs(run_dir: Path, diffs: list[str]) -> None:
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
