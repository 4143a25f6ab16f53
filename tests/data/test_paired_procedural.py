"""Procedural paired street scenes: determinism, valid classes, texture, and images that follow the labels."""

import numpy as np
import pytest

from jaxinterp.data.paired import procedural as P

H, W = 32, 64


@pytest.fixture(scope="module")
def scenes():
    return P.generate(6, H, W, seed=7)


def test_generate_shapes_dtypes_and_classes_in_range(scenes):
    labels, images = scenes
    assert labels.shape == (6, H, W) and labels.dtype == np.uint8
    assert images.shape == (6, H, W, 3) and images.dtype == np.uint8
    assert labels.max() < P.NUM_CLASSES == len(P.CLASS_NAMES) == len(P.PALETTE)
    # Every scene has sky above, buildings with windows, then pavement and road below.
    for lab in labels:
        assert {P.SKY, P.BUILDING, P.WINDOW, P.PAVEMENT, P.ROAD} <= set(np.unique(lab).tolist())
        rows = np.arange(H)[:, None].repeat(W, 1)
        assert rows[lab == P.SKY].mean() < rows[lab == P.BUILDING].mean() < rows[lab == P.ROAD].mean()


def test_generate_is_deterministic_per_seed_and_differs_across_seeds(scenes):
    labels, images = scenes
    again_l, again_i = P.generate(6, H, W, seed=7)
    np.testing.assert_array_equal(labels, again_l)
    np.testing.assert_array_equal(images, again_i)
    other_l, other_i = P.generate(6, H, W, seed=8)
    assert (other_l != labels).any(axis=(1, 2)).all()
    assert (other_i != images).any(axis=(1, 2, 3)).all()


def test_offset_selects_examples_of_one_stream(scenes):
    labels, images = scenes
    tail_l, tail_i = P.generate(2, H, W, seed=7, offset=4)
    np.testing.assert_array_equal(tail_l, labels[4:])
    np.testing.assert_array_equal(tail_i, images[4:])


def test_images_are_textured_inside_one_class(scenes):
    labels, images = P.generate(4, 64, 128, seed=1)
    for cls in (P.BUILDING, P.ROAD, P.SKY):
        pixels = images[labels == cls].astype(np.float32)
        assert pixels.std(axis=0).mean() > 4.0, P.CLASS_NAMES[cls]  # not a per-class constant colour
    # Yet the classes are told apart by colour: mean building (brick) is redder than mean road.
    building = images[labels == P.BUILDING].mean(0)
    road = images[labels == P.ROAD].mean(0)
    assert building[0] - building[2] > road[0] - road[2] + 20


def test_changed_label_region_changes_the_image_only_there(scenes):
    labels = scenes[0][0].copy()
    before = P.render(labels, np.random.default_rng(3))
    labels[20:28, 10:30] = P.VEGETATION
    after = P.render(labels, np.random.default_rng(3))
    changed = np.zeros((H, W), bool)
    changed[19:29, 9:31] = True  # the region grown by the 3x3 blur
    np.testing.assert_array_equal(before[~changed], after[~changed])
    diff = np.abs(before[20:28, 10:30].astype(int) - after[20:28, 10:30].astype(int)).mean()
    assert diff > 15


def test_colorize_uses_the_palette():
    labels = np.arange(P.NUM_CLASSES, dtype=np.uint8).reshape(2, 5)
    colours = P.colorize(labels)
    assert colours.shape == (2, 5, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(colours.reshape(-1, 3), P.PALETTE)
    assert len({tuple(c) for c in P.PALETTE.tolist()}) == P.NUM_CLASSES  # distinct colours
