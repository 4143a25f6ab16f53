"""Multi-scale image pyramids with SinGAN's geometry rule.

SinGAN (Rott Shaham et al., 2019; official `adjust_scales2image` + `creat_reals_pyramid`):
1. the input is first resized by `scale1 = min(max_size / max(H, W), 1)` so its longer side is at most
   `max_size` (250);
2. the number of scales is `ceil(log(min_size / min(H, W)) / log(r0)) + 1` with `r0 = 0.75`, minus the
   scales skipped by the `max_size` cap, giving `stop_scale` (the index of the finest scale);
3. the actual factor is re-solved so that the coarsest level's shorter side is exactly `min_size` (25):
   `r = (min_size / min(h, w)) ** (1 / stop_scale)`;
4. level `i` (0 = coarsest) is the image resized by `r ** (stop_scale - i)`, with `ceil` sizes.
For 250 x 250 this gives 11 levels from 25 to 250 px and r ~= 0.794.

The same arithmetic (float `math.log`/`math.pow` and `ceil`) is used so shapes equal upstream's, which
matters for comparing SIFID with published numbers. The SR variant truncates with `int` instead of
`ceil` (official `adjust_scales2image_SR`); upstream there divides by the batch size instead of the
width in one place, a bug we do not reproduce (we use max(H, W)).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.errors import InputError
from jaxinterp.gen.resize import resize_by, resized_length


@dataclasses.dataclass(frozen=True)
class PyramidGeometry:
    """Where every level of a pyramid sits.

    Attributes:
      input_hw: size of the user's image.
      input_scale: factor applied to the input before the pyramid (`scale1`, <= 1).
      scale_factor: ratio between consecutive levels (`r`, < 1).
      shapes: (h, w) of each level, coarsest first; `shapes[-1]` is the finest (resized input).
    """

    input_hw: tuple[int, int]
    input_scale: float
    scale_factor: float
    shapes: tuple[tuple[int, int], ...]

    @property
    def num_scales(self) -> int:
        return len(self.shapes)

    @property
    def finest_hw(self) -> tuple[int, int]:
        return self.shapes[-1]


def singan_geometry(
    input_hw: tuple[int, int],
    *,
    min_size: int = 25,
    max_size: int = 250,
    scale_factor_init: float = 0.75,
    truncate: Callable[[float], int] = math.ceil,
) -> PyramidGeometry:
    """The official SinGAN pyramid rule; `truncate=int` gives the SR variant's rounding.

    Raises:
      InputError: the image's shorter side (after the `max_size` cap) is below `min_size`.
    """
    h, w = input_hw
    input_scale = min(max_size / max(h, w), 1.0)
    hw = (resized_length(h, input_scale), resized_length(w, input_scale))
    if min(hw) <= min_size:
        raise InputError(
            f"image of {h}x{w} px is too small: its shorter side must exceed the coarsest scale's "
            f"{min_size} px (after capping the longer side at {max_size} px it is {min(hw)} px)"
        )
    num_scales = truncate(math.log(min_size / min(h, w), scale_factor_init)) + 1
    scales_to_stop = truncate(math.log(min(max_size, max(h, w)) / max(h, w), scale_factor_init))
    stop_scale = num_scales - scales_to_stop
    scale_factor = math.pow(min_size / min(hw), 1 / stop_scale)
    shapes = tuple(
        (
            resized_length(hw[0], math.pow(scale_factor, stop_scale - i)),
            resized_length(hw[1], math.pow(scale_factor, stop_scale - i)),
        )
        for i in range(stop_scale + 1)
    )
    return PyramidGeometry(input_hw=(h, w), input_scale=input_scale, scale_factor=scale_factor, shapes=shapes)


def build_pyramid(image: Float[Array, "h w c"], geometry: PyramidGeometry) -> list[Float[Array, "hi wi c"]]:
    """Resizes the input to every level of `geometry` (coarsest first), like `creat_reals_pyramid`."""
    if tuple(image.shape[:2]) != geometry.input_hw:
        raise InputError(f"image is {image.shape[0]}x{image.shape[1]}, geometry expects {geometry.input_hw}")
    finest = resize_by(jnp.asarray(image), geometry.input_scale) if geometry.input_scale < 1 else jnp.asarray(image)
    stop = geometry.num_scales - 1
    return [
        resize_by(finest, math.pow(geometry.scale_factor, stop - i), out_hw=shape) if i < stop else finest
        for i, shape in enumerate(geometry.shapes)
    ]


def upsample_to(image: Float[Array, "... h w c"], geometry: PyramidGeometry, out_hw: tuple[int, int]):
    """One step up the pyramid: resize by 1/r and crop to the next level's shape (`draw_concat`)."""
    return resize_by(image, 1.0 / geometry.scale_factor, out_hw=out_hw)
