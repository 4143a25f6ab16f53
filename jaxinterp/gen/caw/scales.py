"""Catch-A-Waveform's scale geometry: which sample rates form the pyramid, the noise amplitude per scale,
the receptive field and input padding, and the resampler used between scales during generation.

CAW's pyramid is a list of sample rates, not of sizes (official `train_main.py`, `create_input_signals`):
1. the input (peak-normalised to max |x| = 1, `get_input_signal`; see `peak_normalize`) is resampled down to
   `init_sample_rate` (16 kHz) if it is faster; call that rate R;
2. the candidates are the rates of `cfg.sample_rates` that are <= R, plus R itself if it is not one;
3. walking from the slowest candidate up, the signal is resampled to each rate f and
   * (inpainting) f is skipped if the holes no longer fit: sum over holes of (end - start + 2 * RF),
     converted from R to f by * f / R, exceeds the resampled length (RF = `receptive_field`, 2041). As
     upstream adds RF in samples at R before converting, the test is nearly the same at every f: in
     effect, the holes plus 2 RF each must be shorter than the signal;
   * (speech) f is skipped if f < 500 Hz; speech uses no energy rule;
   * (otherwise) f is skipped while no scale has been kept yet and mean(x_f^2) < 0.0025; the first rate
     that passes is the coarsest scale and every faster candidate is kept after it;
4. if nothing was kept, the energy rule is dropped and the candidates from the third one on are used
   (upstream's "Manually start from 500", `scales[2:]`).
Level n is the input resampled to rate n (`build_pyramid`, polyphase, `jaxinterp.data.audio.resample`).

Noise amplitudes (`training.py`): 1 at the coarsest scale, 0.01 * sqrt(max(0, E_n - E_{n-1})) above, with
E_n = mean(x_n^2) of level n (inpainting: over the samples outside the hole). In non-speech normal and
inpainting runs (`cfg.cond_noise`) the trainer replaces scale 1's value by the std of the zero-padded
upsampled reconstruction, which needs the trained scale 0 and so is not computed here.

Between scales, generation resamples on device with `upsample`: upstream uses ResizeRight (Keys cubic,
a = -0.5, centre-aligned grid, mirror padding at the ends, antialiased when shrinking) and then crops or
zero-pads the result to the next level's length (`draw_signal`). We reproduce that interpolator (a gather
of 4 taps per output sample, jittable); checked against upstream's `utils/resize_right.py` (torch, CPU) it
agrees to 2e-7 wherever upstream's arithmetic is exact, with two deliberate differences:
  * the projected input positions are formed as integer + fraction, so they stay exact on long signals;
    upstream forms them in float32, which drifts by up to ~0.03 samples at 400k samples (on white noise,
    14.4 -> 16 kHz, 360k samples, its outputs differ from exact interpolation by up to 0.39);
  * at the 2-3 samples nearest each end, upstream's copy of ResizeRight computes the kernel weights from
    the already-mirrored tap indices (so the weights of the mirrored taps are wrong); we weight each tap
    by its true distance and read the mirrored sample, which is what the mirror padding means.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.data.audio import resample
from jaxinterp.errors import InputError
from jaxinterp.gen.caw.config import CAWConfig

_EPS32 = float(np.finfo(np.float32).eps)  # ResizeRight's eps
_CUBIC_SUPPORT = 4


def receptive_field(cfg: CAWConfig) -> int:
    """Upstream `calc_receptive_field` in samples: k * d_0 + (k - 1) * sum(d_1..), 2041 for the defaults.

    With d_0 = 1 this is 1 + (k - 1) * sum(d): the span of the VALID dilated stack, which shortens a signal
    by receptive_field - 1 = 2040 samples. (The generator's 'SAME' gated convolutions and the
    pre-emphasis widen its true receptive field by a further k - 1 + 1 = 9 samples; upstream does not count
    them and neither do we.)
    """
    d = cfg.dilations
    return cfg.filter_size * d[0] + (cfg.filter_size - 1) * sum(d[1:])


def padding(cfg: CAWConfig) -> int:
    """Zeros added on each side of the generator's inputs: ceil((k - 1) * sum(d) / 2) = 1020 (`calc_pad_size`)."""
    return math.ceil((cfg.filter_size - 1) * sum(cfg.dilations) / 2)


