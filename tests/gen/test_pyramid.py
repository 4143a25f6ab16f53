"""Pyramid geometry (official SinGAN rule) and the MATLAB-style resize."""

import math

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.errors import InputError
from jaxinterp.gen.pyramid import build_pyramid, singan_geometry
from jaxinterp.gen.resize import resize_by


def test_250px_pyramid_has_official_sizes():
    # Official adjust_scales2image on 250x250: num_scales = ceil(log(0.1)/log(0.75)) + 1 = 10,
    # stop_scale = 10, r = 0.1 ** (1/10); level i = ceil(250 * r ** (10 - i)).
    geometry = singan_geometry((250, 250))
    sides = [25, 32, 40, 50, 63, 80, 100, 126, 158, 199, 250]
    assert geometry.shapes == tuple((s, s) for s in sides)
    assert geometry.num_scales == 11
    assert geometry.scale_factor == pytest.approx(0.7943282347242815, abs=1e-12)
    assert geometry.input_scale == 1.0


def test_large_non_square_image_is_capped_then_pyramided():
    # 500x300: scale1 = 250/500 = 0.5 -> 250x150; num_scales = ceil(log(25/300)/log .75) + 1 = 10;
    # scales_to_stop = ceil(log(250/500)/log .75) = 3 -> stop_scale = 7; r = (25/150) ** (1/7).
    geometry = singan_geometry((500, 300))
    r = (25 / 150) ** (1 / 7)
    assert geometry.input_scale == 0.5
    assert geometry.scale_factor == pytest.approx(r)
    assert geometry.num_scales == 8
    assert geometry.shapes[-1] == (250, 150)
    assert geometry.shapes[0][1] == 25
    assert geometry.shapes[3] == (math.ceil(250 * r**4), math.ceil(150 * r**4))


def test_too_small_image_is_an_input_error():
    with pytest.raises(InputError, match="too small"):
        singan_geometry((24, 40))


def test_build_pyramid_shapes_follow_geometry():
    geometry = singan_geometry((60, 90), max_size=60, min_size=20)
    levels = build_pyramid(jnp.zeros((60, 90, 3)), geometry)
    for level, shape in zip(levels, geometry.shapes, strict=True):
        chex.assert_shape(level, (*shape, 3))


def _matlab_resize_1d(x: np.ndarray, scale: float, out_len: int) -> np.ndarray:
    """Independent numpy version of MATLAB imresize (cubic, antialias when shrinking) along axis 0,
    interior only (no boundary handling: taps must fall inside)."""

    def cubic(t):
        a = np.abs(t)
        return np.where(a <= 1, 1.5 * a**3 - 2.5 * a**2 + 1, np.where(a <= 2, -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2, 0))

    width = 4.0 / scale if scale < 1 else 4.0
    out = np.full((out_len, *x.shape[1:]), np.nan)
    for i in range(out_len):
        u = (i + 0.5) / scale - 0.5
        taps = np.arange(math.floor(u - width / 2), math.ceil(u + width / 2) + 1)
        if taps[0] < 0 or taps[-1] >= len(x):
            continue
        w = cubic((u - taps) * scale) * scale if scale < 1 else cubic(u - taps)
        out[i] = np.tensordot(w / w.sum(), x[taps], axes=1)
    return out


@pytest.mark.parametrize("scale", [0.75, 1 / 0.75])
def test_resize_matches_matlab_cubic_in_the_interior(scale):
    rng = np.random.default_rng(0)
    image = rng.uniform(-1, 1, size=(40, 40, 3)).astype(np.float32)
    ours = np.asarray(resize_by(jnp.asarray(image), scale))
    h = math.ceil(40 * scale)
    chex.assert_shape(ours, (h, h, 3))
    ref = _matlab_resize_1d(image, scale, h)
    ref = np.moveaxis(_matlab_resize_1d(np.moveaxis(ref, 1, 0), scale, h), 0, 1)
    inside = ~np.isnan(ref)
    assert inside.sum() > 0.3 * ref.size
    np.testing.assert_allclose(ours[inside], ref[inside], atol=1e-4)
