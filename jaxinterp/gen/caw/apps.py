"""Catch-A-Waveform's applications on a trained pyramid (official `generating.py`, `generate_main.py`,
`inpaint.py`, `extend.py`). All are one routine, `run` (the shared cascade through the frozen scales),
with different inputs:
  * generation: fresh noise at every scale, at any duration (every level's length scales with it);
  * reconstruction: the stored reconstruction noise at every scale, the training length; the output of
    denoising (a model trained on the noisy recording in "denoising" mode: its reconstruction is
    cleaner than the input, upstream `--reconstruct`);
  * inpainting (model trained in "inpainting" mode): the reconstruction, which has noise inside the
    hole (fresh noise there with `new_noise`, upstream `--new`), pasted into the recording's hole with
    Hann cross-fades (upstream `stitch_signals`: a window of half the hole's length, half of it
    before the hole's start and after its end);
  * bandwidth extension: a low-rate recording enters at the first scale faster than its rate
    (resampled there with ResizeRight's cubic), fresh noise and the remaining generators add the high
    band, and the output keeps the recording's spectrum below its Nyquist frequency and the generated
    one above (upstream `time_freq_stitch_by_fft`; decision: a hard cut at lr_rate / 2, no
    anti-aliasing filter file).
Outputs are peak-normalised signals at the model's finest rate, as upstream writes them.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.data.audio import resample
from jaxinterp.errors import InputError
from jaxinterp.gen.caw import scales as caw_scales
from jaxinterp.gen.caw.sampling import run_scales, scale_noises
from jaxinterp.gen.caw.store import TrainedCAW
from jaxinterp.gen.caw.train import hole_mask


@functools.lru_cache(maxsize=32)
def _run_fn(cfg, rates: tuple, lengths: tuple, first: int, batch: int, reconstruct_below: int):
    def fn(scales, prev, key):
        noises = scale_noises(key, scales, lengths, batch, reconstruct_below)
        ids = list(range(first, first + len(rates)))
        return run_scales(cfg, scales, ids, rates, lengths, noises, prev)

    return jax.jit(fn)


def run(
    model: TrainedCAW,
    key: Array,
    lengths: tuple[int, ...],
    *,
    first: int = 0,
    prev: Float[Array, "b t 1"] | None = None,
    batch: int = 1,
    reconstruct_below: int = 0,
    scales: list[dict] | None = None,
) -> Float[np.ndarray, "b n"]:
    """Runs scales `first..N-1` with output `lengths` (one per scale run); `prev` enters at `first`."""
    scales = list(model.scales if scales is None else scales)[first:]
    rates = model.geometry.rates[first:]
    if prev is None:
        prev = jnp.zeros((batch, lengths[0], 1))
    fn = _run_fn(model.config, tuple(rates), tuple(lengths), first, batch, reconstruct_below - first)
    return np.asarray(fn(scales, prev, key))[..., 0]


def generate(model: TrainedCAW, key: Array, seconds: float | None = None, num: int = 1) -> Float[np.ndarray, "b n"]:
    """`num` random signals of `seconds` (default: the training duration) at the finest rate."""
    if seconds is None:
        lengths = model.geometry.lengths
    else:
        if not seconds > 0 or not math.isfinite(seconds):
            raise InputError(f"duration must be a positive number of seconds, got {seconds}")
        lengths = tuple(max(1, round(seconds * f)) for f in model.geometry.rates)
    if num < 1:
        raise InputError(f"number of signals must be at least 1, got {num}")
    return run(model, key, lengths, batch=num)


def reconstruct(model: TrainedCAW, key: Array | None = None) -> Float[np.ndarray, " n"]:
    """The reconstruction of the training signal (stored noise at every scale): the denoised output."""
    key = jax.random.PRNGKey(0) if key is None else key
    return run(model, key, model.geometry.lengths, reconstruct_below=model.geometry.num_scales)[0]


def _require_mode(model: TrainedCAW, mode: str, what: str) -> None:
    if model.config.mode != mode:
        raise InputError(
            f"{what} needs a model trained with --mode {mode} (this one is {model.config.mode!r}); "
            f"train one with `jaxinterp caw train AUDIO --mode {mode} ...`"
        )


def denoise(model: TrainedCAW) -> Float[np.ndarray, " n"]:
    """Denoising: the reconstruction of a model trained on the noisy recording in "denoising" mode."""
    _require_mode(model, "denoising", "denoising")
    return reconstruct(model)


def crossfade_into(
    real: Float[np.ndarray, " n"], generated: Float[np.ndarray, " n"], holes: tuple[tuple[int, int], ...]
) -> Float[np.ndarray, " n"]:
    """`real` with `generated` inside each hole [a, b), blended over a Hann ramp of about half the hole's
    length centred on each edge (upstream `stitch_signals`)."""
    out = np.array(real, np.float32)
    weight = np.zeros(len(out), np.float64)  # 1 = generated
    for a, b in holes:
        weight[a:b] = 1.0
        ramp = max(1, (b - a + 1) // 4)
        rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(2 * ramp) + 0.5) / (2 * ramp))
        lo, hi = max(0, a - ramp), min(len(out), a + ramp)
        weight[lo:hi] = np.maximum(weight[lo:hi], rise[lo - (a - ramp) : hi - (a - ramp)])
        lo, hi = max(0, b - ramp), min(len(out), b + ramp)
        weight[lo:hi] = np.maximum(weight[lo:hi], rise[::-1][lo - (b - ramp) : hi - (b - ramp)])
    return (out * (1 - weight) + np.asarray(generated, np.float64) * weight).astype(np.float32)


def inpaint(model: TrainedCAW, key: Array, new_noise: bool = False) -> Float[np.ndarray, " n"]:
    """Fills the training holes: the reconstruction (its hole noise, or fresh noise there with
    `new_noise`), cross-faded into the recording."""
    _require_mode(model, "inpainting", "inpainting")
    scales = list(model.scales)
    if new_noise:
        keys = jax.random.split(key, len(scales))
        for i, (k, scale) in enumerate(zip(keys, scales, strict=True)):
            fresh = scale["noise_amp"] * np.asarray(jax.random.normal(k, scale["rec_noise"].shape))
            hole = _hole(model, i)
            scales[i] = {**scale, "rec_noise": np.where(hole[:, None], fresh, scale["rec_noise"])}
    out = run(model, key, model.geometry.lengths, reconstruct_below=len(scales), scales=scales)[0]
    return crossfade_into(model.reals[-1], out, model.geometry.holes)


def _hole(model: TrainedCAW, scale: int) -> np.ndarray:
    """True inside the holes at `scale` (the trainer's `hole_mask` rule)."""
    geometry = model.geometry
    return hole_mask(geometry.lengths[scale], geometry.holes, geometry.rates[scale], geometry.input_rate) == 0


def condition_scale(model: TrainedCAW, lr_rate: int) -> int:
    """The first scale faster than `lr_rate` (upstream `condition_scale_idx`)."""
    faster = [i for i, f in enumerate(model.geometry.rates) if f > lr_rate]
    if not faster or faster[0] == 0:
        raise InputError(
            f"a {lr_rate} Hz input cannot be extended by this model (scales at {model.geometry.rates} Hz): "
            f"its rate must be at least the coarsest ({model.geometry.rates[0]} Hz) and below the finest"
        )
    return faster[0]


def spectral_stitch(
    low: Float[np.ndarray, " n"], high: Float[np.ndarray, " m"], low_rate: int, high_rate: int
) -> Float[np.ndarray, " m"]:
    """`high`'s spectrum above low_rate / 2, `low`'s (resampled to high_rate) below it."""
    low_up = resample(np.asarray(low, np.float32), low_rate, high_rate)[: len(high)]
    low_up = np.pad(low_up, (0, len(high) - len(low_up)))
    spec_high, spec_low = np.fft.rfft(high), np.fft.rfft(low_up)
    freqs = np.fft.rfftfreq(len(high), 1.0 / high_rate)
    spec = np.where(freqs < low_rate / 2, spec_low, spec_high)
    return np.fft.irfft(spec, n=len(high)).astype(np.float32)


def extend_bandwidth(
    model: TrainedCAW, low: Float[np.ndarray, " n"], lr_rate: int, key: Array
) -> Float[np.ndarray, " m"]:
    """Bandwidth extension of a low-rate signal (peak-normalised here) to the model's finest rate."""
    first = condition_scale(model, lr_rate)
    low = np.asarray(low, np.float32)
    low = low / max(float(np.max(np.abs(low))), 1e-12)
    rates = model.geometry.rates
    lengths = tuple(max(1, int(len(low) / lr_rate * f)) for f in rates[first:])
    prev = caw_scales.upsample(jnp.asarray(low)[None, :, None], lr_rate, rates[first], lengths[0])
    out = run(model, key, lengths, first=first, prev=prev)[0]
    return spectral_stitch(low, out, lr_rate, rates[-1])
