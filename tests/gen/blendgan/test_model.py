"""BlendGAN's identity maps and conditioned generator input: shapes and exact values."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.errors import InputError
from jaxinterp.gen.blendgan.config import PRESETS
from jaxinterp.gen.blendgan.identity import (
    maps_per_scale,
    normalise,
    one_hot_maps,
    soften,
    split_mask,
    two_image_map,
)
from jaxinterp.gen.blendgan.model import networks
from jaxinterp.gen.blendgan.sampling import generator_input
from jaxinterp.gen.blendgan.train import BlendSpec, init_state
from jaxinterp.gen.singan.train import geometry_for

TINY = PRESETS["tiny"]


def test_one_hot_maps_and_resizing_keep_weights_summing_to_one():
    maps = one_hot_maps(jnp.array([2, 0]), 3, (5, 7))
    chex.assert_shape(maps, (2, 5, 7, 3))
    np.testing.assert_array_equal(maps[0, 4, 6], [0.0, 0.0, 1.0])
    soft = jnp.asarray(two_image_map(soften(split_mask("left-right", (24, 36)), 2.0), 0, 1, 3))[None]
    levels = maps_per_scale(soft, [(11, 17), (24, 36)])
    chex.assert_shape(levels, [(1, 11, 17, 3), (1, 24, 36, 3)])
    for level in levels:
        np.testing.assert_allclose(np.sum(level, axis=-1), 1.0, atol=1e-6)
        assert float(jnp.min(level)) >= 0.0
    np.testing.assert_allclose(levels[0][0, :, 0, 0], 1.0, atol=1e-3)  # left edge: image 0
    np.testing.assert_allclose(levels[0][0, :, -1, 1], 1.0, atol=1e-3)  # right edge: image 1
    np.testing.assert_allclose(normalise(jnp.array([[-1.0, 3.0, 1.0]])), [[0.0, 0.75, 0.25]])


@pytest.mark.parametrize("kind", ["left-right", "top-bottom", "diagonal", "circle"])
def test_split_masks_cover_part_of_the_image(kind):
    mask = split_mask(kind, (20, 30))
    assert 0.1 < mask.mean() < 0.9 and set(np.unique(mask)) == {0.0, 1.0}


def test_bad_split_and_softness_are_input_errors():
    with pytest.raises(InputError, match="unknown split"):
        split_mask("spiral", (8, 8))
    with pytest.raises(InputError, match="softness"):
        soften(np.zeros((4, 4)), -1.0)


def test_generator_input_pads_and_mixes_noise_amplitude_by_the_map():
    pad = TINY.pad
    identity = jnp.asarray(two_image_map(split_mask("left-right", (6, 8)), 0, 1, 2))[None]
    noise, prev = jnp.ones((1, 6, 8, 3)), jnp.zeros((1, 6, 8, 3))
    noisy, identity_padded, prev_padded = generator_input(TINY, noise, prev, identity, jnp.array([0.5, 2.0]))
    big = (1, 6 + 2 * pad, 8 + 2 * pad)
    chex.assert_shape([noisy, identity_padded, prev_padded], [(*big, 3), (*big, 2), (*big, 3)])
    inner = noisy[0, pad:-pad, pad:-pad]
    np.testing.assert_allclose(inner[:, :4], 0.5)  # image 0's amplitude on the left
    np.testing.assert_allclose(inner[:, 4:], 2.0)
    np.testing.assert_array_equal(identity_padded[0, 0, 0], [1.0, 0.0])  # map padded by edge replication
    np.testing.assert_array_equal(noisy[0, 0, 0], 0.0)  # image padded by zeros


def test_a_constant_identity_map_changes_the_generator_output():
    """BatchNorm over one image's pixels erases a constant input channel; the map-conditioned
    normalisation must not."""
    generator, _ = networks(TINY, 0)
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 16, 16, 3))
    maps = [one_hot_maps(jnp.array([k]), 2, (16, 16)) for k in range(2)]
    variables = jax.jit(generator.init)(jax.random.PRNGKey(1), x, maps[0], x)
    # Give the two images different normalisations, as training does.
    variables = jax.tree_util.tree_map_with_path(
        lambda path, v: v.at[1].multiply(-1.0) if "beta" in str(path[-1]) or "gamma" in str(path[-1]) else v,
        variables,
    )
    outs = [jax.jit(generator.apply)(variables, x, m, x) for m in maps]
    chex.assert_shape(outs, [(1, 6, 6, 3)] * 2)
    assert float(jnp.max(jnp.abs(outs[0] - outs[1]))) > 1e-3


def test_networks_take_three_plus_k_input_channels():
    spec = BlendSpec(0, ((22, 33),), 0.9, num_images=3)
    state = jax.eval_shape(lambda key: init_state(TINY, spec, key, None), jax.random.PRNGKey(0))
    channels = TINY.channels(0)
    for net in ("g", "d"):
        trunk = state[net]["params"]["CondTrunk_0"]
        chex.assert_shape(trunk["Conv_0"]["Conv_0"]["kernel"], (3, 3, 6, channels))
        chex.assert_shape([trunk["MapNorm_0"]["gamma"], trunk["MapNorm_0"]["beta"]], [(3, channels)] * 2)


def test_cross_maps_give_another_image_below_a_random_switch_level():
    spec = BlendSpec(3, ((4, 6), (5, 8), (6, 9), (8, 12)), 0.75, num_images=3)
    image = jnp.asarray(1)
    for a, b in zip(spec.cross_maps(image, jax.random.PRNGKey(0), 0.0), spec.maps(image), strict=True):
        np.testing.assert_array_equal(a, b)
    keys = jax.random.split(jax.random.PRNGKey(0), 200)
    maps = jax.vmap(lambda k: spec.cross_maps(image, k, 0.5))(keys)
    chex.assert_shape(maps, [(200, 1, *hw, 3) for hw in spec.shapes])
    ids = np.stack([np.asarray(m[:, 0, 0, 0]).argmax(-1) for m in maps], axis=1)  # (200, levels)
    for m in maps:  # each level's map is spatially constant and one-hot
        np.testing.assert_array_equal(m, np.broadcast_to(m[:, :, :1, :1], m.shape))
    assert np.all(ids[:, -1] == 1)  # the trained scale always has the image's identity
    switch = (ids != 1).sum(axis=1)
    for row, m in zip(ids, switch, strict=True):  # another image below the switch, the image from there on
        assert len(set(row[:m])) <= 1 and np.all(row[m:] == 1)
    assert set(np.unique(switch)) == {0, 1, 2, 3} and set(np.unique(ids[switch > 0, 0])) == {0, 2}
    assert 0.4 < np.mean(switch > 0) < 0.6


def test_fusion_preset_leaves_the_structure_well_below_the_output_size():
    """Fusion needs coarse scales far below the output (train.py, measured): `fusion` stops 3.6x below
    the finest size for builtin:coffee's 400x600 px, `fast` only 1.7x."""
    fusion, fast = (geometry_for(PRESETS[name], (400, 600)).shapes for name in ("fusion", "fast"))
    assert fusion == ((12, 18), (19, 28), (29, 42), (43, 64)) and fast[0] == (25, 38) and fast[-1] == fusion[-1]
    assert PRESETS["fusion"].cross_identity_prob == 0.5 and PRESETS["fast"].cross_identity_prob == 0.0
