"""SinGAN's applications on a trained pyramid (official `random_samples.py`, `harmonization.py`,
`editing.py`, `paint2image.py`, `SR.py`, `animation.py`).

All of them are one generation routine (`generate`, upstream's `SinGAN_generate`) with different
inputs:
  * random samples: noise at every scale, optionally of another size/aspect (`scale_hw`), optionally
    following the training image's layout up to `gen_start_scale` (reconstruction noise below it);
  * harmonization / editing / paint-to-image: an image is downscaled to scale n-1, upsampled to scale
    n and injected there (`inject_start`); harmonization and editing paste the result back through a
    dilated, blurred mask (disk radius 7 / 20, Gaussian sigma 5);
  * super-resolution: the finest generator applied k times, each after a x s^(1/k) upscale, with
    k = round(log s / log 2^(1/3)) (x4 -> k = 6);
  * animation: a damped random walk in noise space (z_t = alpha z_opt + (1 - alpha)(z_{t-1} +
    beta (z_{t-1} - z_{t-2}) + (1 - beta) eps_t)), random from `start_scale` on.

Decisions: paint-to-image's `quantize` maps the paint to the training image's 5 k-means colours at the
injection scale and retrains that scale on quantised inputs first, as upstream does; super-resolution
runs on whatever pyramid it is given (upstream trains it with min_size 18 / alpha 100:
`jaxinterp singan train --sr-factor`), and animation on a pyramid trained as usual (upstream retrains
with un-padded noise for animation).
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy import ndimage

from jaxinterp.data.images import resize_uint8
from jaxinterp.errors import InputError
from jaxinterp.gen.resize import resize_by
from jaxinterp.gen.singan.sampling import draw_noise, pyramid_noises, run_pyramid
from jaxinterp.gen.singan.store import TrainedSinGAN

# run_pyramid compiled once per (config, scale ids, shapes, factor).
_run_pyramid = jax.jit(run_pyramid, static_argnums=(0, 2, 3, 4))


def _check_scale(model: TrainedSinGAN, start_scale: int, name: str, lowest: int = 1) -> None:
    top = model.geometry.num_scales - 1
    if not lowest <= start_scale <= top:
        raise InputError(f"{name} must be between {lowest} and {top} for this model (got {start_scale})")


@functools.lru_cache(maxsize=32)
def _generate_fn(cfg, scale_factor, first_scale, shapes, batch, gen_start_scale):
    def fn(scales, prev, key):
        ids = list(range(first_scale, first_scale + len(shapes)))
        noises = pyramid_noises(key, scales, ids, shapes, batch, fixed_below=gen_start_scale)
        return run_pyramid(cfg, scales, ids, shapes, scale_factor, noises, prev)

    return jax.jit(fn)


def generate(
    model: TrainedSinGAN,
    key: Array,
    *,
    num: int = 1,
    first_scale: int = 0,
    prev: Float[Array, "b h w 3"] | None = None,
    gen_start_scale: int = 0,
    scale_hw: tuple[float, float] = (1.0, 1.0),
) -> Float[Array, "b h w 3"]:
    """Runs scales `first_scale..N`; `prev` enters at `first_scale` (zeros when None).

    Scales below `gen_start_scale` use their reconstruction noise z_opt; `scale_hw` stretches every
    level (arbitrary size and aspect ratio, then only `gen_start_scale = 0` is possible).
    """
    if gen_start_scale and scale_hw != (1.0, 1.0):
        raise InputError("gen_start_scale > 0 needs the training size (scale 1, 1): z_opt has that shape")
    if min(scale_hw) <= 0:
        raise InputError(f"size scale must be positive, got {scale_hw}")
    shapes = tuple(
        (max(1, round(h * scale_hw[0])), max(1, round(w * scale_hw[1]))) for h, w in model.geometry.shapes[first_scale:]
    )
    if min(shapes[0]) < 2 * model.config.pad + 1:
        raise InputError(f"output too small: the coarsest scale would be {shapes[0]} px")
    if prev is None:
        prev = jnp.zeros((num, *shapes[0], 3))
    fn = _generate_fn(model.config, model.geometry.scale_factor, first_scale, shapes, num, gen_start_scale)
    return fn(model.scales[first_scale:], prev, key)


def random_samples(
    model: TrainedSinGAN,
    key: Array,
    num: int = 8,
    gen_start_scale: int = 0,
    scale_hw: tuple[float, float] = (1.0, 1.0),
) -> Float[Array, "b h w 3"]:
    """Random samples from scale `gen_start_scale` on, of size `scale_hw` x the training image."""
    _check_scale(model, gen_start_scale, "gen_start_scale", lowest=0)
    return generate(model, key, num=num, gen_start_scale=gen_start_scale, scale_hw=scale_hw)


def reconstruction(model: TrainedSinGAN) -> Float[Array, "h w 3"]:
    """The training image as the pyramid reconstructs it from z_opt (a check of training)."""
    top = model.geometry.num_scales
    return generate(model, jax.random.PRNGKey(0), gen_start_scale=top)[0]


def to_finest(model: TrainedSinGAN, image: Float[np.ndarray, "h w c"], what: str) -> np.ndarray:
    """Brings a user image of the input's size (or the finest scale's size) to the finest scale."""
    finest, given = model.geometry.finest_hw, tuple(image.shape[:2])
    if given == finest:
        return np.asarray(image)
    if given == tuple(model.geometry.input_hw):
        return resize_uint8(image, finest) if image.ndim == 3 else _resize_mask(image, finest)
    raise InputError(
        f"{what} is {given[0]}x{given[1]} px; it must match the training image "
        f"({model.geometry.input_hw[0]}x{model.geometry.input_hw[1]}) or its finest scale ({finest[0]}x{finest[1]})"
    )


def _resize_mask(mask: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    zoom = (hw[0] / mask.shape[0], hw[1] / mask.shape[1])
    return np.clip(ndimage.zoom(mask, zoom, order=1)[: hw[0], : hw[1]], 0.0, 1.0)


def inject_start(model: TrainedSinGAN, image_finest: np.ndarray, start_scale: int) -> Float[Array, "1 h w 3"]:
    """The image as scale `start_scale` receives it: down to scale n-1, then one step up (upstream)."""
    shapes, r = model.geometry.shapes, model.geometry.scale_factor
    top = model.geometry.num_scales - 1
    low = resize_by(jnp.asarray(image_finest)[None], math.pow(r, top - start_scale + 1), out_hw=shapes[start_scale - 1])
    return resize_by(low, 1.0 / r, out_hw=shapes[start_scale])


def soft_mask(mask_finest: np.ndarray, radius: int, sigma: float = 5.0) -> np.ndarray:
    """Binary dilation with a disk of `radius`, Gaussian blur, then rescaled to [0, 1] (upstream)."""
    binary = mask_finest > 0.5
    if not binary.any():
        raise InputError("the mask is empty: paint the region to change in white")
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    dilated = ndimage.binary_dilation(binary, structure=(yy**2 + xx**2) <= radius**2)
    blurred = ndimage.gaussian_filter(dilated.astype(np.float32), sigma)
    span = blurred.max() - blurred.min()
    return ((blurred - blurred.min()) / span if span > 0 else np.ones_like(blurred))[..., None]


def blend_injected(
    model: TrainedSinGAN, image: np.ndarray, mask: np.ndarray, start_scale: int, key: Array, radius: int
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonization (radius 7) and editing (radius 20): returns (generated, blended into the real)."""
    _check_scale(model, start_scale, "start_scale")
    if mask.shape[:2] != image.shape[:2]:
        raise InputError(
            f"the mask is {mask.shape[0]}x{mask.shape[1]} px but the image is {image.shape[0]}x{image.shape[1]}"
        )
    image = to_finest(model, image, "the image")
    weights = soft_mask(to_finest(model, mask, "the mask"), radius)
    prev = inject_start(model, image, start_scale)
    # Clipped to the image range before blending (upstream blends unclipped, then clips on saving).
    out = np.clip(np.asarray(generate(model, key, first_scale=start_scale, prev=prev)[0]), -1.0, 1.0)
    real = model.reals[-1]
    return out, (1.0 - weights) * real + weights * out


