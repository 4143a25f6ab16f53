"""Running a trained Catch-A-Waveform pyramid: from noise (or an injected signal) to a waveform.

Scale n maps the signal `prev` from scale n-1, resampled to its rate (`scales.upsample`, ResizeRight's
cubic, cut or zero-padded to the level's length as upstream's `draw_signal`), and a noise signal z to
G_n(pad(amp_n * z + prev), pad(prev)), with `scales.padding(cfg)` zeros per side (1020). Scale 0 gets
prev = 0. Frozen generators run with BatchNorm's running statistics (upstream's `netG.eval()`).
The loop over scales is the shared `pyramid_train.run_cascade`.

Pure functions of arrays plus static lengths and rates: the trainer calls `frozen_prev` inside its
jitted step and the applications jit `run_scales`. Signals are `b t 1`.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.gen.caw import scales as caw_scales
from jaxinterp.gen.caw.config import CAWConfig
from jaxinterp.gen.caw.model import generator
from jaxinterp.gen.pyramid_train import run_cascade

# A trained scale as stored: {"g": {"params", "batch_stats"}, "d": ..., "rec_noise": (t, 1) already
# multiplied by the amplitude, "noise_amp": ()}.
Scale = dict


def pad_time(x: Float[Array, "b t c"], pad: int) -> Float[Array, "b T c"]:
    """Zero-pads the time axis by `pad` on both sides (upstream's ConstantPad1d)."""
    return jnp.pad(x, ((0, 0), (pad, pad), (0, 0)))


def apply_scale(
    cfg: CAWConfig, scale: int, g_vars: dict, noise: Float[Array, "b t 1"], prev: Float[Array, "b t 1"]
) -> Float[Array, "b t 1"]:
    """One frozen generator on `noise` (already scaled by the amplitude) and `prev`, running BatchNorm stats."""
    pad = caw_scales.padding(cfg)
    return generator(cfg, scale).apply(g_vars, pad_time(noise + prev, pad), pad_time(prev, pad), train=False)


def run_scales(
    cfg: CAWConfig,
    scales: Sequence[Scale],
    scale_ids: Sequence[int],
    rates: Sequence[int],
    lengths: Sequence[int],
    noises: Sequence[Float[Array, "b t 1"]],
    prev: Float[Array, "b t 1"],
) -> Float[Array, "b t 1"]:
    """Runs `scales` (pyramid indices `scale_ids`, rates, output lengths) in order from `prev`.

    `noises[i]` has `lengths[i]` samples and is already multiplied by the amplitude.
    """
    return run_cascade(
        lambda i, scale, noise, x: apply_scale(cfg, scale_ids[i], scale["g"], noise, x),
        lambda i, x: caw_scales.upsample(x, rates[i - 1], rates[i], lengths[i]),
        scales,
        noises,
        prev,
    )


def scale_noises(
    key: Array, scales: Sequence[Scale], lengths: Sequence[int], batch: int, reconstruct_below: int = 0
) -> list[Float[Array, "b t 1"]]:
    """Noise per scale, times its amplitude: the stored reconstruction noise for scales below
    `reconstruct_below`, fresh Gaussian noise above."""
    keys = jax.random.split(key, max(len(scales), 1))
    out = []
    for i, (k, scale, n) in enumerate(zip(keys, scales, lengths, strict=True)):
        if i < reconstruct_below:
            out.append(jnp.broadcast_to(scale["rec_noise"], (batch, *scale["rec_noise"].shape)))
        else:
            out.append(scale["noise_amp"] * jax.random.normal(k, (batch, n, 1)))
    return out


def frozen_prev(
    cfg: CAWConfig,
    scales: Sequence[Scale],
    rates: Sequence[int],
    lengths: Sequence[int],
    key: Array,
    reconstruct: bool = False,
) -> Float[Array, "1 t 1"]:
    """The input the scale being trained (n = len(scales)) receives: a random sample (or, with
    `reconstruct`, the reconstruction) of the frozen scales 0..n-1, resampled to `rates[n]` and
    `lengths[n]` (upstream `draw_signal`); zeros at scale 0."""
    n = len(scales)
    if n == 0:
        return jnp.zeros((1, lengths[0], 1))
    noises = scale_noises(key, scales, lengths[:n], 1, reconstruct_below=n if reconstruct else 0)
    out = run_scales(cfg, scales, list(range(n)), rates[:n], lengths[:n], noises, jnp.zeros((1, lengths[0], 1)))
    return caw_scales.upsample(out, rates[n - 1], rates[n], lengths[n])
