"""A Catch-A-Waveform run on disk (layout and checks shared with SinGAN: `gen/pyramid_store.py`).

<run>/run.json          config, geometry (rates, lengths, peak, holes), input source
<run>/reals/NN.npy|wav  the (peak-normalised) training signal at every scale
<run>/scales/NN/        finished scale NN: G and D variables, reconstruction noise, noise amplitude
<run>/samples/          what training writes at the end (a generation and the reconstruction)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_store
from jaxinterp.gen.caw.config import CAWConfig

# Fields that change only how the work is chunked and saved, not the model: they may differ on resume.
_ENGINEERING_FIELDS = ("iters_per_call", "checkpoint_every")
TRAIN_HINT = "jaxinterp caw train AUDIO --out DIR"


@dataclasses.dataclass(frozen=True)
class CAWGeometry:
    """The pyramid of one recording.

    Attributes:
      input_rate: rate the recording was brought to (<= cfg.init_sample_rate).
      rates: sample rate of each scale, coarsest first (the last is `input_rate`).
      lengths: samples of each scale's training signal.
      peak: the recording's peak before normalisation (outputs are written at max |x| = 1, like upstream).
      holes: inpainting holes (start, end) in samples at `input_rate`; () otherwise.
    """

    input_rate: int
    rates: tuple[int, ...]
    lengths: tuple[int, ...]
    peak: float = 1.0
    holes: tuple[tuple[int, int], ...] = ()

    @property
    def num_scales(self) -> int:
        return len(self.rates)

    @property
    def seconds(self) -> float:
        return self.lengths[-1] / self.rates[-1]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CAWGeometry:
        return cls(
            input_rate=int(data["input_rate"]),
            rates=tuple(int(r) for r in data["rates"]),
            lengths=tuple(int(n) for n in data["lengths"]),
            peak=float(data.get("peak", 1.0)),
            holes=tuple((int(a), int(b)) for a, b in data.get("holes", ())),
        )


@dataclasses.dataclass
class TrainedCAW:
    """A (possibly partly) trained pyramid, ready for the applications."""

    run_dir: Path
    config: CAWConfig
    geometry: CAWGeometry
    source: str
    scales: list[dict]  # finished scales, coarsest first
    reals: list[np.ndarray]  # training signal per scale, peak 1

    @property
    def num_trained(self) -> int:
        return len(self.scales)


def write_run_json(run_dir: Path, config: CAWConfig, geometry: CAWGeometry, source: str) -> None:
    pyramid_store.write_run_json(run_dir, "caw", config, geometry.to_json(), {"audio": str(source)})


def read_run_json(run_dir: Path) -> tuple[CAWConfig, CAWGeometry, str]:
    config, data = pyramid_store.read_run_json(run_dir, "caw", CAWConfig, TRAIN_HINT)
    try:
        return config, CAWGeometry.from_json(data["geometry"]), data["audio"]
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{Path(run_dir) / 'run.json'} is corrupt: {err}") from None


def check_same_config(run_dir: Path, config: CAWConfig, geometry: CAWGeometry) -> None:
    """Raises InputError if the run in `run_dir` was made with another config or pyramid."""
    saved_config, saved_geometry, _ = read_run_json(run_dir)
    diffs = pyramid_store.config_diffs(saved_config, config, _ENGINEERING_FIELDS)
    if (saved_geometry.rates, saved_geometry.lengths) != (geometry.rates, geometry.lengths):
        diffs.append(f"pyramid {saved_geometry.rates} Hz (now {geometry.rates} Hz)")
    pyramid_store.refuse_diffs(run_dir, diffs)


def load_trained(run_dir: str | Path, require_complete: bool = True) -> TrainedCAW:
    """Loads a run for the applications; by default all scales must be finished."""
    run_dir = Path(run_dir)
    config, geometry, source = read_run_json(run_dir)
    n = pyramid_store.finished_scales(run_dir)
    if require_complete and n < geometry.num_scales:
        raise InputError(
            f"{run_dir} has {n} of {geometry.num_scales} scales trained; finish it with "
            f"`jaxinterp caw train {source} --out {run_dir} --resume`"
        )
    scales = [pyramid_store.load_scale(run_dir, i) for i in range(n)]
    try:
        reals = [np.load(run_dir / "reals" / f"{i:02d}.npy") for i in range(geometry.num_scales)]
    except OSError as err:
        raise InputError(f"cannot read the training signals of {run_dir}: {err}") from None
    return TrainedCAW(run_dir, config, geometry, source, scales, reals)
