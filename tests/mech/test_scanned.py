"""mech/scanned.py: the scanned model equals penzai's, its packed sweep equals `patching.activation_patching`,
and it compiles the same number of programs whatever the depth.

The reference sweeps use `position_buckets=1` (fewest programs to compile); buckets do not change its values.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz

from jaxinterp.mech import patching, scanned
from tests.compiles import count_compiles
from tests.mech.tiny_models import CLEAN, CORRUPT, routed_model, tiny_llama, tokens, unwrap_logits

METRIC = functools.partial(patching.logit_difference, correct=jnp.asarray([3, 4]), wrong=jnp.asarray([5, 6]))
HEADS = ("head_groups", "query_heads")


@pytest.fixture(scope="module")
def grouped():
    """A 2-layer model with 3 key/value heads x 2 query heads each, and its stacked form."""
    model = tiny_llama(kv_heads=3, query_multiplier=2)
    return model, scanned.from_penzai(model)


@pytest.mark.parametrize("layout", [(3, 2), (3, 1), (1, 4)], ids=["grouped", "multi-head", "multi-query"])
def test_scanned_logits_equal_the_penzai_model(layout):
    model = tiny_llama(*layout)
    lm = scanned.from_penzai(model)
    expected = jax.jit(lambda frozen, batch: frozen(batch))(pz.freeze_params(model), CLEAN)  # compiled: faster
    np.testing.assert_allclose(unwrap_logits(scanned.logits(lm, CLEAN)), unwrap_logits(expected), atol=1e-5, rtol=0)


def _values(result, names):
    return np.asarray(result.unwrap(*names))


def test_head_position_sweep_equals_activation_patching(grouped):
    """Every (layer, position, head), with full logits and with the last position only (then in chunks of 4
    packed rows, the last call padded): the reference engine's values to 1e-5."""
    model, lm = grouped
    reference = patching.activation_patching(model, "head_out", CLEAN, CORRUPT, METRIC, position_buckets=1)
    names = tuple(reference.named_shape)
    assert names == ("layer", "seq", *HEADS, "batch")
    assert np.abs(_values(reference, names)).max() > 0.5  # the patches matter
    for options in ({}, {"chunk": 4, "metric_position": -1}):
        ours = scanned.activation_patching(lm, "head_out", CLEAN, CORRUPT, METRIC, **options)
        assert dict(ours.named_shape) == dict(reference.named_shape)
        np.testing.assert_allclose(_values(ours, names), _values(reference, names), atol=1e-5, rtol=0)
    # A metric read at position 2: components patched later leave it at the corrupt run's value.
    middle = functools.partial(
        patching.logit_difference, correct=jnp.asarray([3, 4]), wrong=jnp.asarray([5, 6]), position=2
    )
    full = _values(scanned.activation_patching(lm, "head_out", CLEAN, CORRUPT, middle), names)
    # With metric_position the metric sees that one position as {seq: 1}: METRIC reads it as position -1.
    at_two = _values(scanned.activation_patching(lm, "head_out", CLEAN, CORRUPT, METRIC, metric_position=2), names)
    np.testing.assert_allclose(at_two, full, atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        at_two[:, 3:], np.broadcast_to(_values(middle(model(CORRUPT)), ("batch",)), at_two[:, 3:].shape), atol=1e-5
    )


def test_per_head_sweep_and_layer_subset_equal_activation_patching(grouped):
    """over=(layer, heads) patches each head at every position; `layers` picks and orders the layers."""
    model, lm = grouped
    over = ("layer", *HEADS)
    reference = patching.activation_patching(model, "head_out", CLEAN, CORRUPT, METRIC, over=over)
    names = tuple(reference.named_shape)
    ours = scanned.activation_patching(lm, "head_out", CLEAN, CORRUPT, METRIC, over=over)
    np.testing.assert_allclose(_values(ours, names), _values(reference, names), atol=1e-5, rtol=0)
    subset = scanned.activation_patching(lm, "head_out", CLEAN, CORRUPT, METRIC, over=over, layers=[1, 0])
    np.testing.assert_allclose(_values(subset, names), _values(reference, names)[::-1], atol=1e-5, rtol=0)


def test_packing_places_every_component_once_two_per_row():
    """All T x H single-position components of a layer: each in exactly one segment, the segments of a row
    fit its T + 1 slots at their own positions, and (T x H even) every row holds two components."""
    t, heads = 5, 4
    masks = np.eye(t * heads, dtype=bool).reshape(t * heads, t, heads)
    packing = scanned._pack(masks)
    assert sorted(packing.component.ravel().tolist()) == list(range(t * heads))
    assert packing.component.shape == (t * heads // 2, 2) and packing.positions.shape[1] == t + 1
    for row in range(packing.component.shape[0]):
        for segment, component in enumerate(packing.component[row]):
            start = masks[component].any(axis=1).argmax()
            slots = slice(packing.offset[row, segment], packing.offset[row, segment] + t - start)
            assert packing.positions[row, slots].tolist() == list(range(start, t))
            assert (packing.segments[row, slots] == segment).all()
            assert packing.patch[row, slots].tolist() == masks[component, start:].tolist()


def test_compiles_do_not_grow_with_depth_or_repeat():
    """A 3-layer and a 6-layer model compile the same number of programs for a whole sweep (2: the runs
    it reuses, and the chunk); a second sweep with other prompts of the same shape compiles nothing."""
    counts = []
    for layers in (3, 6):
        lm = scanned.from_penzai(tiny_llama(2, 2, layers=layers))
        with count_compiles() as compiles:
            scanned.activation_patching(lm, "head_out", CLEAN, CORRUPT, METRIC, metric_position=-1, chunk=4)
        counts.append(len(compiles))
    assert counts == [2, 2]
    other = tokens([[2, 2, 7, 1, 3], [9, 4, 8, 0, 6]])
    with count_compiles() as compiles:
        scanned.activation_patching(lm, "head_out", other, CORRUPT, METRIC, metric_position=-1, chunk=4)
    assert compiles == []


def test_unsupported_models_and_sites_are_refused(grouped):
    _, lm = grouped
    with pytest.raises(ValueError, match="RMSLayerNorm"):
        scanned.from_penzai(routed_model())  # its norms are replaced by the identity
    with pytest.raises(ValueError, match="head_out"):
        scanned.activation_patching(lm, "resid_post", CLEAN, CORRUPT, METRIC)
    with pytest.raises(ValueError, match="layer"):
        scanned.activation_patching(lm, "head_out", CLEAN, CORRUPT, METRIC, over=("seq",))
