"""Spatial image-identity maps: which training image's patch statistics apply where.

A map has one channel per training image (`k` = K channels), non-negative values that sum to one at
every pixel: one-hot picks an image, soft values mix them (morphing, soft seams). The generator and
the critic of every scale get the map at their own resolution (`maps_per_scale`), so a map may also
change from scale to scale (structure-texture fusion: one image's identity at the coarse scales,
another's at the fine ones).

Decisions: maps are resized with antialiased linear interpolation and renormalised (a resize must
not create negative weights or change their sum); a melding mask is softened with a Gaussian blur of
`sigma` px at the finest scale, so coarser scales see proportionally softer seams.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from scipy import ndimage

from jaxinterp.errors import InputError

SPLITS = ("left-right", "top-bottom", "diagonal", "circle")


def one_hot_maps(indices: Array, num_images: int, hw: tuple[int, int]) -> Float[Array, "b h w k"]:
    """Spatially constant one-hot maps, one per entry of `indices` (b,)."""
    onehot = jax.nn.one_hot(indices, num_images)
    return jnp.broadcast_to(onehot[:, None, None, :], (onehot.shape[0], *hw, num_images))


def normalise(identity: Float[Array, "*b h w k"]) -> Float[Array, "*b h w k"]:
    """Clips to >= 0 and rescales every pixel's weights to sum to one."""
    identity = jnp.maximum(identity, 0.0)
    return identity / jnp.maximum(jnp.sum(identity, axis=-1, keepdims=True), 1e-8)


def resize_map(identity: Float[Array, "b h w k"], hw: tuple[int, int]) -> Float[Array, "b H W k"]:
    """The map at another resolution (antialiased linear, renormalised)."""
    if tuple(identity.shape[1:3]) == tuple(hw):
        return identity
    shape = (identity.shape[0], *hw, identity.shape[-1])
    return normalise(jax.image.resize(identity, shape, method="linear", antialias=True))


def maps_per_scale(
    identity: Float[Array, "b h w k"], shapes: Sequence[tuple[int, int]]
) -> list[Float[Array, "b hi wi k"]]:
    """One finest-scale map resized to every pyramid level in `shapes`."""
    return [resize_map(identity, hw) for hw in shapes]


def split_mask(kind: str, hw: tuple[int, int]) -> Float[np.ndarray, "h w"]:
    """A built-in 0/1 mask (1 = the second image): left|right halves, top/bottom, the lower-right
    triangle, or a centred disc of half the shorter side's diameter."""
    h, w = hw
    y, x = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
    masks = {
        "left-right": x >= 0.5,
        "top-bottom": y >= 0.5,
        "diagonal": x + y >= 1.0,
        "circle": ((y - 0.5) * h) ** 2 + ((x - 0.5) * w) ** 2 <= (min(h, w) / 4) ** 2,
    }
    if kind not in masks:
        raise InputError(f"unknown split {kind!r}; choose one of: {', '.join(SPLITS)}")
    return masks[kind].astype(np.float32)


def soften(mask: Float[np.ndarray, "h w"], sigma: float) -> Float[np.ndarray, "h w"]:
    """Gaussian-blurred mask (soft seam of about `sigma` px); `sigma = 0` keeps it hard."""
    if sigma < 0:
        raise InputError(f"softness must be >= 0 px, got {sigma}")
    mask = np.asarray(mask, np.float32)
    return ndimage.gaussian_filter(mask, sigma, mode="nearest") if sigma > 0 else mask


def two_image_map(
    mask: Float[np.ndarray, "h w"], first: int, second: int, num_images: int
) -> Float[np.ndarray, "h w k"]:
    """(1 - mask) on image `first`'s channel, `mask` on image `second`'s (the same image: all on it)."""
    identity = np.zeros((*mask.shape, num_images), np.float32)
    identity[..., first] += 1.0 - mask
    identity[..., second] += mask
    return identity


def check_index(index: int, num_images: int, what: str) -> int:
    """Raises InputError unless 0 <= index < num_images."""
    if not 0 <= index < num_images:
        raise InputError(f"{what} must be an image index between 0 and {num_images - 1} (got {index})")
    return index
