"""IDC's masks: which pixels are known at every pyramid level, which critic scores see only known
pixels, and the hole's dilation used when sampling.

Convention: the user's mask PNG is white (> `mask_threshold`) in the hole, the region to complete; the
arrays here are `known` maps, 1 = visible pixel, 0 = hole.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.errors import InputError
from jaxinterp.gen.layers import erode_valid
from jaxinterp.gen.pyramid import PyramidGeometry, build_pyramid


def known_from_mask(mask: Float[np.ndarray, "h w"], image_hw: tuple[int, int], threshold: float) -> np.ndarray:
    """The known map (1 = visible) of a mask image (white = hole), checked against the image.

    Raises:
      InputError: the mask's size differs from the image's, the hole is empty, or it covers everything.
    """
    if tuple(mask.shape) != tuple(image_hw):
        raise InputError(
            f"mask is {mask.shape[0]}x{mask.shape[1]} px but the image is {image_hw[0]}x{image_hw[1]} px; "
            "they must be the same size"
        )
    hole = mask > threshold
    if not hole.any():
        raise InputError("the mask is empty (no pixel above the threshold): paint the hole to complete in white")
    if hole.all():
        raise InputError("the mask covers the whole image: IDC needs a visible region to learn from")
    return (~hole).astype(np.float32)


def known_pyramid(known: Float[np.ndarray, "h w"], geometry: PyramidGeometry, threshold: float) -> list[np.ndarray]:
    """Known map per level: the resized known map, 1 where it is >= `threshold` (fully visible pixels)."""
    levels = build_pyramid(jnp.asarray(known)[..., None], geometry)
    return [(np.asarray(level)[..., 0] >= threshold).astype(np.float32) for level in levels]


def score_mask(known: Float[Array, "h w"], receptive_field: int) -> Float[Array, "h2 w2 1"]:
    """1 at the critic scores whose receptive field (a VALID window) holds only known pixels."""
    return erode_valid(known, receptive_field)[..., None]


def dilate_hole(known: Float[Array, "h w"], radius: int) -> Float[Array, "h w"]:
    """The hole (1 - known) grown by `radius` pixels (a square window)."""
    hole = 1.0 - known
    if radius <= 0:
        return hole
    size = 2 * radius + 1
    return jax.lax.reduce_window(hole, -jnp.inf, jax.lax.max, (size, size), (1, 1), "SAME")


def receptive_field(num_layer: int, kernel_size: int) -> int:
    """Receptive field of `num_layer` unpadded k x k convolutions: 1 + num_layer * (k - 1) (11 for SinGAN)."""
    return 1 + num_layer * (kernel_size - 1)
