"""SinGAN's pixel-diversity score of a set of generated samples.

Definition (Rott Shaham et al. 2019, section 4.2): "for each training example we calculated the
standard deviation (std) of the intensity values of each pixel over 100 generated images, averaged
it over all pixels, and normalized by the std of the intensity values of the training image."

    diversity = mean_{pixels p} std_{samples i}(fake_i[p]) / std_{pixels p}(real[p])

It is 0 when all samples are equal (e.g. reconstructions) and grows with how much samples vary
pixel by pixel; the normalisation makes images of different contrast comparable. The paper reports
0.5 when sampling from the coarsest scale and 0.35 from the second-coarsest ("N-1"). It measures
variation, not quality: pure noise scores high, so read it next to SWD / SIFID.

Decisions (the paper leaves them open and we found no diversity code in the official repository):
* "Intensity": by default every colour channel value is an intensity, so the per-pixel std is taken
  per channel and averaged over pixels and channels, and the real image's std is over all its
  values. `grayscale=True` instead converts both to luma (ITU-R BT.601: 0.299 R + 0.587 G +
  0.114 B, what `cv2.COLOR_BGR2GRAY` computes) first, as some re-implementations do.
* Population std (ddof = 0) for both, as `np.std`.
* The score is invariant to any common affine map of intensities, so [-1, 1] inputs give the same
  value as [0, 255] ones.
* The fakes must share one size (pixels are compared across samples); the real image may have
  another size, since only its std is used.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.errors import InputError

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def to_luma(images: Float[Array, "... h w 3"]) -> Float[Array, "... h w 1"]:
    """ITU-R BT.601 luma, keeping a channel axis of 1."""
    return jnp.tensordot(images, jnp.asarray(LUMA_WEIGHTS, images.dtype), axes=([-1], [0]))[..., None]


@jax.jit
def _diversity(real: Float[Array, "h w c"], fakes: Float[Array, "n H W c"]) -> Float[Array, ""]:
    return jnp.mean(jnp.std(fakes, axis=0)) / jnp.std(real)


def diversity(real: Float[Array, "h w c"], fakes: Float[Array, "n H W c"], *, grayscale: bool = False) -> float:
    """Mean per-pixel std across `fakes`, divided by the std of `real`'s intensities.

    Args:
      real: the training image.
      fakes: at least two generated samples of one size.
      grayscale: convert RGB to luma first (see module docstring); default uses all channels.

    Returns:
      The diversity score (0 for identical samples).

    Raises:
      InputError: wrong ranks, fewer than two fakes, mismatched channels, RGB needed for
        `grayscale`, or a constant real image (its std is 0).
    """
    real = jnp.asarray(real, jnp.float32)
    fakes = jnp.asarray(fakes, jnp.float32)
    if real.ndim != 3 or fakes.ndim != 4:
        raise InputError(f"expected real 'h w c' and fakes 'n h w c', got shapes {real.shape} and {fakes.shape}")
    if fakes.shape[0] < 2:
        raise InputError(f"diversity needs at least two samples, got {fakes.shape[0]}")
    if real.shape[-1] != fakes.shape[-1]:
        raise InputError(f"real has {real.shape[-1]} channels, fakes have {fakes.shape[-1]}")
    if grayscale:
        if real.shape[-1] != 3:
            raise InputError(f"grayscale=True needs RGB images, got {real.shape[-1]} channels")
        real, fakes = to_luma(real), to_luma(fakes)
    if float(jnp.std(real)) == 0.0:
        raise InputError("the real image is constant (std 0), so diversity is undefined")
    return float(_diversity(real, fakes))