def harmonize(model, image, mask, start_scale, key):
    """Pastes a naive composite's masked object into the training image's style."""
    return blend_injected(model, image, mask, start_scale, key, radius=7)


def edit(model, image, mask, start_scale, key):
    """Makes an edited region (e.g. moved/duplicated parts) blend with the training image."""
    return blend_injected(model, image, mask, start_scale, key, radius=20)


def kmeans_colors(pixels: np.ndarray, k: int = 5, iters: int = 20, seed: int = 0) -> np.ndarray:
    """k-means (Lloyd) on RGB pixels; returns k centres (upstream uses sklearn KMeans with 5)."""
    rng = np.random.default_rng(seed)
    centres = pixels[rng.choice(len(pixels), size=k, replace=False)]
    for _ in range(iters):
        labels = np.argmin(((pixels[:, None] - centres[None]) ** 2).sum(-1), axis=1)
        centres = np.stack([pixels[labels == j].mean(0) if (labels == j).any() else centres[j] for j in range(k)])
    return centres


def paint_to_image(model, paint, start_scale, key, quantize: bool = False, show_progress: bool = False) -> np.ndarray:
    """Turns a rough colour paint into a realistic image in the training image's style.

    With `quantize` (upstream `--quantization_flag`) the paint is mapped to the training image's 5
    k-means colours at the injection scale, and that scale is first retrained on inputs quantised to
    the same colours (`train.train_paint_scale`, cached in the run folder).
    """
    _check_scale(model, start_scale, "start_scale")
    paint = to_finest(model, paint, "the paint image")
    if quantize:
        from jaxinterp.gen.singan.train import train_paint_scale

        centres = kmeans_colors(model.reals[start_scale].reshape(-1, 3)).astype(np.float32)
        labels = np.argmin(((paint.reshape(-1, 1, 3) - centres[None]) ** 2).sum(-1), axis=1)
        paint = centres[labels].reshape(paint.shape).astype(np.float32)
        scales = list(model.scales)
        scales[start_scale] = train_paint_scale(model, start_scale, centres, show_progress=show_progress)
        model = dataclasses.replace(model, scales=scales)
    prev = inject_start(model, paint, start_scale)
    return np.asarray(generate(model, key, first_scale=start_scale, prev=prev)[0])


