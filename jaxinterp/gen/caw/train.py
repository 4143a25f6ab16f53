"""Training a Catch-A-Waveform pyramid on one recording (official `training.py`), on the shared
coarse-to-fine trainer (`gen/pyramid_train.py`: per-scale loop, warm start, compiled steps,
checkpoints, resume, Ctrl-C save, non-finite-loss stop). This module is CAW's `Recipe`.

One iteration at scale n (`num_epochs` = 2000 of them, Adam 1.5e-3, betas (0.5, 0.999), x0.1 at 1333):
  * a random input `prev` from the frozen scales 0..n-1 (fresh noise at each, run and resampled on
    device) and noise z; the fake is G_n(pad(amp * z + prev), pad(prev));
  * one critic step on -D(real) + D(fake) + 0.01 * GP (WGAN-GP, the shared `gan_losses`);
  * one generator step on -D(fake) + alpha1 * MSE(rec, real) + alpha2 * MSS(rec, real), where
    rec = G_n(pad(rec_noise + rec_prev), pad(rec_prev)) is the reconstruction (fixed noise at scale 0,
    zeros above; inpainting: noise inside the hole) and MSS the multi-resolution STFT loss
    (`metrics.audio.multi_resolution_stft_distance`). (alpha1, alpha2) = (0, 1e-4) for music, (10, 0)
    for speech, inpainting and denoising (`CAWConfig.loss_weights`).
Upstream back-propagates the generator's adversarial loss through the fake made before the critic
step (same G weights); we do the same with one `jax.vjp` of that forward pass, so G runs twice per
iteration (fake and reconstruction), as upstream.

Inpainting (as upstream): the critic's BatchNorm statistics, its real scores and the gradient penalty
use only positions whose window avoids the hole (`model.score_mask`; the penalty's norms are scaled by
all / kept); fake scores are not masked; the time-domain loss is over samples outside the hole.

Decisions, where upstream leaves a choice or does not run:
  * Warm start when the channel count equals the previous scale's (scale 2 on): upstream's original
    `scale_idx > 1`, not PR #9's `>= 1` (which would load 16-channel weights into 96-channel nets).
  * A scale whose level is shorter than the receptive field (2041 samples: the critic would score
    nothing) is dropped from the pyramid; upstream crashes there. A recording too short even at the
    finest rate is an InputError.
  * MSS resolutions whose n_fft / 2 is not shorter than a level are skipped at that level (torch's
    reflect padding fails there); at the paper's rates and lengths all three are kept.
  * Scale 1's noise amplitude with `cond_noise` is the std of the zero-padded upsampled reconstruction
    (upstream's `prev_reconstructed_signal.std()`, unbiased).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterp.data.audio import check_length, load_audio, resample, save_wav
from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_train
from jaxinterp.gen.caw import scales as caw_scales
from jaxinterp.gen.caw import store
from jaxinterp.gen.caw.config import CAWConfig
from jaxinterp.gen.caw.model import discriminator, generator, score_mask
from jaxinterp.gen.caw.sampling import frozen_prev, pad_time
from jaxinterp.gen.gan_losses import gradient_penalty, masked_mean, wgan_generator_loss
from jaxinterp.gen.metrics.audio import multi_resolution_stft_distance

METRIC_NAMES = ("d_loss", "gp", "g_adv", "rec_loss")


@dataclasses.dataclass(frozen=True)
class ScaleSpec:
    """Static description of the scale being trained (hashable: it keys the compiled programs)."""

    scale: int
    rates: tuple[int, ...]  # rates of scales 0..scale
    lengths: tuple[int, ...]  # lengths of scales 0..scale

    @property
    def length(self) -> int:
        return self.lengths[self.scale]


def spec_for(geometry: store.CAWGeometry, n: int) -> ScaleSpec:
    return ScaleSpec(n, geometry.rates[: n + 1], geometry.lengths[: n + 1])


def optimizers(cfg: CAWConfig) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Adam(1.5e-3, betas (0.5, 0.999)) for G and D, x0.1 after `lr_milestone` iterations (1 step each)."""

    def adam() -> optax.GradientTransformation:
        schedule = optax.piecewise_constant_schedule(cfg.lr, {cfg.lr_milestone: cfg.lr_gamma})
        return optax.adam(schedule, b1=cfg.beta1, b2=cfg.beta2, eps=1e-8)

    return adam(), adam()


