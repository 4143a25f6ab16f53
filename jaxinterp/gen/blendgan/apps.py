"""BlendGAN's applications: every one is the trained pyramid run under a chosen identity map.

  * morph: a spatially constant map that moves from image a (weight 1) to image b over T frames;
    every frame uses the same noise, so the frames change only through the map;
  * meld: a spatial map that picks image a where a mask is 0 and image b where it is 1 (a user
    mask, or a built-in split), with a soft seam (Gaussian blur of the mask);
  * fuse (structure-texture): image s's one-hot map at the scales below `switch_scale`, which lay
    out the global structure, and image t's at `switch_scale` and above, which set the texture.
    It needs a pyramid whose coarse scales are well below the output resolution: on `fast` (coarsest
    level at 58% of the output) the result is the structure image; the `fusion` preset (12 px
    coarsest level, fusion-aware training) fuses, best at the last or second-to-last switch scale
    (measured in train.py).

Noise: by default every application uses the reconstruction noise (each image's fixed z* at scale
0, mixed by the map, zero above), so morph's end frames are the reconstructions of a and b and
melding joins the two images' own layouts; `key` (and `reconstruct=False`) draws one random noise
realisation instead, which gives new samples with the same map.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.errors import InputError
from jaxinterp.gen.blendgan.identity import check_index, maps_per_scale, one_hot_maps, soften, two_image_map
from jaxinterp.gen.blendgan.sampling import pyramid_noises, run_pyramid
from jaxinterp.gen.blendgan.store import TrainedBlendGAN


@functools.lru_cache(maxsize=16)
def _generate_fn(cfg, shapes, scale_factor, reconstruct):
    def fn(scales, maps, key):
        noises = pyramid_noises(key, scales, shapes, maps, reconstruct)
        return run_pyramid(cfg, scales, shapes, scale_factor, noises, maps)

    return jax.jit(fn)


def generate(
    model: TrainedBlendGAN, maps: Sequence[Float[Array, "b hi wi k"]], key: Array, reconstruct: bool = True
) -> Float[Array, "b h w 3"]:
    """The pyramid under one identity map per scale (`maps[i]` at level i's size)."""
    shapes = model.geometry.shapes
    if len(maps) != len(shapes):
        raise InputError(f"need one identity map per scale ({len(shapes)}), got {len(maps)}")
    for m, hw in zip(maps, shapes, strict=True):
        if tuple(m.shape[1:]) != (*hw, model.num_images):
            raise InputError(f"identity map of shape {m.shape[1:]} where {(*hw, model.num_images)} is needed")
    fn = _generate_fn(model.config, shapes, model.geometry.scale_factor, reconstruct)
    return fn(model.scales, [jnp.asarray(m, jnp.float32) for m in maps], key)


def image_maps(model: TrainedBlendGAN, images: Sequence[int]) -> list[Float[Array, "b hi wi k"]]:
    """Spatially constant one-hot maps, one batch entry per image index, at every level."""
    indices = jnp.asarray([check_index(i, model.num_images, "image") for i in images])
    return [one_hot_maps(indices, model.num_images, hw) for hw in model.geometry.shapes]


def reconstructions(model: TrainedBlendGAN) -> Float[Array, "k h w 3"]:
    """Every training image regenerated from its own reconstruction noise (one-hot maps)."""
    return generate(model, image_maps(model, range(model.num_images)), jax.random.PRNGKey(0))


def samples(model: TrainedBlendGAN, key: Array) -> Float[Array, "k h w 3"]:
    """One random sample per training image (one-hot maps, fresh noise shared by all)."""
    return generate(model, image_maps(model, range(model.num_images)), key, reconstruct=False)


def morph(
    model: TrainedBlendGAN, a: int, b: int, frames: int, key: Array, reconstruct: bool = True
) -> Float[Array, "t h w 3"]:
    """Frames t = 0..T-1 under the constant map (1 - t/(T-1)) e_a + t/(T-1) e_b."""
    if frames < 2:
        raise InputError(f"morph needs at least 2 frames, got {frames}")
    weights = jnp.linspace(0.0, 1.0, frames)
    ends = jax.nn.one_hot(
        jnp.asarray([check_index(a, model.num_images, "--a"), check_index(b, model.num_images, "--b")]),
        model.num_images,
    )
    mixed = (1.0 - weights[:, None]) * ends[0] + weights[:, None] * ends[1]
    maps = [jnp.broadcast_to(mixed[:, None, None, :], (frames, *hw, model.num_images)) for hw in model.geometry.shapes]
    return generate(model, maps, key, reconstruct)


def meld_map(
    model: TrainedBlendGAN, mask: Float[np.ndarray, "h w"], a: int, b: int, softness: float
) -> Float[np.ndarray, "H W k"]:
    """The finest-scale map: image a where `mask` is 0, image b where it is 1, with a soft seam.

    Raises:
      InputError: an index out of range, a mask with values outside [0, 1] or NaN, or a mask whose
        aspect ratio differs from the model's by more than 10% (it is resized otherwise).
    """
    a, b = check_index(a, model.num_images, "--a"), check_index(b, model.num_images, "--b")
    mask = np.asarray(mask, np.float32)
    if mask.ndim != 2 or not np.all(np.isfinite(mask)) or mask.min() < 0 or mask.max() > 1:
        raise InputError("the mask must be one channel with values in [0, 1]")
    h, w = model.geometry.finest_hw
    ratio = (mask.shape[1] / mask.shape[0]) / (w / h)
    if not 0.9 <= ratio <= 1.1:
        raise InputError(f"mask of {mask.shape[0]}x{mask.shape[1]} px does not match the model's {h}x{w} aspect ratio")
    if mask.shape != (h, w):
        mask = np.asarray(jax.image.resize(mask, (h, w), method="linear", antialias=True))
    return two_image_map(soften(np.clip(mask, 0.0, 1.0), softness), a, b, model.num_images)


def meld(
    model: TrainedBlendGAN,
    mask: Float[np.ndarray, "h w"],
    a: int,
    b: int,
    key: Array,
    softness: float = 2.0,
    reconstruct: bool = True,
) -> tuple[Float[Array, "h w 3"], Float[np.ndarray, "h w k"]]:
    """(melded image, the finest-scale identity map used)."""
    identity = meld_map(model, mask, a, b, softness)
    maps = maps_per_scale(jnp.asarray(identity)[None], model.geometry.shapes)
    return generate(model, maps, key, reconstruct)[0], identity


def fuse(
    model: TrainedBlendGAN, structure: int, texture: int, switch_scale: int, key: Array, reconstruct: bool = True
) -> Float[Array, "h w 3"]:
    """Image `structure`'s identity at scales < `switch_scale`, image `texture`'s from there on."""
    top = model.geometry.num_scales - 1
    if not 1 <= switch_scale <= top:
        raise InputError(f"--switch-scale must be between 1 and {top} for this model (got {switch_scale})")
    coarse = image_maps(model, [structure])
    fine = image_maps(model, [texture])
    maps = coarse[:switch_scale] + fine[switch_scale:]
    return generate(model, maps, key, reconstruct)[0]
