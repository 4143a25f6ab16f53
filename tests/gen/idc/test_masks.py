"""IDC masks and completion measures: exact answers on small arrays."""

import functools

import chex
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.errors import InputError
from jaxinterp.gen.idc import complete, masks


def test_known_from_mask_marks_white_as_hole_and_rejects_bad_masks():
    mask = np.zeros((6, 5), np.float32)
    mask[2:4, 1:3] = 1.0
    known = masks.known_from_mask(mask, (6, 5), 0.5)
    assert known.sum() == 30 - 4 and known[2, 1] == 0 and known[0, 0] == 1
    with pytest.raises(InputError, match="same size"):
        masks.known_from_mask(mask, (5, 6), 0.5)
    with pytest.raises(InputError, match="empty"):
        masks.known_from_mask(np.zeros((6, 5)), (6, 5), 0.5)
    with pytest.raises(InputError, match="whole image"):
        masks.known_from_mask(np.ones((6, 5)), (6, 5), 0.5)


def test_score_mask_is_the_erosion_by_the_receptive_field():
    known = np.ones((15, 12), np.float32)
    known[7, 4] = 0.0
    rf = masks.receptive_field(1, 3)
    assert masks.receptive_field(5, 3) == 11  # SinGAN's 5 unpadded 3x3 convs
    scores = np.asarray(masks.score_mask(jnp.asarray(known), rf))
    chex.assert_shape(scores, (13, 10, 1))
    expected = np.array([[known[i : i + 3, j : j + 3].min() for j in range(10)] for i in range(13)])
    np.testing.assert_array_equal(scores[..., 0], expected)
    assert scores.sum() == 13 * 10 - 9


@pytest.mark.parametrize("scale", [0, 2, 7])
def test_reconstruction_weight_matches_skimage_dilation_and_blur(scale):
    """Upstream's recipe with scikit-image: disk dilation by min(scale, 5), Gaussian sigma 5, min-max, 1 - it."""
    from skimage import filters, morphology

    known = np.ones((30, 41), np.float32)
    known[8:15, 20:29] = 0.0
    known[25, 3] = 0.0
    hole = known == 0
    radius = min(scale, 5)
    dilated = morphology.dilation(hole, morphology.disk(radius)) if radius else hole
    blurred = filters.gaussian(dilated.astype(np.float64), sigma=5)
    expected = (1.0 - (blurred - blurred.min()) / (blurred.max() - blurred.min())) * known
    weight = np.asarray(masks.reconstruction_weight(jnp.asarray(known), scale, 5.0, 5))
    np.testing.assert_allclose(weight, expected, atol=1e-6)
    assert weight[hole].max() == 0.0 and weight.max() == pytest.approx(1.0)


def _known_with_hole(size: int, hole: int) -> np.ndarray:
    known = np.ones((size, size), np.float32)
    a = (size - hole) // 2
    known[a : a + hole, a : a + hole] = 0.0  # a centred hole x hole hole touches (hole + 10)^2 critic windows
    return known


def test_first_masked_scale_follows_upstreams_thresholds():
    first = functools.partial(masks.first_masked_scale, receptive_field=11)
    small = _known_with_hole(40, 1)  # (1 + 10)^2 / 30^2 = 13% of the windows touch it: < 25%
    big = _known_with_hole(40, 15)  # 25^2 / 30^2 = 69%: too many at any scale
    middle = _known_with_hole(40, 8)  # 18^2 / 30^2 = 36%: > 25% (not at scale 0) but < 60%
    wide = _known_with_hole(250, 190)  # 200^2 / 240^2 = 69% but 17600 fully visible windows > 5000
    assert first([small, big]) == 0
    assert first([middle, middle]) == 1
    assert first([big, big, wide, small]) == 2
    assert first([big, big, big]) == 2  # none qualifies: the finest


def test_dilate_hole_grows_by_the_radius():
    known = np.ones((9, 9), np.float32)
    known[4, 4] = 0.0
    hole = np.asarray(masks.dilate_hole(jnp.asarray(known), 2))
    assert hole.sum() == 25 and hole[2:7, 2:7].min() == 1.0
    np.testing.assert_array_equal(np.asarray(masks.dilate_hole(jnp.asarray(known), 0)), 1.0 - known)


def test_measures_zero_for_copies_and_positive_for_a_flat_fill():
    y, x = np.mgrid[:24, :24]
    image = np.stack([np.sin(2 * np.pi * x / 6), np.cos(2 * np.pi * y / 6), 0 * x], -1).astype(np.float32)
    known = np.ones((24, 24), np.float32)
    known[12:18, 12:18] = 0.0
    # The true periodic content: every patch touching the hole also occurs in the visible part.
    truth = np.stack([image, image])
    assert complete.hole_diversity(truth, image, known) == 0.0
    assert complete.hole_patch_distance(truth, image, known, patch=5) < 1e-3
    assert complete.hole_patch_distance(complete.flat_fill(image, known)[None], image, known, patch=5) > 0.1
    noisy = truth + np.random.default_rng(0).normal(0, 0.3, truth.shape).astype(np.float32) * (1 - known)[..., None]
    assert complete.hole_diversity(noisy, image, known) > 0.1


def test_contact_sheet_tiles_input_and_completions():
    image = np.zeros((5, 7, 3), np.float32)
    known = np.ones((5, 7), np.float32)
    known[0, 0] = 0
    sheet = complete.contact_sheet(image, known, np.full((5, 5, 7, 3), -1.0, np.float32), columns=4)
    chex.assert_shape(sheet, (2 * 5 + 2, 4 * 7 + 6, 3))
    assert sheet[0, 0, 0] == 1.0 and sheet[1, 1, 0] == 0.0  # the hole shows white