def mss_resolutions(cfg: CAWConfig, length: int) -> tuple[tuple[int, int, int], ...]:
    """The MSS (n_fft, hop, win) usable on a level of `length` samples (see the module docstring)."""
    return tuple(r for r in zip(cfg.mss_n_fft, cfg.mss_hop, cfg.mss_win, strict=True) if r[0] // 2 < length)


def networks(cfg: CAWConfig, scale: int) -> tuple:
    return generator(cfg, scale), discriminator(cfg, scale)


def init_state(cfg: CAWConfig, spec: ScaleSpec, key: jax.Array, warm: dict | None) -> dict:
    """Fresh (or warm-started) G/D variables and optimiser states for one model at one scale."""
    if warm is not None:
        g_vars, d_vars = warm["g"], warm["d"]
    else:
        k_g, k_d = jax.random.split(key)
        padded = jnp.zeros((1, spec.length + 2 * caw_scales.padding(cfg), 1))
        init_g, init_d = pyramid_train.jitted_initialisers(networks, cfg, spec.scale, train=False)
        g_vars, d_vars = init_g(k_g, padded, padded), init_d(k_d, jnp.zeros((1, spec.length, 1)))
    return pyramid_train.train_state(g_vars, d_vars, *optimizers(cfg))


def scale_data(cfg: CAWConfig, spec: ScaleSpec, real: dict, frozen: list[dict], key: jax.Array) -> dict:
    """What stays fixed while scale n trains: the signal and its mask, the reconstruction noise (times
    the amplitude) and input, and the noise amplitude.

    `real`: {"signal": (t, 1), "mask": (t,) 1 = known sample, "noise_amp": () from the energy rule}.
    """
    signal, mask = real["signal"], real["mask"]
    k_rec, k_prev = jax.random.split(key)
    z = jax.random.normal(k_rec, signal.shape)
    if spec.scale == 0:
        amp = real["noise_amp"]
        return {**real, "noise_amp": amp, "rec_noise": amp * z, "rec_prev": jnp.zeros_like(signal)}
    rec_prev = frozen_prev(cfg, frozen, spec.rates, spec.lengths, k_prev, reconstruct=True)[0]
    amp = real["noise_amp"]
    if spec.scale == 1 and cfg.cond_noise:
        amp = jnp.std(pad_time(rec_prev[None], caw_scales.padding(cfg)), ddof=1)
    rec_noise = jnp.where(mask[:, None] > 0, 0.0, z) if cfg.mode == "inpainting" else jnp.zeros_like(signal)
    return {**real, "noise_amp": amp, "rec_noise": amp * rec_noise, "rec_prev": rec_prev}


def iteration(cfg: CAWConfig, spec: ScaleSpec, state: dict, data: dict, frozen: list[dict], model_key):
    """One CAW iteration (one critic update, then one generator update) for one model."""
    gen, critic = generator(cfg, spec.scale), discriminator(cfg, spec.scale)
    tx_g, tx_d = optimizers(cfg)
    pad = caw_scales.padding(cfg)
    alpha1, alpha2 = cfg.loss_weights()
    key = jax.random.fold_in(model_key, state["step"])
    k_noise, k_prev, k_gp = jax.random.split(key, 3)
    real = data["signal"][None]
    amp = data["noise_amp"]
    inpainting = cfg.mode == "inpainting"
    sample_mask, kept, ratio = None, None, 1.0
    if inpainting:
        sample_mask = data["mask"][None] > 0
        kept = score_mask(sample_mask, cfg.num_layers, cfg.filter_size).astype(jnp.float32)[..., None]
        ratio = kept.size / jnp.maximum(jnp.sum(kept), 1.0)
    d_stats = state["d"]["batch_stats"]
    g_params, g_stats, g_opt = state["g"]["params"], state["g"]["batch_stats"], state["g_opt"]
    d_params, d_opt = state["d"]["params"], state["d_opt"]

    def score(p, x, mask=None):
        variables = {"params": p, "batch_stats": d_stats}
        return critic.apply(variables, x, train=True, mask=mask, mutable=["batch_stats"])[0]

    def run_g(p, stats, noisy, prev):
        out, updates = gen.apply(
            {"params": p, "batch_stats": stats},
            pad_time(noisy + prev, pad),
            pad_time(prev, pad),
            train=True,
            mutable=["batch_stats"],
        )
        return out, updates["batch_stats"]

    prev = frozen_prev(cfg, frozen, spec.rates, spec.lengths, k_prev)
    noise = amp * jax.random.normal(k_noise, real.shape)
    fake, fake_vjp, g_stats = jax.vjp(lambda p: run_g(p, g_stats, noise, prev), g_params, has_aux=True)
    fake_const = jax.lax.stop_gradient(fake)

    def critic_loss(p):
        gp = gradient_penalty(lambda x: score(p, x, sample_mask), real, fake_const, k_gp, cfg.gp_weight, kept, ratio)
        loss = -masked_mean(score(p, real, sample_mask), kept) + jnp.mean(score(p, fake_const))
        return loss + gp, gp

    (d_loss, gp), d_grads = jax.value_and_grad(critic_loss, has_aux=True)(d_params)
    updates, d_opt = tx_d.update(d_grads, d_opt, d_params)
    d_params = optax.apply_updates(d_params, updates)

    g_adv, fake_grad = jax.value_and_grad(lambda f: wgan_generator_loss(score(d_params, f)))(fake)
    (adv_grads,) = fake_vjp(fake_grad)
    resolutions = mss_resolutions(cfg, spec.length)

    def reconstruction_loss(p):
        rec, stats = run_g(p, g_stats, data["rec_noise"][None], data["rec_prev"][None])
        loss = 0.0
        if alpha1 > 0:
            loss += alpha1 * masked_mean((rec - real) ** 2, None if sample_mask is None else sample_mask[..., None])
        if alpha2 > 0 and resolutions:
            loss += alpha2 * multi_resolution_stft_distance(real[..., 0], rec[..., 0], resolutions)[0]
        return loss, stats

    (rec_loss, g_stats), rec_grads = jax.value_and_grad(reconstruction_loss, has_aux=True)(g_params)
    grads = jax.tree_util.tree_map(jnp.add, adv_grads, rec_grads)
    updates, g_opt = tx_g.update(grads, g_opt, g_params)
    new_state = {
        "g": {"params": optax.apply_updates(g_params, updates), "batch_stats": g_stats},
        "d": {"params": d_params, "batch_stats": d_stats},
        "g_opt": g_opt,
        "d_opt": d_opt,
        "step": state["step"] + 1,
    }
    return new_state, dict(zip(METRIC_NAMES, (d_loss, gp, g_adv, jnp.asarray(rec_loss)), strict=True))


@dataclasses.dataclass(frozen=True)
class CAWRecipe(pyramid_train.ConfigRecipe):
    """Catch-A-Waveform for the shared pyramid trainer (`pyramid_train.Recipe`). Warm start from scale 2
    on (equal channel counts; see the module docstring)."""

    metric_names = METRIC_NAMES
    niter_field = "iterations"
    kept = ("rec_noise", "noise_amp")
    init_fn = staticmethod(init_state)
    data_fn = staticmethod(scale_data)
    iteration_fn = staticmethod(iteration)


def hole_mask(length: int, holes: Sequence[tuple[int, int]], rate: int, input_rate: int) -> np.ndarray:
    """1 for known samples, 0 inside the holes (given in samples at `input_rate`, converted to `rate`
    as upstream: int(index / input_rate * rate))."""
    mask = np.ones(length, np.float32)
    for start, end in holes:
        mask[int(start / input_rate * rate) : int(end / input_rate * rate)] = 0.0
    return mask


def prepare(
    signal: np.ndarray, rate: int, cfg: CAWConfig, holes: Sequence[tuple[int, int]] = (), source: str = "audio"
) -> tuple[store.CAWGeometry, list[dict]]:
    """The pyramid of a recording: geometry and, per scale, {"signal", "mask", "noise_amp"}.

    `signal` is at `rate` <= cfg.init_sample_rate; it is peak-normalised here (upstream `norm_factor`).

    Raises:
      InputError: silent audio, bad holes, or too short for the coarsest usable scale.
    """
    signal, peak = caw_scales.peak_normalize(signal)
    rf = caw_scales.receptive_field(cfg)
    check_length(signal, rate, rf, f"{source} (receptive field of the critic)")
    holes = tuple((int(a), int(b)) for a, b in holes)
    if cfg.mode == "inpainting":
        if not holes:
            raise InputError("inpainting needs at least one hole (--gap START END, in seconds)")
        for a, b in holes:
            if not 0 <= a < b <= len(signal):
                raise InputError(f"hole [{a}, {b}) is not inside the {len(signal)} samples of {source}")
    elif holes:
        raise InputError("holes are only used in inpainting mode")
    masked = signal * hole_mask(len(signal), holes, rate, rate)
    rates = caw_scales.choose_scales(masked, rate, cfg, holes=holes)
    levels = caw_scales.build_pyramid(signal, rate, rates)
    keep = [i for i, level in enumerate(levels) if len(level) >= rf]
    rates, levels = [rates[i] for i in keep], [levels[i] for i in keep]
    masks = [hole_mask(len(x), holes, f, rate) for x, f in zip(levels, rates, strict=True)]
    amps = caw_scales.noise_amplitudes(levels, cfg, [m > 0 for m in masks])
    geometry = store.CAWGeometry(rate, tuple(rates), tuple(len(x) for x in levels), peak, holes)
    reals = [
        {"signal": x[:, None].astype(np.float32), "mask": m, "noise_amp": np.float32(a)}
        for x, m, a in zip(levels, masks, amps, strict=True)
    ]
    return geometry, reals


def load_recording(source: str, cfg: CAWConfig) -> tuple[np.ndarray, int, str]:
    """(signal, rate, note): the recording at min(file rate, init_sample_rate), mono, <= max_length s.

    Built-in examples are rendered at their own rate (16 kHz) and resampled like a file would be (their
    synthesiser is not meant for low rates).
    """
    signal, info = load_audio(source, sample_rate=None, max_seconds=cfg.max_length)
    rate = caw_scales.working_rate(info.sample_rate, cfg)
    note = info.note()
    if rate != info.sample_rate:
        signal = resample(signal, info.sample_rate, rate)
        note += f"; resampled to {rate} Hz"
    return signal, rate, note


def train(
    source: str,
    out: str | Path,
    cfg: CAWConfig | None = None,
    *,
    holes_seconds: Sequence[tuple[float, float]] = (),
    resume: bool = False,
    show_progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Trains a CAW pyramid on one recording; returns the run folder (`out`).

    Args:
      source: an audio file (WAV, FLAC, OGG, ...) or `builtin:<name>` (music, speechlike).
      out: output folder.
      cfg: hyper-parameters (`PRESETS["paper"]` by default); `mode="inpainting"` needs `holes_seconds`.
      holes_seconds: inpainting holes (start, end) in seconds.
      resume: continue the run in `out` (finished scales are kept, a scale in progress continues from its
        last checkpoint). Without it, an existing run in `out` is an error.
      show_progress: draw a progress bar.
      on_chunk: called as on_chunk(scale, iteration) after each compiled call (hooks and tests).

    Raises:
      InputError: unreadable / empty / silent / too short audio, bad holes, or another run in `out`.
      NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint stays on disk).
    """
    cfg = cfg or CAWConfig()
    out = Path(out)
    signal, rate, _ = load_recording(source, cfg)
    holes = [(round(a * rate), round(b * rate)) for a, b in holes_seconds]
    geometry, reals = prepare(signal, rate, cfg, holes, source)

    def write(_) -> list[dict]:
        store.write_run_json(out, cfg, geometry, source)
        (out / "reals").mkdir(parents=True, exist_ok=True)
        for n, (real, f) in enumerate(zip(reals, geometry.rates, strict=True)):
            np.save(out / "reals" / f"{n:02d}.npy", real["signal"][:, 0])
            save_wav(out / "reals" / f"{n:02d}_{f}Hz.wav", real["signal"][:, 0], f)
        return reals

    pyramid_train.train_run(
        "CAW",
        cfg,
        [out],
        check=lambda _: store.check_same_config(out, cfg, geometry),
        write=write,
        plan=lambda _: pyramid_train.Plan(
            ((CAWRecipe(cfg), geometry.num_scales),), functools.partial(spec_for, geometry)
        ),
        resume=resume,
        show_progress=show_progress,
        on_chunk=on_chunk,
    )
    return out
