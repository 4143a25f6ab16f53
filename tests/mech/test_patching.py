"""mech/patching.py: exact identities of activation patching, and the batched sweep against a loop."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz

from jaxinterp.mech import patching
from tests.mech.tiny_models import CLEAN, CORRUPT, tiny_llama, unwrap_logits


@pytest.mark.parametrize("site", patching.SITES)
def test_patching_a_site_with_its_own_activation_changes_nothing(site):
    model = tiny_llama()
    own = patching.capture(model, CLEAN, site)
    everything = pz.nx.wrap(jnp.ones(tuple(patching.component_axes(own).values()), bool)).tag(
        *patching.component_axes(own)
    )
    patched = patching.patched_logits(patching.with_sites(model, site), CLEAN, own, everything)
    np.testing.assert_array_equal(unwrap_logits(patched), unwrap_logits(model(CLEAN)))


def test_last_layer_residual_patch_reproduces_the_clean_logits():
    model = tiny_llama()
    clean = patching.capture(model, CLEAN, "resid_post")
    axes = patching.component_axes(clean)
    assert axes == {"layer": 2, "seq": 5}
    last_layer = np.zeros((2, 5), bool)
    last_layer[-1] = True
    mask = pz.nx.wrap(jnp.asarray(last_layer)).tag("layer", "seq")
    patched = patching.patched_logits(patching.with_sites(model, "resid_post"), CORRUPT, clean, mask)
    np.testing.assert_allclose(unwrap_logits(patched), unwrap_logits(model(CLEAN)), atol=1e-6)
    assert not np.allclose(unwrap_logits(model(CORRUPT)), unwrap_logits(model(CLEAN)), atol=1e-3)


def test_float_mask_interpolates_between_target_and_source():
    """A float mask is the source's weight (DCM): 0 and 1 equal no patch and the boolean patch, 1/2 lands
    near the midpoint of the logits (not exactly: the last block's MLP is nonlinear) and the weight has a
    nonzero gradient."""
    model = tiny_llama()
    sited = patching.with_sites(model, "head_out")
    source = patching.capture(model, CLEAN, "head_out")
    axes = patching.component_axes(source)
    shape = tuple(axes.values())
    last = np.zeros(shape, bool)
    last[-1] = True

    def run(mask):
        return unwrap_logits(patching.patched_logits(sited, CORRUPT, source, pz.nx.wrap(mask).tag(*axes)))

    np.testing.assert_array_equal(run(jnp.zeros(shape)), unwrap_logits(model(CORRUPT)))
    np.testing.assert_allclose(run(jnp.asarray(last, jnp.float32)), run(jnp.asarray(last)), atol=1e-6)
    halfway = run(jnp.asarray(last, jnp.float32) * 0.5)
    middle = 0.5 * (run(jnp.asarray(last)) + unwrap_logits(model(CORRUPT)))
    assert np.abs(halfway - middle).max() < 0.5 * np.abs(run(jnp.asarray(last)) - unwrap_logits(model(CORRUPT))).max()
    grad = jax.grad(lambda w: run(jnp.asarray(last, jnp.float32) * w).sum())(0.3)
    assert np.isfinite(grad) and grad != 0.0


@pytest.mark.parametrize("kv_heads, multiplier", [(3, 1), (2, 2)])  # multi-head and grouped-query
def test_batched_head_sweep_equals_one_component_at_a_time(kv_heads, multiplier):
    model = tiny_llama(kv_heads, multiplier)
    correct, wrong = jnp.array([4, 7]), jnp.array([9, 1])

    def metric(logits):
        return patching.logit_difference(logits, correct, wrong)

    sweep = patching.activation_patching(model, "head_out", CLEAN, CORRUPT, metric, chunk=7, position_buckets=2)
    source = patching.capture(model, CLEAN, "head_out")
    axes = patching.component_axes(source)
    head_axes = {k: v for k, v in axes.items() if k not in ("layer", "seq")}
    assert set(head_axes) == ({"heads"} if multiplier == 1 else {"head_groups", "query_heads"})
    chex.assert_shape(sweep.unwrap(*axes, "batch"), (*axes.values(), 2))

    patched_model = patching.with_sites(model, "head_out")
    masks = patching.one_hot_masks(axes).unwrap("sweep", *axes)
    expected = []
    for one in masks:  # the reference: one forward pass per component
        mask = pz.nx.wrap(one).tag(*axes)
        expected.append(metric(patching.patched_logits(patched_model, CORRUPT, source, mask)).unwrap("batch"))
    expected = np.stack(expected).reshape(*axes.values(), 2)
    np.testing.assert_allclose(sweep.unwrap(*axes, "batch"), expected, atol=1e-5)
    # Patching changes the metric somewhere (the test is not vacuous).
    baseline = metric(model(CORRUPT)).unwrap("batch")
    assert np.abs(expected - baseline).max() > 1e-3


def test_sweep_sharded_over_four_devices_equals_one_device():
    assert jax.device_count() >= 4  # tests/conftest.py forces 4 CPU devices
    model = tiny_llama(2, 2)
    correct, wrong = jnp.array([4, 7]), jnp.array([9, 1])

    def metric(logits):
        return patching.logit_difference(logits, correct, wrong)

    one = patching.activation_patching(
        model, "head_out", CLEAN, CORRUPT, metric, chunk=12, mesh=patching.sweep_mesh(jax.devices()[:1])
    )
    four = patching.activation_patching(
        model, "head_out", CLEAN, CORRUPT, metric, chunk=12, mesh=patching.sweep_mesh(jax.devices()[:4])
    )
    order = tuple(one.named_shape)
    np.testing.assert_allclose(four.unwrap(*order), one.unwrap(*order), atol=1e-6)


@pytest.mark.parametrize("site", ["mlp_out", "query", "key", "attn_pattern"])
def test_sweep_over_layer_and_position_equals_a_loop_for_every_kind_of_site(site):
    model = tiny_llama(2, 2)  # grouped queries: keys have only head_groups, queries also query_heads
    correct, wrong = jnp.array([4, 7]), jnp.array([9, 1])

    def metric(logits):
        return patching.logit_difference(logits, correct, wrong)

    over = ("layer", "seq")  # the head axes (and kv_seq for patterns) are patched together
    sweep = patching.activation_patching(model, site, CLEAN, CORRUPT, metric, chunk=4, over=over)
    chex.assert_shape(sweep.unwrap(*over, "batch"), (2, 5, 2))
    source = patching.capture(model, CLEAN, site)
    patched_model = patching.with_sites(model, site)
    expected = [
        metric(patching.patched_logits(patched_model, CORRUPT, source, pz.nx.wrap(one).tag(*over))).unwrap("batch")
        for one in patching.one_hot_masks({"layer": 2, "seq": 5}).unwrap("sweep", *over)
    ]
    expected = np.stack(expected).reshape(2, 5, 2)
    np.testing.assert_allclose(sweep.unwrap(*over, "batch"), expected, atol=1e-5)
    assert np.abs(expected - metric(model(CORRUPT)).unwrap("batch")).max() > 1e-4


def test_chosen_component_groups_sweep_equals_patching_each_group():
    model = tiny_llama(3, 1)
    correct, wrong = jnp.array([4, 7]), jnp.array([9, 1])

    def metric(logits):
        return patching.logit_difference(logits, correct, wrong)

    groups = np.zeros((3, 2, 3), bool)  # {sweep, layer, heads}: three "circuits"
    groups[0, 0, :2] = True
    groups[1, 1, 2] = True
    groups[2] = True
    masks = pz.nx.wrap(jnp.asarray(groups)).tag("sweep", "layer", "heads")
    result = patching.activation_patching(model, "head_out", CLEAN, CORRUPT, metric, masks=masks)
    source = patching.capture(model, CLEAN, "head_out")
    patched_model = patching.with_sites(model, "head_out")
    for i, group in enumerate(groups):
        mask = pz.nx.wrap(jnp.asarray(group)).tag("layer", "heads")
        one = metric(patching.patched_logits(patched_model, CORRUPT, source, mask)).unwrap("batch")
        np.testing.assert_allclose(result[{"sweep": i}].unwrap("batch"), one, atol=1e-5)
    assert np.abs(result.unwrap("sweep", "batch") - metric(model(CORRUPT)).unwrap("batch")).min() > 1e-4
    with pytest.raises(ValueError, match="component axes"):
        patching.activation_patching(model, "head_out", CLEAN, CORRUPT, metric, over=("layer", "embedding"))


def _tiny_gpt2():
    from jaxinterp.mech.models.gpt2 import GPT2Config, build_gpt2_transformer

    config = GPT2Config(vocab_size=37, n_positions=16, d_model=16, n_layers=2, n_heads=2, d_mlp=24)
    return build_gpt2_transformer(config, init_key=jax.random.key(3))


def _tiny_neox():
    from penzai.models.transformer.variants import gpt_neox

    config = gpt_neox.GPTNeoXTransformerConfig(
        num_attention_heads=2,
        embedding_dim=16,
        projection_dim=8,
        mlp_hidden_dim=32,
        num_decoder_blocks=2,
        vocab_size=37,
        activation_fn="gelu_exact",
        rope_subset_size=4,
        rope_wavelength=10000.0,
        layernorm_epsilon=1e-5,
        parameter_dtype=jnp.float32,
        activation_dtype=jnp.float32,
    )
    return gpt_neox.build_gpt_neox_transformer(config, init_base_rng=jax.random.key(4))


@pytest.mark.parametrize("build", [tiny_llama, _tiny_gpt2, _tiny_neox], ids=["llama", "gpt2", "neox"])
@pytest.mark.parametrize("site", ["head_out", "value"])
def test_running_only_the_positions_after_the_patch_changes_no_result(build, site):
    model = build()
    correct, wrong = jnp.array([4, 7]), jnp.array([9, 1])

    def metric(logits):  # reads two positions, so the cached logits in front are checked too
        return patching.logit_difference(logits, correct, wrong) + patching.logit_difference(logits, wrong, correct, 1)

    every_position = patching.activation_patching(model, site, CLEAN, CORRUPT, metric, position_buckets=1)
    suffixes = patching.activation_patching(model, site, CLEAN, CORRUPT, metric, position_buckets=3)
    order = tuple(every_position.named_shape)
    np.testing.assert_allclose(suffixes.unwrap(*order), every_position.unwrap(*order), atol=2e-5)
