"""Running a trained BlendGAN pyramid under given identity maps.

A scale n maps the upsampled image `prev` from scale n-1, a noise map `z` and the identity map `m`
at its resolution to `G_n(pad(amp(m) * z + prev), pad_edge(m), pad(prev))` (`model.py`: SinGAN's
residual generator with the map as K extra input channels and in every normalisation). The noise amplitude
is per image (each image's own 0.1 * RMSE at that scale), mixed by the map: amp(m) = sum_k m_k amp_k,
so it varies in space like the identity. The map is padded by edge replication (the border belongs
to the nearest pixel's image), the image and noise by zeros as in SinGAN.

Reconstruction noise: each image k has its own fixed scale-0 noise z*_k (zero above scale 0, as
SinGAN); under a map the scale-0 noise is sum_k m_k z*_k, so a one-hot map of image k reproduces
image k's reconstruction.

Everything here is pure and jittable (the trainer runs it inside its step).
Axes: `b` samples, `h w` pixels, `k` training images.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.gen.blendgan.config import BlendGANConfig
from jaxinterp.gen.blendgan.model import networks
from jaxinterp.gen.pyramid_train import run_cascade
from jaxinterp.gen.resize import resize_by
from jaxinterp.gen.singan.sampling import draw_noise, pad_hw

# A trained scale as stored on disk: {"g": {...}, "d": {...}, "z_opt": (k, h, w, 3), "noise_amp": (k,)}.
Scale = dict


def pad_edge(identity: Float[Array, "b h w k"], pad: int) -> Float[Array, "b H W k"]:
    return jnp.pad(identity, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")


def generator_input(
    cfg: BlendGANConfig,
    noise: Float[Array, "b h w 3"],
    prev: Float[Array, "b h w 3"],
    identity: Float[Array, "b h w k"],
    noise_amps: Float[Array, " k"],
) -> tuple[Float[Array, "b H W 3"], Float[Array, "b H W k"], Float[Array, "b H W 3"]]:
    """(padded noisy input, edge-padded map, padded prev) for G_n."""
    amp = jnp.sum(identity * noise_amps, axis=-1, keepdims=True)
    return pad_hw(amp * noise + prev, cfg.pad), pad_edge(identity, cfg.pad), pad_hw(prev, cfg.pad)


def apply_scale(
    cfg: BlendGANConfig,
    scale: int,
    g_vars: dict,
    noise: Float[Array, "b h w 3"],
    prev: Float[Array, "b h w 3"],
    identity: Float[Array, "b h w k"],
    noise_amps: Float[Array, " k"],
) -> Float[Array, "b h w 3"]:
    """One frozen generator."""
    generator, _ = networks(cfg, scale)
    return generator.apply(g_vars, *generator_input(cfg, noise, prev, identity, noise_amps))


def run_pyramid(
    cfg: BlendGANConfig,
    scales: Sequence[Scale],
    shapes: Sequence[tuple[int, int]],
    scale_factor: float,
    noises: Sequence[Float[Array, "b h w 3"]],
    maps: Sequence[Float[Array, "b h w k"]],
    prev: Float[Array, "b h w 3"] | None = None,
) -> Float[Array, "b h w 3"]:
    """Runs scales 0..len(scales)-1 with one noise and one identity map per scale (zeros enter)."""
    if prev is None:
        prev = jnp.zeros((maps[0].shape[0], *shapes[0], 3))
    return run_cascade(
        lambda i, scale, noise, x: apply_scale(cfg, i, scale["g"], noise, x, maps[i], scale["noise_amp"]),
        lambda i, x: resize_by(x, 1.0 / scale_factor, out_hw=shapes[i]),
        scales,
        noises,
        prev,
    )


def pyramid_noises(
    key: Array,
    scales: Sequence[Scale],
    shapes: Sequence[tuple[int, int]],
    maps: Sequence[Float[Array, "b h w k"]],
    reconstruct: bool,
) -> list[Float[Array, "b h w 3"]]:
    """Fresh Gaussian noise per scale (one realisation, shared by every map of the batch), or
    (`reconstruct`) the map-mixed z* at scale 0 and zeros above."""
    batch = maps[0].shape[0]
    if reconstruct:
        z0 = jnp.einsum("bhwk,khwc->bhwc", maps[0], scales[0]["z_opt"])
        return [z0] + [jnp.zeros((batch, *hw, 3)) for hw in shapes[1 : len(scales)]]
    keys = jax.random.split(key, len(scales))
    return [draw_noise(keys[i], i, 1, shapes[i]) for i in range(len(scales))]


def frozen_prev(
    cfg: BlendGANConfig,
    scales: Sequence[Scale],
    shapes: Sequence[tuple[int, int]],
    scale_factor: float,
    maps: Sequence[Float[Array, "b h w k"]],
    key: Array,
    reconstruct: bool = False,
) -> Float[Array, "b h w 3"]:
    """What a new scale n = len(scales) receives: the frozen scales' sample (or reconstruction)
    under `maps`, upsampled to `shapes[n]` (SinGAN's `draw_concat`)."""
    n = len(scales)
    batch = maps[0].shape[0]
    if n == 0:
        return jnp.zeros((batch, *shapes[0], 3))
    noises = pyramid_noises(key, scales, shapes[:n], maps, reconstruct)
    out = run_pyramid(cfg, scales, shapes[:n], scale_factor, noises, maps)
    return resize_by(out, 1.0 / scale_factor, out_hw=shapes[n])
