"""CAW networks: lengths, receptive field, weight norm, pre-emphasis, gated tail, residual, masked BatchNorm,
parity of one block with PyTorch (its outputs stored in tests/fixtures), and full-size shapes under eval_shape."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.gen.caw import scales
from jaxinterp.gen.caw.config import PRESETS, CAWConfig
from jaxinterp.gen.caw.model import (
    ConvBlock1D,
    Discriminator,
    Generator,
    WNConv1D,
    discriminator,
    generator,
    pre_emphasis,
    propagate_mask,
    score_mask,
    weight_norm,
)
from tests.fixtures import reference, unflatten

TINY = CAWConfig(num_layers=4, channels_init=4, channels_factor=2, filter_size=9)  # loses 8 * 15 = 120 samples


def _init(module, *args, seed=0, **kwargs):
    return jax.jit(functools.partial(module.init, **kwargs))(jax.random.PRNGKey(seed), *args)


def _apply(module, variables, *args, **kwargs):
    """module.apply compiled as one program (much faster on CPU than op-by-op dispatch)."""
    return jax.jit(functools.partial(module.apply, **kwargs))(variables, *args)


@pytest.mark.parametrize("num_layers,filter_size", [(4, 9), (3, 5), (8, 3)])
def test_generator_and_critic_lengths_follow_the_valid_stack(num_layers, filter_size):
    cfg = CAWConfig(num_layers=num_layers, filter_size=filter_size, channels_init=4, channels_factor=2)
    pad, lost = scales.padding(cfg), scales.receptive_field(cfg) - 1
    assert lost == 2 * pad == (filter_size - 1) * (2**num_layers - 1)
    n = 601
    g, d = generator(cfg, 1), discriminator(cfg, 1)
    padded = jax.ShapeDtypeStruct((2, n + 2 * pad, 1), jnp.float32)
    g_vars = jax.eval_shape(lambda x: g.init(jax.random.PRNGKey(0), x, x, train=False), padded)
    out = jax.eval_shape(lambda v, x: g.apply(v, x, x, train=False), g_vars, padded)
    chex.assert_shape(out, (2, n, 1))
    d_vars = jax.eval_shape(lambda x: d.init(jax.random.PRNGKey(0), x, train=False), out)
    chex.assert_shape(jax.eval_shape(lambda v, x: d.apply(v, x, train=False), d_vars, out), (2, n - lost, 1))


def _input_support(fn, n, position):
    """Indices of the inputs that output `position` depends on (nonzero gradient)."""
    grad = jax.jit(jax.grad(lambda x: fn(x)[0, position, 0]))(jax.random.normal(jax.random.PRNGKey(3), (1, n, 1)))
    return np.flatnonzero(np.abs(np.asarray(grad[0, :, 0])) > 0)


def test_receptive_field_formula_matches_the_critic_and_generator_dependencies():
    rf = scales.receptive_field(TINY)
    assert rf == 9 + 8 * (2 + 4 + 8) == 121
    n, i = 400, 100
    d = discriminator(TINY, 1)
    d_vars = _init(d, jnp.zeros((1, n, 1)), train=False)  # running statistics: positions do not interact
    support = _input_support(lambda x: d.apply(d_vars, x, train=False), n, i)
    # The VALID stack spans rf inputs; the pre-emphasis adds the window of score i - 1.
    np.testing.assert_array_equal(support, np.arange(i - 1, i + rf))
    g = generator(TINY, 1)
    g_vars = _init(g, jnp.zeros((1, n, 1)), jnp.zeros((1, n, 1)), train=False)
    support = _input_support(lambda x: g.apply(g_vars, x, jnp.zeros_like(x), train=False), n, i)
    # The gated unit's 'SAME' 9-tap convolutions add 4 samples per side (not counted upstream).
    np.testing.assert_array_equal(support, np.arange(i - 1 - 4, i + rf + 4))


def test_weight_norm_effective_weight_has_per_output_channel_norm_g():
    v = jax.random.normal(jax.random.PRNGKey(0), (9, 3, 5))
    g = jnp.array([0.5, 1.0, 2.0, 3.0, 0.1])
    w = weight_norm(v, g)
    np.testing.assert_allclose(jnp.sqrt(jnp.sum(w**2, axis=(0, 1))), g, rtol=1e-6)
    np.testing.assert_allclose(w / g, v / jnp.linalg.norm(v.reshape(-1, 5), axis=0), rtol=1e-6)


def test_weight_normed_conv_equals_a_plain_dilated_conv_with_the_effective_weight():
    conv = WNConv1D(5, 9, dilation=4)
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 100, 3))
    params = _init(conv, x)["params"]
    params = {**params, "g": params["g"] * jnp.array([0.5, 1.0, 2.0, 3.0, 0.1])}
    w = np.asarray(weight_norm(params["v"], params["g"]))
    xn, out = np.asarray(x), np.asarray(_apply(conv, {"params": params}, x))
    assert out.shape == (2, 100 - 8 * 4, 5)
    expected = sum(np.einsum("bti,io->bto", xn[:, 4 * j : 4 * j + 68], w[j]) for j in range(9)) + np.asarray(
        params["bias"]
    )
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_weight_norm_init_is_pytorch_default_with_g_equal_to_norm_v():
    conv = WNConv1D(96, 9, dilation=2)
    params = _init(conv, jnp.zeros((1, 50, 96)))["params"]
    bound = 1 / np.sqrt(96 * 9)
    assert np.abs(params["v"]).max() <= bound and np.asarray(params["v"]).std() > 0.5 * bound
    assert np.abs(params["bias"]).max() <= bound and np.asarray(params["bias"]).std() > 0
    np.testing.assert_allclose(weight_norm(params["v"], params["g"]), params["v"], rtol=1e-5, atol=1e-7)
    block_params = _init(ConvBlock1D(64, 9), jnp.zeros((1, 50, 2)), train=False)["params"]
    scale = np.asarray(block_params["norm"]["scale"])
    assert abs(scale.mean() - 1.0) < 0.01 and 0.005 < scale.std() < 0.05
    np.testing.assert_array_equal(block_params["norm"]["bias"], 0.0)


def test_pre_emphasis_on_a_hand_example():
    x = jnp.array([1.0, 2.0, 0.0, -1.0])[None, :, None]
    np.testing.assert_allclose(pre_emphasis(x, 0.97)[0, :, 0], [1.0, 2.0 - 0.97, -1.94, -1.0], rtol=1e-6)


def test_gated_unit_is_bounded_by_one():
    g = generator(TINY, 1)
    x = 1e3 * jax.random.normal(jax.random.PRNGKey(4), (1, 300, 1))
    g_vars = _init(g, x, x, train=False)
    _, state = _apply(g, g_vars, x, x, train=True, mutable=["batch_stats", "intermediates"])
    gated = np.asarray(state["intermediates"]["gated"][0])
    assert gated.shape == (1, 300 - 120, 8) and np.abs(gated).max() <= 1.0
    assert np.abs(gated).max() > 0.1  # not trivially zero


def test_generator_returns_the_cropped_previous_signal_when_its_output_conv_is_zero():
    g = generator(TINY, 0)
    noisy = jax.random.normal(jax.random.PRNGKey(5), (1, 250, 1))
    prev = jax.random.normal(jax.random.PRNGKey(6), (1, 250, 1))
    g_vars = _init(g, noisy, prev, train=False)
    params = dict(g_vars["params"])
    params["out"] = {**params["out"], "g": jnp.zeros_like(params["out"]["g"]), "bias": jnp.zeros((1,))}
    out, _ = _apply(g, {**g_vars, "params": params}, noisy, prev, train=True, mutable=["batch_stats"])
    np.testing.assert_array_equal(out, prev[:, 60:-60])


def test_masked_batchnorm_statistics_use_only_the_valid_positions():
    block = ConvBlock1D(3, 9, dilation=2)
    x = jax.random.normal(jax.random.PRNGKey(7), (1, 80, 2))
    mask = np.ones((1, 80 - 16), bool)
    mask[0, 20:35] = False
    variables = _init(block, x, train=False)
    out, state = _apply(block, variables, x, train=True, mask=jnp.asarray(mask), mutable=["batch_stats"])
    conv = np.asarray(_apply(WNConv1D(3, 9, 2), {"params": variables["params"]["conv"]}, x))[0]
    valid = conv[mask[0]]
    mean, var = valid.mean(0), valid.var(0)  # biased, as the normalisation uses
    np.testing.assert_allclose(state["batch_stats"]["norm"]["mean"], 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state["batch_stats"]["norm"]["var"], 0.9 + 0.1 * var, rtol=1e-5)
    scale, bias = (np.asarray(variables["params"]["norm"][k]) for k in ("scale", "bias"))
    normed = (conv - mean) / np.sqrt(var + 1e-5) * scale + bias
    np.testing.assert_allclose(out[0], np.where(normed > 0, normed, 0.2 * normed), atol=2e-5)
    out_unmasked, _ = _apply(block, variables, x, train=True, mutable=["batch_stats"])
    assert not np.allclose(out, out_unmasked, atol=1e-3)


def test_mask_propagation_follows_upstreams_hole_rule():
    mask = np.ones((1, 200), bool)
    mask[0, 100:111] = False  # hole [100, 110]
    out = np.asarray(propagate_mask(jnp.asarray(mask), 9, 4))[0]
    assert out.shape == (200 - 32,)
    np.testing.assert_array_equal(np.flatnonzero(~out), np.arange(100 - 32, 111))
    # Critic scores: hole [a, b] -> [a - (rf - 1), b + 1] (upstream's not_valid_idx_start/end).
    mask = np.ones((1, 400), bool)
    mask[0, 250:261] = False
    scores = np.asarray(score_mask(jnp.asarray(mask), TINY.num_layers, TINY.filter_size))[0]
    assert scores.shape == (400 - 120,)
    np.testing.assert_array_equal(np.flatnonzero(~scores), np.arange(250 - 120, 260 + 1 + 1))


def test_critic_mask_of_ones_equals_no_mask_and_valid_scores_ignore_the_hole():
    d = discriminator(TINY, 1)
    x = jax.random.normal(jax.random.PRNGKey(8), (1, 500, 1))
    d_vars = _init(d, x)
    ones = jnp.ones((1, 500), bool)
    plain, _ = _apply(d, d_vars, x, mutable=["batch_stats"])
    masked, _ = _apply(d, d_vars, x, mask=ones, mutable=["batch_stats"])
    np.testing.assert_allclose(plain, masked, atol=1e-6)
    hole = ones.at[0, 250:300].set(False)
    keep = np.asarray(score_mask(hole, TINY.num_layers, TINY.filter_size))[0]
    a, _ = _apply(d, d_vars, x, mask=hole, mutable=["batch_stats"])
    b, _ = _apply(d, d_vars, x.at[0, 250:300].set(5.0), mask=hole, mutable=["batch_stats"])
    np.testing.assert_allclose(np.asarray(a)[0, keep], np.asarray(b)[0, keep], atol=1e-5)
    assert not np.allclose(np.asarray(a)[0, ~keep], np.asarray(b)[0, ~keep], atol=1e-3)


def test_conv_block_matches_torch_weight_norm_batchnorm_leaky_relu():
    """Against torch's Conv1d under parametrizations.weight_norm(dim=0), BatchNorm1d (momentum 0.1, eps 1e-5)
    and LeakyReLU(0.2) in training mode, given the same weights: tests/fixtures/caw_block.npz holds the input,
    the block's variables and torch's output and running statistics."""
    ref = reference("caw_block")
    block = ConvBlock1D(6, 9, dilation=4)
    x = jnp.asarray(ref["x"])
    variables = unflatten(ref, "variables")
    shapes = jax.eval_shape(functools.partial(block.init, train=False), jax.random.PRNGKey(0), x)
    chex.assert_trees_all_equal_shapes_and_dtypes(variables, dict(shapes))
    out, state = _apply(block, variables, x, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(out, ref["out"], atol=1e-5)
    stats = state["batch_stats"]["norm"]
    np.testing.assert_allclose(stats["mean"], ref["running_mean"], atol=1e-6)
    n = 300 - 32  # torch's running variance is unbiased, Flax's biased
    np.testing.assert_allclose(0.9 + (stats["var"] - 0.9) * n / (n - 1), ref["running_var"], rtol=1e-5)


def test_paper_size_networks_under_eval_shape():
    cfg = PRESETS["paper"]
    n, pad, lost = 16000 * 25, scales.padding(cfg), scales.receptive_field(cfg) - 1
    assert (pad, lost) == (1020, 2040)
    padded = jax.ShapeDtypeStruct((1, n + 2 * pad, 1), jnp.float32)
    for scale, channels in [(0, 16), (1, 96)]:
        g, d = generator(cfg, scale), discriminator(cfg, scale)
        assert isinstance(g, Generator) and isinstance(d, Discriminator) and g.channels == channels
        g_vars = jax.eval_shape(lambda x, g=g: g.init(jax.random.PRNGKey(0), x, x, train=False), padded)
        assert g_vars["params"]["trunk"]["body6"]["conv"]["v"].shape == (9, channels, channels)
        assert "body7" not in g_vars["params"]["trunk"]
        out = jax.eval_shape(lambda v, x, g=g: g.apply(v, x, x, train=False), g_vars, padded)
        assert out.shape == (1, n, 1)
        d_vars = jax.eval_shape(lambda x, d=d: d.init(jax.random.PRNGKey(0), x, train=False), out)
        scores = jax.eval_shape(lambda v, x, d=d: d.apply(v, x, train=False), d_vars, out)
        assert scores.shape == (1, n - lost, 1)


def test_dilations_start_at_one_and_double_up_to_the_tail():
    assert CAWConfig().dilations == (1, 2, 4, 8, 16, 32, 64, 128)