def peak_normalize(signal: Float[np.ndarray, " n"]) -> tuple[Float[np.ndarray, " n"], float]:
    """(signal / max|signal|, max|signal|): upstream's `norm_factor`, applied before the scale rule."""
    signal = np.asarray(signal, np.float32)
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if not peak > 0 or not math.isfinite(peak):
        raise InputError("the signal is silent or not finite; CAW needs audible audio")
    return signal / peak, peak


def working_rate(rate: int, cfg: CAWConfig) -> int:
    """The rate training runs at: inputs faster than `init_sample_rate` are resampled down to it."""
    return min(int(rate), cfg.init_sample_rate)


def candidate_rates(rate: int, cfg: CAWConfig) -> list[int]:
    """The rates of `cfg.sample_rates` that are <= `rate`, plus `rate` itself (`train_main.py`)."""
    rates = [f for f in cfg.sample_rates if f <= rate]
    if not rates or rates[-1] != rate:
        rates.append(int(rate))
    return rates


def choose_scales(
    signal: Float[np.ndarray, " n"],
    rate: int,
    cfg: CAWConfig,
    *,
    holes: Sequence[tuple[int, int]] = (),
) -> list[int]:
    """The pyramid's sample rates, coarsest first (the rule in the module docstring).

    Args:
      signal: the training signal at `rate`, already brought to `working_rate` and peak-normalised (the
        energy threshold 0.0025 assumes max |x| = 1); in inpainting mode the holes already zeroed.
      rate: its sample rate (Hz).
      cfg: `sample_rates`, `min_energy`, `speech`, `speech_min_rate`, `mode` are used.
      holes: inpainting only: (start, end) sample indices at `rate`.

    Raises:
      InputError: no rate is usable (the signal or the rate is too small for the holes or for speech).
    """
    signal = np.asarray(signal, np.float32)
    if signal.ndim != 1:
        raise InputError(f"CAW expects a mono 1-D signal, got shape {signal.shape}")
    if rate > cfg.init_sample_rate:
        raise InputError(f"resample the signal to at most {cfg.init_sample_rate} Hz first (it is at {rate} Hz)")
    candidates = candidate_rates(rate, cfg)
    use_energy = not cfg.speech
    holes_span = sum(end - start + 2 * receptive_field(cfg) for start, end in holes) if cfg.mode == "inpainting" else 0

    def select(rates: list[int], use_energy: bool) -> list[int]:
        kept: list[int] = []
        for f in rates:
            coarse = resample(signal, rate, f)
            if holes_span and holes_span / rate * f > len(coarse):
                continue
            if cfg.speech and f < cfg.speech_min_rate:
                continue
            if use_energy and not kept and float(np.mean(coarse.astype(np.float64) ** 2)) < cfg.min_energy:
                continue
            kept.append(f)
        return kept

    kept = select(candidates, use_energy)
    if not kept:
        kept = select(candidates[2:], False)
    if not kept:
        raise InputError(
            f"no usable scale for a {len(signal) / rate:.2f} s signal at {rate} Hz"
            + (" (the inpainting holes are too long for the signal)" if holes_span else "")
        )
    return kept


def build_pyramid(
    signal: Float[np.ndarray, " n"], rate: int, scale_rates: Sequence[int]
) -> list[Float[np.ndarray, " m"]]:
    """The signal resampled to every rate of `scale_rates` (coarsest first), float32 numpy arrays.

    Level lengths are ceil(n * f / rate) (polyphase resampling, `jaxinterp.data.audio.resample`).
    """
    return [resample(signal, rate, f) for f in scale_rates]


