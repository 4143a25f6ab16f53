"""mech/path_patching.py on a hand-built 2-layer model whose only sender -> receiver route is known.

The model (LLaMA-style, 2 layers x 2 heads, width 10, norms replaced by the identity so the residual
stream's sub-spaces do not mix, queries and keys zero so every head averages the positions so far,
MLPs switched off):

    embedding      writes E = dims 0-1
    layer 0 head 0 reads E, writes A = dims 2-3        layer 0 head 1 reads E, writes B = dims 4-5
    layer 1 head 0 reads A, writes C = dims 6-7        layer 1 head 1 reads B, writes D = dims 8-9
    unembedding    reads C only

So the only route from the input to the logits is E -> L0H0 -> (value of) L1H0 -> logits: L0H0 has a
total effect but no direct one, L1H0 is the only head with a direct effect, and L0H1 -> L1H1 is a
route that never reaches the logits.
"""

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.path_patching import path_patching, sender_masks, unflatten
from tests.mech.tiny_models import ROUTED_CLEAN, ROUTED_CORRUPT, routed_model, tiny_llama

CLEAN, CORRUPT = ROUTED_CLEAN, ROUTED_CORRUPT
CORRECT, WRONG = jnp.array([4, 7]), jnp.array([9, 1])


def metric(logits):
    return patching.logit_difference(logits, CORRECT, WRONG)


@pytest.fixture(scope="module")
def model():
    return routed_model()


def test_direct_effect_comes_only_from_the_head_that_writes_to_the_unembedding(model):
    senders = sender_masks(model, CLEAN)  # each (layer, head) at every position
    direct = unflatten(path_patching(model, CORRUPT, CLEAN, metric, senders), senders)
    baseline = metric(model(CLEAN)).unwrap("batch")
    change = np.abs(np.asarray(direct.unwrap("layer", "heads", "batch")) - np.asarray(baseline))
    chex.assert_shape(change, (2, 2, 2))
    assert change[1, 0].min() > 1e-3
    np.testing.assert_allclose(np.delete(change.reshape(4, 2), 2, axis=0), 0.0, atol=1e-6)
    # Activation patching (the total effect) of L0H0 is not zero: path patching is what tells them apart.
    total = patching.activation_patching(model, "head_out", CORRUPT, CLEAN, metric, over=("layer", "heads"))
    assert np.abs(np.asarray(total.unwrap("layer", "heads", "batch"))[0, 0] - baseline).min() > 1e-3


def test_layer0_to_layer1_values_finds_exactly_the_planted_route(model):
    senders = sender_masks(model, CLEAN)
    layer0 = senders[{"sweep": pz.slice[:2]}]  # (0, 0) and (0, 1)
    receivers = pz.nx.wrap(jnp.zeros((2, 2, 2), bool).at[0, 1, 0].set(True).at[1, 1, 1].set(True)).tag(
        "receiver", "layer", "heads"
    )  # receiver r = the value input of layer-1 head r, at every position
    routed = path_patching(model, CORRUPT, CLEAN, metric, layer0, receivers, receiver_site="value")
    baseline = np.asarray(metric(model(CLEAN)).unwrap("batch"))
    change = np.asarray(routed.unwrap("sweep", "receiver", "batch")) - baseline
    chex.assert_shape(change, (2, 2, 2))
    found = np.abs(change).max(axis=-1) > 1e-4
    np.testing.assert_array_equal(found, [[True, False], [False, False]])
    # The route carries all of L0H0's effect, so it equals L0H0's total effect under activation patching.
    total = patching.activation_patching(model, "head_out", CORRUPT, CLEAN, metric, over=("layer", "heads"))
    np.testing.assert_allclose(
        change[0, 0], np.asarray(total.unwrap("layer", "heads", "batch"))[0, 0] - baseline, atol=1e-5
    )


def test_last_layer_direct_effect_equals_activation_patching_with_grouped_queries():
    model = tiny_llama(kv_heads=2, query_multiplier=2, layers=2)
    prompts_clean, prompts_corrupt = CLEAN[{"seq": pz.slice[:5]}], CORRUPT[{"seq": pz.slice[:5]}]
    over = ("layer", "seq", "head_groups", "query_heads")
    senders = sender_masks(model, prompts_clean, over=over)
    last = senders[{"sweep": pz.slice[senders.named_shape["sweep"] // 2 :]}]  # the components of layer 1
    direct = path_patching(model, prompts_corrupt, prompts_clean, metric, last, chunk=8)
    total = patching.activation_patching(model, "head_out", prompts_corrupt, prompts_clean, metric)
    last_total = np.asarray(total.unwrap(*over, "batch"))[1].reshape(-1, 2)
    np.testing.assert_allclose(np.asarray(direct.unwrap("sweep", "batch")), last_total, atol=1e-5)


def test_senders_over_a_non_component_axis_are_rejected(model):
    with pytest.raises(ValueError, match="component axes"):
        sender_masks(model, CLEAN, over=("layer", "projection"))
