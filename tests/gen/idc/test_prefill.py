"""IDC's Deep-Image-Prior pre-fill: the colour loss's exact value, the depth rule, a fit that goes down
and leaves the visible pixels alone, and the coarse levels filled by resizing."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.gen.idc import prefill
from jaxinterp.gen.idc.config import PRESETS
from jaxinterp.gen.idc.train import prepare

TINY = PRESETS["tiny"]


def test_fit_loss_is_visible_mse_plus_nearest_colour_term():
    image = jnp.zeros((2, 2, 3)).at[0, 0].set(0.5).at[0, 1].set(-0.5)
    known = jnp.array([[1.0, 1.0], [0.0, 1.0]])
    palette = jnp.array([[0.5, 0.5, 0.5], [-0.5, -0.5, -0.5]])
    out = image.at[0, 0].set(0.3).at[1, 0].set(0.4)  # one visible error of 0.2, hole pixel at 0.4
    total, (fit, colour) = prefill.fit_loss(out, image, known, palette, 0.05)
    assert fit == pytest.approx(3 * 0.2**2 / 12)  # mean over all 4 pixels x 3 channels
    assert colour == pytest.approx(0.1**2)  # nearest colour 0.5: 0.1 away in every channel
    assert total == pytest.approx(fit + 0.05 * colour)


def test_depth_rule_follows_upstream():
    assert [prefill.net_depth(hw) for hw in ((25, 38), (24, 30), (15, 40), (6, 6))] == [3, 3, 2, 1]


def test_fit_goes_down_and_keeps_visible_pixels(idc_inputs):
    geometry, reals, start = prepare(*map(str, idc_inputs), TINY)
    assert start == 1  # the hole touches 60% of scale 0's critic windows: scale 0 is pre-filled
    image, known = reals[0]["image"], reals[0]["known"]
    filled, losses = prefill.fit_hole(image, known, TINY.replace(dip_iters=30), jax.random.PRNGKey(0))
    chex.assert_shape(filled, image.shape)
    assert len(losses) == 30 and np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    np.testing.assert_array_equal(filled[known == 1], image[known == 1])
    hole = filled[known == 0]
    assert np.abs(hole).max() <= 1.0 and np.std(hole) > 0.01  # the blank hole now holds content


def test_compiled_chunks_replay_single_steps(idc_inputs, monkeypatch):
    """Iteration i draws its noise from fold_in(key, i): chunks of 3 steps in one lax.scan (the GPU/TPU
    path) + a remainder step give the losses and the fill of 7 single-step calls."""
    _, reals, _ = prepare(*map(str, idc_inputs), TINY)
    cfg = TINY.replace(dip_iters=7)
    single = prefill.fit_hole(reals[0]["image"], reals[0]["known"], cfg, jax.random.PRNGKey(1))
    monkeypatch.setattr(prefill.pyramid_train, "iterations_per_call", lambda cfg: 3)
    chunked = prefill.fit_hole(reals[0]["image"], reals[0]["known"], cfg, jax.random.PRNGKey(1))
    np.testing.assert_allclose(chunked[1], single[1], rtol=1e-4)
    np.testing.assert_allclose(chunked[0], single[0], atol=1e-4)


def test_fill_coarse_pastes_the_fill_into_coarser_holes(idc_inputs, tmp_path, monkeypatch):
    """With start = 2 the fit runs on level 1 (here a stub returning 0.25 everywhere) and is resized into
    level 0; only hole pixels take it. The fit is cached in prefill.npy (+ a PNG) and read back."""
    geometry, reals, _ = prepare(*map(str, idc_inputs), TINY)
    calls = []

    def stub(image, known, cfg, key, show_progress=False):
        calls.append(image.shape)
        return np.full_like(image, 0.25), []

    monkeypatch.setattr(prefill, "fit_hole", stub)
    out = prefill.fill_coarse(reals, 2, geometry, TINY, tmp_path / "prefill.npy")
    assert calls == [(32, 32, 3)] and (tmp_path / "prefill.png").is_file()
    for level, real in zip(out, reals, strict=True):
        visible = real["known"] == 1
        np.testing.assert_array_equal(level["image"][visible], real["image"][visible])
        np.testing.assert_allclose(level["image"][~visible], 0.25, atol=1e-6)
        assert (~visible).sum() > 40
    prefill.fill_coarse(reals, 2, geometry, TINY, tmp_path / "prefill.npy")
    assert len(calls) == 1  # read back from the cache
