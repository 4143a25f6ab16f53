"""IDC's masks: which pixels are known at every pyramid level, which critic scores see only known
pixels, the reconstruction loss's per-pixel weight, and the hole's dilation used when sampling.

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


def disk(radius: int) -> np.ndarray:
    """The 0/1 disk structuring element: offsets (dy, dx) with dy^2 + dx^2 <= radius^2."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return (y**2 + x**2 <= radius**2).astype(np.float32)


def gaussian_blur(image: Float[Array, "h w"], sigma: float, truncate: float = 4.0) -> Float[Array, "h w"]:
    """Gaussian blur with edge-replicated borders, the kernel cut at `truncate` sigmas (scipy's
    `gaussian_filter(mode="nearest")`, which upstream's `skimage.filters.gaussian` calls)."""
    radius = int(truncate * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = jnp.asarray(taps / taps.sum(), jnp.float32)
    padded = jnp.pad(image, radius, mode="edge")
    rows = jax.vmap(lambda r: jnp.convolve(r, taps, mode="valid"))(padded)
    return jax.vmap(lambda c: jnp.convolve(c, taps, mode="valid"), in_axes=1, out_axes=1)(rows)


def reconstruction_weight(known: Float[Array, "h w"], scale: int, sigma: float, max_radius: int) -> Float[Array, "h w"]:
    """IDC's gradually dilated reconstruction mask at pyramid level `scale` (0 = coarsest): the hole is
    dilated by a disk of radius min(scale, max_radius) (so the dilation grows over the first scales),
    blurred with a Gaussian of `sigma` px, scaled to [0, 1] by its min and max over the image, and
    subtracted from 1; hole pixels get 0. Visible pixels near the hole thus weigh less, far ones 1
    (upstream `dilate_mask(..., dilation=min(num_scale, 5), sigma_gaus=5)`)."""
    hole = 1.0 - known
    radius = min(scale, max_radius)
    if radius > 0:
        element = jnp.asarray(disk(radius))[..., None, None]
        spread = jax.lax.conv_general_dilated(
            hole[None, ..., None], element, (1, 1), [(radius, radius)] * 2, dimension_numbers=("NHWC", "HWIO", "NHWC")
        )[0, ..., 0]
        hole = (spread > 0.5).astype(jnp.float32)
    blurred = gaussian_blur(hole, sigma)
    low, high = jnp.min(blurred), jnp.max(blurred)
    scaled = jnp.where(high > low, (blurred - low) / jnp.where(high > low, high - low, 1.0), blurred)
    return (1.0 - scaled) * known


# Upstream `calc_scale_to_start_masking`: the first scale whose critic windows are mostly usable.
FIRST_SCALE_MAX_HOLE = 0.25  # at scale 0: masked if < 25% of the critic's windows touch the hole ...
LATER_SCALE_MAX_HOLE = 0.60  # ... at a later scale: if < 60% do ...
LATER_SCALE_MIN_WINDOWS = 5000  # ... or > 5000 windows are fully visible.


def first_masked_scale(knowns: list[Float[np.ndarray, "h w"]], receptive_field: int) -> int:
    """Upstream's `scale_to_start_masking`: the first level (0 = coarsest) whose RF-eroded known map (the
    critic windows that see only visible pixels) is large enough; the finest level if none is. Levels
    below it are pre-filled (`prefill.py`) and trained as plain SinGAN."""
    for n, known in enumerate(knowns):
        windows = np.asarray(score_mask(jnp.asarray(known), receptive_field))
        touched = 1.0 - float(windows.mean())
        if n == 0 and touched < FIRST_SCALE_MAX_HOLE:
            return 0
        if n > 0 and (touched < LATER_SCALE_MAX_HOLE or windows.sum() > LATER_SCALE_MIN_WINDOWS):
            return n
    return len(knowns) - 1


def receptive_field(num_layer: int, kernel_size: int) -> int:
    """Receptive field of `num_layer` unpadded k x k convolutions: 1 + num_layer * (k - 1) (11 for SinGAN)."""
    return 1 + num_layer * (kernel_size - 1)
