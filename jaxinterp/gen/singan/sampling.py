"""Running a trained SinGAN pyramid: from noise (and optionally an injected image) to an image.

A scale `n` maps an upsampled image `prev` from scale n-1 and a noise map `z` to
`G_n(pad(noise_amp_n * z + prev), pad(prev))`. Scale 0 gets `prev = 0` and grayscale noise (one
Gaussian channel broadcast to RGB, as upstream). Between scales the image is resized by 1/r and cropped
to the next level's shape (`pyramid.upsample_to`). Frozen generators run with BatchNorm's running
statistics (upstream's `G.eval()`).

Everything here is a pure function of arrays plus static shapes, so the trainer calls it inside its
jitted step (the random "prev" of each critic step) and the applications jit it once per shape.
Axes: `b` samples, `h w` pixels, `c` = 3 colour channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.gen.pyramid_train import run_cascade
from jaxinterp.gen.resize import resize_by
from jaxinterp.gen.singan.config import SinGANConfig
from jaxinterp.gen.singan.model import Generator

# A trained scale as stored on disk: {"g": {"params", "batch_stats"}, "d": {...},
# "z_opt": (h, w, 3) reconstruction noise, "noise_amp": ()}.
Scale = dict


def pad_hw(x: Float[Array, "b h w c"], pad: int) -> Float[Array, "b H W c"]:
    """Zero-pads the two spatial axes by `pad` on every side (upstream's ZeroPad2d)."""
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def draw_noise(key: Array, scale: int, batch: int, hw: tuple[int, int]) -> Float[Array, "b h w 3"]:
    """Gaussian noise for scale `scale`: grayscale (broadcast to 3 channels) at scale 0, RGB above."""
    channels = 1 if scale == 0 else 3
    z = jax.random.normal(key, (batch, hw[0], hw[1], channels))
    return jnp.broadcast_to(z, (batch, hw[0], hw[1], 3))


def apply_scale(
    cfg: SinGANConfig,
    scale: int,
    g_vars: dict,
    noise: Float[Array, "b h w 3"],
    prev: Float[Array, "b h w 3"],
    noise_amp: Float[Array, ""],
) -> Float[Array, "b h w 3"]:
    """One frozen generator: G_n(pad(amp * z + prev), pad(prev)) with running BatchNorm statistics."""
    generator = Generator(cfg.channels(scale), cfg.num_layer, cfg.kernel_size)
    noisy = pad_hw(noise_amp * noise + prev, cfg.pad)
    return generator.apply(g_vars, noisy, pad_hw(prev, cfg.pad), train=False)


def run_pyramid(
    cfg: SinGANConfig,
    scales: Sequence[Scale],
    scale_ids: Sequence[int],
    shapes: Sequence[tuple[int, int]],
    scale_factor: float,
    noises: Sequence[Float[Array, "b h w 3"]],
    prev: Float[Array, "b h w 3"],
) -> Float[Array, "b h w 3"]:
    """Runs `scales` in order; `prev` enters the first one, each later one gets the upsampled output.

    Args:
      scales: trained scales to run (a suffix of a pyramid, or one scale repeated for SR).
      scale_ids: the pyramid index of each, which sets its channel count.
      shapes: output (h, w) of each; `prev` already has `shapes[0]`.
      scale_factor: r; consecutive outputs are related by a resize of 1/r and a crop.
      noises: one noise map per scale, of that scale's shape.
    """
    if not len(scales) == len(scale_ids) == len(shapes):
        raise ValueError(f"{len(scales)} scales, {len(scale_ids)} ids and {len(shapes)} shapes")
    return run_cascade(
        lambda i, scale, noise, x: apply_scale(cfg, scale_ids[i], scale["g"], noise, x, scale["noise_amp"]),
        lambda i, x: resize_by(x, 1.0 / scale_factor, out_hw=shapes[i]),
        scales,
        noises,
        prev,
    )


def pyramid_noises(
    key: Array,
    scales: Sequence[Scale],
    scale_ids: Sequence[int],
    shapes: Sequence[tuple[int, int]],
    batch: int,
    fixed_below: int = 0,
) -> list[Float[Array, "b h w 3"]]:
    """Noise per scale: the stored reconstruction noise z_opt below pyramid index `fixed_below`
    (upstream's `gen_start_scale`), fresh Gaussian noise from there on."""
    keys = jax.random.split(key, len(scales))
    noises = []
    for k, scale, scale_id, hw in zip(keys, scales, scale_ids, shapes, strict=True):
        if scale_id < fixed_below:
            noises.append(jnp.broadcast_to(scale["z_opt"], (batch, *scale["z_opt"].shape)))
        else:
            noises.append(draw_noise(k, scale_id, batch, hw))
    return noises


def random_prev(
    cfg: SinGANConfig,
    scales: Sequence[Scale],
    shapes: Sequence[tuple[int, int]],
    scale_factor: float,
    key: Array,
    batch: int = 1,
    reconstruct: bool = False,
) -> Float[Array, "b h w 3"]:
    """The input a new scale `n = len(scales)` receives: a sample (or, with `reconstruct`, the
    reconstruction from z_opt) of the frozen scales 0..n-1, upsampled to `shapes[n]` (`draw_concat`)."""
    n = len(scales)
    if n == 0:
        return jnp.zeros((batch, *shapes[0], 3))
    ids = list(range(n))
    noises = pyramid_noises(key, scales, ids, shapes[:n], batch, fixed_below=n if reconstruct else 0)
    out = run_pyramid(cfg, scales, ids, shapes[:n], scale_factor, noises, jnp.zeros((batch, *shapes[0], 3)))
    return resize_by(out, 1.0 / scale_factor, out_hw=shapes[n])
