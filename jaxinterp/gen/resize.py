"""Bicubic resizing by a scale factor, as SinGAN's MATLAB-style `imresize` does it.

SinGAN resizes with Keys' cubic kernel (a = -0.5), widened for antialiasing when shrinking, and maps
output pixel `i` to input position `(i + 0.5) / scale - 0.5` (top-left aligned). The output of a resize
by `scale` has `ceil(n * scale)` pixels and callers crop it to the next pyramid level.
`jax.image.scale_and_translate` implements exactly that kernel and mapping, so one call here is one
`imresize` + crop, computed on device inside the jitted step.

Decision (parity vs speed): the official code converts every tensor to uint8 and back around each
resize and runs it on the CPU; we keep float32 and stay on device. Borders differ slightly too: MATLAB
mirrors the image at the edge, while `scale_and_translate` renormalises the kernel over in-range taps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def resized_length(n: int, scale: float) -> int:
    """Length of an `imresize` output: ceil(n * scale), with numpy's float rounding."""
    return int(math.ceil(n * scale))


def resize_by(
    image: Float[Array, "... h w c"], scale: float, out_hw: tuple[int, int] | None = None
) -> Float[Array, "... H W c"]:
    """Resizes `image` by `scale` (both axes), then crops to `out_hw` (default: the full ceil size)."""
    h, w = image.shape[-3], image.shape[-2]
    if out_hw is None:
        out_hw = (resized_length(h, scale), resized_length(w, scale))
    shape = (*image.shape[:-3], out_hw[0], out_hw[1], image.shape[-1])
    return jax.image.scale_and_translate(
        image,
        shape,
        spatial_dims=(image.ndim - 3, image.ndim - 2),
        scale=jnp.array([scale, scale], jnp.float32),
        translation=jnp.zeros(2, jnp.float32),
        method="cubic",
        antialias=True,
    )