def super_resolution_steps(factor: float) -> tuple[int, float]:
    """(k, s^(1/k)) with k = round(log(1/s) / log((1/2)^(1/3))) (upstream `calc_init_scale`)."""
    if factor <= 1:
        raise InputError(f"super-resolution factor must be > 1, got {factor}")
    k = max(1, round(math.log(1 / factor, math.pow(0.5, 1 / 3))))
    return k, math.pow(factor, 1 / k)


def super_resolve(model: TrainedSinGAN, factor: float, key: Array) -> np.ndarray:
    """Upscales the training image by `factor` by applying the finest generator k times."""
    k, step = super_resolution_steps(factor)
    top = model.geometry.num_scales - 1
    shapes, hw = [], model.geometry.finest_hw
    for _ in range(k):
        hw = (math.ceil(hw[0] * step), math.ceil(hw[1] * step))
        shapes.append(hw)
    keys = jax.random.split(key, k)
    noises = [draw_noise(keys[j], 0 if j == 0 else top, 1, shapes[j]) for j in range(k)]
    prev = resize_by(jnp.asarray(model.reals[-1])[None], step)
    out = _run_pyramid(model.config, [model.scales[-1]] * k, (top,) * k, tuple(shapes), 1.0 / step, noises, prev)
    h, w = model.geometry.finest_hw
    return np.asarray(out[0, : int(factor * h), : int(factor * w)])


def animate(
    model: TrainedSinGAN, key: Array, frames: int = 100, alpha: float = 0.1, beta: float = 0.9, start_scale: int = 2
) -> np.ndarray:
    """A looping video: a damped random walk around z_opt from `start_scale` on (upstream generate_gif)."""
    _check_scale(model, start_scale, "start_scale", lowest=0)
    shapes = model.geometry.shapes
    noises = []
    for n, (scale, k) in enumerate(zip(model.scales, jax.random.split(key, len(shapes)), strict=True)):
        z_opt = jnp.asarray(scale["z_opt"])
        if n < start_scale:
            noises.append(jnp.broadcast_to(z_opt, (frames, *z_opt.shape)))
            continue
        k0, k_walk = jax.random.split(k)
        first = 0.95 * z_opt + 0.05 * draw_noise(k0, n, 1, shapes[n])[0]

        def step(carry, eps, z_opt=z_opt):
            z1, z2 = carry
            z = alpha * z_opt + (1 - alpha) * (z1 + beta * (z1 - z2) + (1 - beta) * eps)
            return (z, z1), z

        eps = draw_noise(k_walk, n, frames, shapes[n])
        noises.append(jax.lax.scan(step, (first, z_opt), eps)[1])
    ids = tuple(range(len(shapes)))
    out = _run_pyramid(
        model.config, model.scales, ids, shapes, model.geometry.scale_factor, noises, jnp.zeros((frames, *shapes[0], 3))
    )
    return np.asarray(out)