def noise_amplitudes(
    pyramid: Sequence[Float[np.ndarray, " m"]],
    cfg: CAWConfig,
    masks: Sequence[np.ndarray] | None = None,
) -> list[float]:
    """Per-scale noise amplitude: `noise_amp_init` (1) at scale 0, then
    `noise_amp_factor * sqrt(max(0, E_n - E_{n-1}))` with E = mean(x^2) (over `masks[n]`, if given).

    Scale 1's value is replaced by the trainer when `cfg.cond_noise` (see module docstring).
    """
    if masks is None:
        masks = [np.ones(len(x), bool) for x in pyramid]
    if len(masks) != len(pyramid):
        raise InputError(f"{len(masks)} masks for {len(pyramid)} pyramid levels")
    energies = [
        float(np.mean(np.asarray(x, np.float64)[np.asarray(m, bool)] ** 2)) for x, m in zip(pyramid, masks, strict=True)
    ]
    amps = [float(cfg.noise_amp_init)]
    for previous, current in zip(energies[:-1], energies[1:], strict=True):
        amps.append(cfg.noise_amp_factor * math.sqrt(max(0.0, current - previous)))
    return amps


def _cubic(x):
    """Keys' cubic kernel with a = -0.5 (ResizeRight `interp_methods.cubic`)."""
    ax = jnp.abs(x)
    near = (1.5 * ax**3 - 2.5 * ax**2 + 1.0) * (ax <= 1.0)
    far = (-0.5 * ax**3 + 2.5 * ax**2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0))
    return near + far


def resampled_length(n: int, rate_in: int, rate_out: int) -> int:
    """ResizeRight's output length ceil(n * scale) with scale = rate_out / rate_in as a float."""
    return math.ceil(rate_out / rate_in * n)


def upsample(
    x: Float[Array, "... t c"], rate_in: int, rate_out: int, length: int | None = None
) -> Float[Array, "... t2 c"]:
    """Resamples along time (axis -2) from `rate_in` to `rate_out` as upstream's ResizeRight does.

    Output sample i sits at input position i / s + (n - 1) / 2 - (m - 1) / (2 s), s = rate_out / rate_in,
    m = `resampled_length(n, ...)`, and is a normalised Keys-cubic combination of its 4 neighbours, the
    signal mirrored at both ends (for s < 1 the kernel is stretched by 1 / s: antialiasing). The result is
    then cut or zero-padded at the end to `length` (default m), as `draw_signal` does. Static shapes; runs
    under `jit` and is differentiable in `x`.
    """
    n = x.shape[-2]
    m = resampled_length(n, rate_in, rate_out)
    g = math.gcd(int(rate_in), int(rate_out))
    num, den = int(rate_out) // g, int(rate_in) // g  # s = num / den; i / s = i * den / num
    scale = num / den
    support = _CUBIC_SUPPORT / min(scale, 1.0)
    taps = math.ceil(support - _EPS32)
    offset = (n - 1) / 2 - (m - 1) * den / (2 * num)
    offset_int = math.floor(offset)
    i = jnp.arange(m, dtype=jnp.int32)
    whole = (i // num) * den + ((i % num) * den) // num + offset_int  # integer part of the position
    frac = ((i % num) * den % num).astype(jnp.float32) / num + jnp.float32(offset - offset_int)
    first = jnp.ceil(frac - support / 2 - _EPS32)
    j = jnp.arange(taps, dtype=jnp.float32)
    dist = frac[:, None] - first[:, None] - j  # position - tap, (m, taps)
    weights = _cubic(dist) if scale >= 1 else scale * _cubic(scale * dist)
    total = jnp.sum(weights, axis=1, keepdims=True)
    weights = weights / jnp.where(total == 0, 1.0, total)
    index = (whole + first.astype(jnp.int32))[:, None] + jnp.arange(taps, dtype=jnp.int32)
    index = jnp.remainder(index, 2 * n)
    index = jnp.where(index < n, index, 2 * n - 1 - index)
    neighbours = jnp.take(x, index, axis=-2)  # (..., m, taps, c)
    out = jnp.sum(neighbours * weights[..., None].astype(x.dtype), axis=-2)
    if length is not None and length != m:
        if length < m:
            out = out[..., :length, :]
        else:
            pad = [(0, 0)] * out.ndim
            pad[-2] = (0, length - m)
            out = jnp.pad(out, pad)
    return out
