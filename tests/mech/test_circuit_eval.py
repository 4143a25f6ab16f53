"""mech/circuits nodes, mean_ablation, cmap: keep masks, mean-ablation identities, cross-model patching,
each checked against an independent computation with `patching.with_sites` / `capture`."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.circuits import cmap, mean_ablation
from jaxinterp.mech.circuits.nodes import Circuit, all_heads_at, random_circuit
from tests.compiles import count_compiles
from tests.mech import tiny_models

LAYERS, HEADS, SEQ, BATCH, VOCAB = 2, 3, 6, 4, 37
CHUNK = 2  # prompts per compiled call: one shape for most tests, so few compiles
ROLES = {"vf": "last", "pt": "last", "pd": "query_label", "sr": "prev_query_label"}


@functools.cache
def tiny_llama(seed=0, kv_heads=HEADS, query_multiplier=1, frozen=True):
    model = tiny_models.tiny_llama(kv_heads, query_multiplier, LAYERS, seed)
    return pz.freeze_params(model) if frozen else model


def rows(seed, batch=BATCH):
    return np.random.default_rng(seed).integers(0, VOCAB, (batch, SEQ)).astype(np.int32)


def named(token_rows):
    return pz.nx.wrap(jnp.asarray(token_rows)).tag("batch", "seq")


def positions(batch=BATCH):
    return {
        "last": np.full(batch, SEQ - 1),
        "query_label": np.full(batch, SEQ - 3),
        "prev_query_label": np.arange(batch) % (SEQ - 3),
    }


CIRCUIT = Circuit({"vf": ((1, 0), (1, 2)), "pt": ((0, 1), (1, 2)), "pd": ((0, 1),), "sr": ((0, 0), (0, 1))}, ROLES)


# References are jitted too (eager penzai is slow), but written independently of the code under test:
# the whole batch at once, no chunking, masks and sources handed straight to `patching`.
capture = jax.jit(patching.capture, static_argnames="site")


@jax.jit
def full_logits(model, token_rows):
    return model(named(token_rows)).unwrap("batch", "seq", "vocabulary")[:, -1]


@jax.jit
def logits_with_heads(model, token_rows, source, mask):
    """patching.with_sites with an explicit {batch, layer, seq, heads} mask."""
    patched = patching.patched_logits(
        patching.with_sites(model, site="head_out"),
        named(token_rows),
        source,
        pz.nx.wrap(jnp.asarray(mask)).tag("batch", "layer", "seq", "heads"),
    )
    return patched.unwrap("batch", "seq", "vocabulary")[:, -1]


def test_keep_mask_is_true_exactly_at_each_node_and_size_counts_nodes():
    where = positions()
    mask = CIRCUIT.keep_mask(where, LAYERS, HEADS, SEQ)
    chex.assert_shape(mask, (BATCH, LAYERS, SEQ, HEADS))
    expected = np.zeros_like(mask)
    for group, heads in CIRCUIT.groups.items():
        for layer, head in heads:
            for b in range(BATCH):
                expected[b, layer, where[ROLES[group]][b], head] = True
    np.testing.assert_array_equal(mask, expected)
    # (1, 2) is in vf and pt, both at "last": one node; (0, 1) at last, query_label and prev_query_label: three.
    assert CIRCUIT.size() == 6
    assert (0, 1, "query_label") in CIRCUIT.nodes() and (1, 2, "last") in CIRCUIT.nodes()
    assert Circuit.from_json(CIRCUIT.to_json()) == CIRCUIT
    with pytest.raises(ValueError, match="outside"):
        CIRCUIT.keep_mask(where, 1, HEADS, SEQ)


def test_random_circuit_keeps_group_sizes_and_is_deterministic_per_seed():
    many = Circuit({"a": tuple((0, h) for h in range(5)), "b": ((1, 1),)}, {"a": "last", "b": "query_label"})
    drawn = random_circuit(many, layers=3, heads=4, rng=7)
    assert {g: len(h) for g, h in drawn.groups.items()} == {"a": 5, "b": 1}
    assert len(set(drawn.groups["a"])) == 5
    assert all(0 <= layer < 3 and 0 <= head < 4 for heads in drawn.groups.values() for layer, head in heads)
    assert drawn.roles == many.roles
    assert random_circuit(many, 3, 4, 7) == drawn
    assert any(random_circuit(many, 3, 4, seed) != drawn for seed in range(8, 12))
    # every head can be drawn (flat index -> (layer, head) covers a non-square grid)
    seen = {pair for seed in range(200) for pair in random_circuit(many, 3, 4, seed).groups["a"]}
    assert seen == {(layer, head) for layer in range(3) for head in range(4)}


def test_random_circuit_outside_avoids_the_circuit_nodes_at_each_role():
    many = Circuit(
        {"a": tuple((0, h) for h in range(4)) + ((2, 3),), "b": ((1, 1),), "c": ((0, 0), (1, 2))},
        {"a": "last", "b": "query_label", "c": "last"},
    )
    at_last = {(layer, head) for layer, head, role in many.nodes() if role == "last"}
    for seed in range(50):
        drawn = random_circuit(many, 3, 4, seed, outside=True)
        assert {g: len(h) for g, h in drawn.groups.items()} == {"a": 5, "b": 1, "c": 2}
        assert not set(drawn.groups["a"]) & at_last and not set(drawn.groups["c"]) & at_last
        assert drawn.groups["b"] != ((1, 1),)
    # a group larger than what is left gets what is left: 12 heads, 11 taken at "last"
    full = Circuit({"a": tuple((i // 4, i % 4) for i in range(11))}, {"a": "last"})
    assert random_circuit(full, 3, 4, 0, outside=True).groups["a"] == ((2, 3),)


def test_mean_head_outputs_is_the_positionwise_batch_mean_in_chunks():
    model, mean_rows = tiny_llama(), rows(1, batch=5)
    mean = mean_ablation.mean_head_outputs(model, named(mean_rows), chunk=CHUNK)  # 2 + 2 + 1 padded
    captured = capture(model, named(mean_rows), site="head_out")
    expected = np.asarray(captured.unwrap("batch", "layer", "seq", "heads", "projection")).mean(0)
    np.testing.assert_allclose(mean.unwrap("layer", "seq", "heads", "projection"), expected, atol=1e-6)


def test_keeping_every_head_reproduces_the_full_model_exactly():
    model, prompts = tiny_llama(), rows(2)
    mean = mean_ablation.mean_head_outputs(model, named(rows(3)), chunk=CHUNK)
    keep = np.ones((BATCH, LAYERS, SEQ, HEADS), bool)
    got = mean_ablation.circuit_logits(model, named(prompts), mean, keep, chunk=CHUNK)
    # bit-exact against the same compiled forward pass; eager (unjitted) penzai differs by float rounding
    np.testing.assert_array_equal(got, mean_ablation.last_logits(model, named(prompts), chunk=CHUNK))
    np.testing.assert_allclose(got, full_logits(model, prompts), atol=1e-5)
    # the same through a Circuit of every head at every position, and faithfulness is then exactly 1
    everywhere = all_heads_at([f"p{i}" for i in range(SEQ)], LAYERS, HEADS)
    each = {f"p{i}": np.full(BATCH, i) for i in range(SEQ)}
    assert everywhere.keep_mask(each, LAYERS, HEADS, SEQ).all()
    answers = got.argmax(-1)
    scores = mean_ablation.faithfulness(model, named(prompts), answers, mean, everywhere, each, chunk=CHUNK)
    assert scores == {"full_accuracy": 1.0, "circuit_accuracy": 1.0, "faithfulness": 1.0}


def test_ablation_matches_an_independent_with_sites_run():
    """All-False keeps nothing (every head = its mean); a random mask checks the [batch, layer, seq, heads]
    order against the reference."""
    model, prompts, mean_rows = tiny_llama(), rows(4), rows(5, batch=5)
    mean = mean_ablation.mean_head_outputs(model, named(mean_rows), chunk=CHUNK)
    captured = capture(model, named(mean_rows), site="head_out")
    mean_ref = pz.nx.nmap(lambda a: a.mean(0))(captured.untag("batch"))
    random_keep = np.random.default_rng(0).random((BATCH, LAYERS, SEQ, HEADS)) < 0.5
    for keep in (np.zeros((BATCH, LAYERS, SEQ, HEADS), bool), random_keep):
        got = mean_ablation.circuit_logits(model, named(prompts), mean, keep, chunk=CHUNK)
        expected = logits_with_heads(model, prompts, mean_ref, ~keep)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, full_logits(model, prompts), atol=1e-3)


def test_mean_of_a_single_prompt_is_itself_so_ablation_changes_nothing():
    model, prompt = tiny_llama(frozen=False), rows(6, batch=1)  # parameters are frozen inside
    mean = mean_ablation.mean_head_outputs(model, named(prompt))
    keep = np.zeros((1, LAYERS, SEQ, HEADS), bool)
    got = mean_ablation.circuit_logits(model, named(prompt), mean, keep)
    np.testing.assert_allclose(got, full_logits(pz.freeze_params(model), prompt), atol=1e-6)
    answers = got.argmax(-1)
    assert mean_ablation.circuit_accuracy(model, named(prompt), answers, mean, keep) == 1.0


def test_random_baseline_reports_the_accuracies_of_seeded_random_circuits():
    model, prompts = tiny_llama(), rows(7)
    mean = mean_ablation.mean_head_outputs(model, named(rows(8, batch=5)), chunk=CHUNK)
    answers = full_logits(model, prompts).argmax(-1)
    result = mean_ablation.random_baseline(
        model, named(prompts), answers, mean, CIRCUIT, positions(), draws=2, seed=3, chunk=CHUNK
    )
    rng = np.random.default_rng(3)
    expected = [
        mean_ablation.circuit_accuracy(
            model,
            named(prompts),
            answers,
            mean,
            random_circuit(CIRCUIT, LAYERS, HEADS, rng).keep_mask(positions(), LAYERS, HEADS, SEQ),
            chunk=CHUNK,
        )
        for _ in range(2)
    ]
    assert result["accuracies"] == expected
    assert result["mean"] == pytest.approx(np.mean(expected)) and result["std"] == pytest.approx(np.std(expected))


def test_cmap_from_the_base_itself_changes_nothing():
    model, prompts = tiny_llama(), rows(9)
    patch = np.random.default_rng(1).random((BATCH, LAYERS, SEQ, HEADS)) < 0.5
    got = cmap.cmap_logits(model, model, named(prompts), patch, chunk=CHUNK)
    np.testing.assert_allclose(got, mean_ablation.last_logits(model, named(prompts), chunk=CHUNK), rtol=0, atol=1e-5)


def test_cmap_of_one_layer_matches_a_manual_patch_of_the_donor_capture():
    base, donor, prompts = tiny_llama(0), tiny_llama(1), rows(10)
    layer_one = np.zeros((BATCH, LAYERS, SEQ, HEADS), bool)
    layer_one[:, 1] = True
    got = cmap.cmap_logits(base, donor, named(prompts), layer_one, chunk=CHUNK)
    donor_heads = capture(donor, named(prompts), site="head_out")
    np.testing.assert_allclose(got, logits_with_heads(base, prompts, donor_heads, layer_one), atol=1e-5)
    assert not np.allclose(got, full_logits(base, prompts), atol=1e-3)
    # patching nothing gives the base model's accuracy
    answers = full_logits(base, prompts).argmax(-1)
    nothing = np.zeros_like(layer_one)
    assert cmap.cmap_accuracy(base, donor, named(prompts), answers, nothing, chunk=CHUNK) == 1.0


def test_cmap_per_group_patches_each_group_and_the_whole_circuit():
    base, donor, prompts = tiny_llama(0), tiny_llama(1), rows(11)
    answers = full_logits(donor, prompts).argmax(-1)
    result = cmap.cmap_per_group(base, donor, named(prompts), answers, CIRCUIT, positions(), chunk=CHUNK)
    assert set(result) == {*CIRCUIT.groups, "full_circuit"}
    sr_only = CIRCUIT.group("sr").keep_mask(positions(), LAYERS, HEADS, SEQ)
    assert result["sr"] == cmap.cmap_accuracy(base, donor, named(prompts), answers, sr_only, chunk=CHUNK)


def test_grouped_query_models_are_refused_with_a_clear_error():
    gqa = tiny_llama(kv_heads=1, query_multiplier=2)
    with pytest.raises(ValueError, match="'heads' axis"):
        mean_ablation.mean_head_outputs(gqa, named(rows(12)))


def test_chunks_and_repeated_calls_reuse_one_compiled_program():
    model, prompts = tiny_llama(), rows(13, batch=7)
    mean = mean_ablation.mean_head_outputs(model, named(rows(14, batch=3)), chunk=3)
    keep = np.random.default_rng(2).random((7, LAYERS, SEQ, HEADS)) < 0.5
    mean_ablation.circuit_logits(model, named(prompts), mean, keep, chunk=3)  # compiles its programs
    with count_compiles() as compiles:  # 3 chunks of 3 (the last padded) again, with a fresh `with_sites` copy
        mean_ablation.circuit_logits(model, named(prompts), mean, keep, chunk=3)
    assert compiles == []


def test_cmap_recovers_the_one_head_a_donor_changed():
    """A donor that differs from the base only in head (1, 2)'s value weights: patching that head's outputs
    into the base gives exactly the donor, patching any other head changes nothing."""
    base = tiny_llama(frozen=False)

    def changed(parameter):
        if not parameter.label.endswith("block_1/attention/value.weights"):
            return parameter
        value = parameter.value
        names = tuple(value.named_shape)
        array = np.asarray(value.unwrap(*names)).copy()
        index = [slice(None)] * array.ndim
        index[names.index("heads")] = 2
        array[tuple(index)] *= -3.0
        return pz.Parameter(value=pz.nx.wrap(jnp.asarray(array)).tag(*names), label=parameter.label)

    donor = pz.select(base).at_instances_of(pz.Parameter).apply(changed)
    tokens = rows(7)
    everywhere = np.zeros((BATCH, LAYERS, SEQ, HEADS), bool)
    planted, others = everywhere.copy(), everywhere.copy()
    planted[:, 1, :, 2] = True
    others[:, :, :, :2] = True
    others[:, 0, :, 2] = True
    donor_logits = mean_ablation.last_logits(donor, tokens, CHUNK)
    base_logits = mean_ablation.last_logits(base, tokens, CHUNK)
    assert np.abs(donor_logits - base_logits).max() > 1e-2
    np.testing.assert_allclose(cmap.cmap_logits(base, donor, tokens, planted, CHUNK), donor_logits, atol=1e-5)
    np.testing.assert_allclose(cmap.cmap_logits(base, donor, tokens, others, CHUNK), base_logits, atol=1e-5)
