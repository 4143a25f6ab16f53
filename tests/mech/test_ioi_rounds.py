"""mech/ioi: the model rewrites, path-patching rounds and faithfulness on a tiny grouped-query LLaMA, against
one-prompt, one-sender references written with `patching.with_sites` / `capture` only."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.ioi import evaluate, models, preselect, rounds
from jaxinterp.mech.tasks import ioi
from tests.mech.test_ioi_task import toy_vocabulary
from tests.mech.tiny_models import tiny_llama

TOL = 2e-4


@pytest.fixture(scope="module")
def setup():
    vocab = toy_vocabulary()
    base = tiny_llama(kv_heads=2, query_multiplier=3, layers=2)
    names = models.names_only(base, vocab.name_ids)
    prompts = ioi.stack(ioi.sample_templates(vocab, (0, 6), 1, seed=0))  # positions differ between variants
    shape = rounds.head_shape(names, prompts.tokens)
    return base, names, models.per_query_kv(names), prompts, shape


_capture = jax.jit(patching.capture, static_argnames="site")
_run = jax.jit(lambda model, tokens, **side: model(tokens, **side))


def _tokens(rows):
    return pz.nx.wrap(jnp.asarray(rows, jnp.int32)).tag("batch", "seq")


def _ld(logits, prompts, b):
    values = np.asarray(logits.unwrap("batch", "seq", "vocabulary"))[0, prompts.positions["END"][b]]
    return values[prompts.io[b]] - values[prompts.s[b]]


def reference_score(model, prompts, shape, sender, receivers, site, where):
    """Path patching one sender, one prompt at a time: one mixed source array, one receiver mask per prompt."""
    heads_model = patching.with_sites(model, "head_out")
    every_layer = pz.nx.wrap(jnp.ones(shape.layers, bool)).tag("layer")
    one = pz.nx.wrap(jnp.asarray(rounds.head_mask(shape, [sender]))).tag("layer", *shape.head_axes)
    receiving = patching.with_sites(model, site) if receivers is not None else None
    patched, clean = [], []
    for b in range(len(prompts)):
        target, source = _tokens(prompts.tokens[b : b + 1]), _tokens(prompts.abc[b : b + 1])
        mixed = pz.nx.nmap(jnp.where)(one, _capture(model, source, "head_out"), _capture(model, target, "head_out"))
        clean.append(_ld(_run(model, target), prompts, b))
        if receivers is None:
            patched.append(_ld(_run(heads_model, target, patch_source=mixed, patch_mask=every_layer), prompts, b))
            continue
        received = _capture(heads_model, target, site, patch_source=mixed, patch_mask=every_layer)
        mask = np.zeros((shape.layers, prompts.tokens.shape[1], shape.groups, shape.query_heads), bool)
        for layer, flat in receivers:
            mask[layer, prompts.positions[where][b], *shape.index(flat)] = True
        named = pz.nx.wrap(jnp.asarray(mask)).tag("layer", "seq", *shape.head_axes)
        patched.append(_ld(_run(receiving, target, patch_source=received, patch_mask=named), prompts, b))
    return (np.mean(patched) - np.mean(clean)) / np.mean(clean)


def test_per_query_kv_is_the_same_function_with_keys_and_values_per_query_head(setup):
    base, names, per_query, prompts, _ = setup
    tokens = _tokens(prompts.tokens)
    full = np.asarray(base(tokens).unwrap("batch", "seq", "vocabulary"))
    np.testing.assert_allclose(
        np.asarray(names(tokens).unwrap("batch", "seq", "vocabulary")), full[..., list(range(1, 9))], atol=1e-5
    )
    np.testing.assert_allclose(
        np.asarray(per_query(tokens).unwrap("batch", "seq", "vocabulary")), full[..., list(range(1, 9))], atol=1e-5
    )
    for site in ("key", "value"):
        shape = patching.capture(per_query, tokens, site).named_shape
        chex.assert_equal(dict(shape)["query_heads"], 3)
    assert "query_heads" not in patching.capture(names, tokens, "value").named_shape


def test_patching_one_query_heads_value_leaves_its_group_mates_alone(setup):
    _, _, per_query, prompts, shape = setup
    tokens, abc = _tokens(prompts.tokens), _tokens(prompts.abc)
    values = patching.capture(per_query, abc, "value")
    mask = np.zeros((shape.layers, shape.groups, shape.query_heads), bool)
    mask[1, 0, 2] = True
    sited = patching.with_sites(per_query, "value")
    named = pz.nx.wrap(jnp.asarray(mask)).tag("layer", *shape.head_axes)
    out = patching.capture(sited, tokens, "head_out", patch_source=values, patch_mask=named)
    clean = patching.capture(per_query, tokens, "head_out")
    diff = np.abs(np.asarray((out - clean).unwrap("layer", "head_groups", "query_heads", "batch", "seq", "projection")))
    assert diff[1, 0, 2].max() > 1e-3
    assert diff[1, 0, :2].max() == 0 and diff[1, 1].max() == 0 and diff[0].max() == 0


@pytest.mark.parametrize(
    "receivers, site, where",
    [
        (None, "value", "END"),
        ([(1, 2), (1, 3)], "query", "END"),
        ([(1, 1), (1, 4)], "value", "S2"),
        ([(1, 0), (1, 5)], "key", "S1+1"),
    ],
)
def test_path_scores_equal_the_one_sender_one_prompt_reference(setup, receivers, site, where):
    _, _, per_query, prompts, shape = setup
    senders = [(0, h) for h in range(shape.heads)]  # the shapes test_first_order_estimates... compiles too
    scores = rounds.path_scores(per_query, prompts, senders, receivers, site, where, shape)
    expected = [reference_score(per_query, prompts, shape, senders[i], receivers, site, where) for i in (1, 4)]
    np.testing.assert_allclose(scores[[1, 4]], expected, rtol=TOL, atol=TOL)
    assert np.abs(expected).max() > 1e-3  # the paths carry something, so the comparison means something


@pytest.mark.parametrize("receivers, site, where", [(None, None, "END"), ([(1, 1), (1, 4)], "value", "S2")])
def test_first_order_estimates_track_the_exact_scores(setup, receivers, site, where):
    _, _, per_query, prompts, shape = setup
    senders = [(0, h) for h in range(shape.heads)]
    exact = rounds.path_scores(per_query, prompts, senders, receivers, site or "value", where, shape)
    mask = None
    if receivers is not None:
        mask = rounds.receiver_mask(shape, receivers, prompts.positions[where], prompts.tokens.shape[1])
    estimate = preselect.estimated_scores(per_query, prompts, shape.head_axes, mask, site)[0]
    assert np.corrcoef(exact, estimate)[0, 1] > 0.8


def test_select_keeps_the_sign_the_thresholds_and_the_cap():
    heads = [(0, i) for i in range(6)]
    scores = np.array([-0.5, -0.05, 0.3, -0.2, -0.09, 0.001])
    sel = rounds.Selection(relative=0.2, floor=0.01)
    assert rounds.select(scores, heads, -1, 5, sel) == [(0, 0), (0, 3)]  # -0.09 < 0.2 x 0.5
    assert rounds.select(scores, heads, +1, 5, sel) == [(0, 2)]
    assert rounds.select(scores, heads, -1, 1, sel) == [(0, 0)]


def test_rounds_measure_exactly_the_candidates_they_keep(setup):
    _, _, per_query, prompts, shape = setup
    loose = rounds.Selection(relative=0.0, floor=0.0)
    every = rounds.run_rounds(per_query, prompts, loose, candidates=None, log=lambda *_: None)
    few = rounds.run_rounds(per_query, prompts, loose, candidates=5, log=lambda *_: None)
    measured = np.isfinite(few.scores["logits"])
    assert measured.sum() == 5
    np.testing.assert_allclose(few.scores["logits"][measured], every.scores["logits"][measured], rtol=1e-5)
    assert len(every.heads) <= sum(dict(rounds.DEFAULT_TOP_K).values())
    for name in ("induction", "duplicate_token"):
        for head in every.classes[name]:
            later = every.attention["S2->S1+1"][head] > every.attention["S2->S1"][head]
            assert later == (name == "induction")


def test_faithfulness_of_every_head_is_one_and_of_no_head_is_the_all_ablated_value(setup):
    _, names, _, prompts, shape = setup
    every = [(layer, h) for layer in range(shape.layers) for h in range(shape.heads)]
    result = evaluate.faithfulness(names, prompts, every, shape, random_draws=2)
    assert result["faithfulness"] == 1.0
    # All heads ablated by hand: each prompt's heads replaced by its variant's ABC means.
    sited = patching.with_sites(names, "head_out")
    all_layers = pz.nx.wrap(jnp.ones(shape.layers, bool)).tag("layer")
    lds = []
    for b in range(len(prompts)):
        rows = np.flatnonzero(prompts.variant == prompts.variant[b])
        means = pz.nx.nmap(jnp.mean)(_capture(names, _tokens(prompts.abc[rows]), "head_out").untag("batch"))
        target = _tokens(prompts.tokens[b : b + 1])
        lds.append(_ld(_run(sited, target, patch_source=means, patch_mask=all_layers), prompts, b))
    np.testing.assert_allclose(result["empty_logit_difference"], np.mean(lds), rtol=1e-4, atol=1e-5)
    assert abs(result["empty_logit_difference"] - result["full_logit_difference"]) > 1e-3
    assert len(result["random"]["draws"]) == 2
