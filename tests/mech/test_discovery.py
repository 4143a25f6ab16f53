"""Circuit discovery by path patching (mech/circuits/discovery.py) on the hand-built routed model of
test_path_patching: its only direct route to the logits is layer 1 head 0, fed through its values by layer 0
head 0 only, and its queries are zero, so the value rounds must find exactly those heads and the
query-composition rounds nothing."""

import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.mech.circuits.discovery import CorrectProbability, discover_circuit, select_heads
from jaxinterp.mech.tasks.boxes_counterfactuals import EntityExamples
from tests.mech.tiny_models import ROUTED_CLEAN as CLEAN
from tests.mech.tiny_models import routed_model


def _examples(tokens, answers, query_index):
    n, seq = tokens.shape
    positions = {
        "last": np.full(n, seq - 1),
        "query_label": np.full(n, seq - 3),
        "prev_query_label": 1 + 2 * np.asarray(query_index),
        "queried_object": 2 * np.asarray(query_index),
    }
    return EntityExamples(tokens, np.asarray(answers), np.asarray(query_index), positions)


def test_select_heads_keeps_the_most_negative_below_the_threshold():
    scores = np.array([[-0.5, 0.2], [-0.01, -0.3]])
    assert select_heads(scores, top_k=1, min_effect=0.05) == [(0, 0)]
    assert select_heads(scores, top_k=4, min_effect=0.05) == [(0, 0), (1, 1)]


def test_select_heads_either_sign_ranks_by_magnitude():
    scores = np.array([[-0.2, 1.3], [-0.01, -0.06]])
    assert select_heads(scores, top_k=2, min_effect=0.05, either_sign=True) == [(0, 1), (0, 0)]
    assert select_heads(scores, top_k=4, min_effect=0.05, either_sign=True) == [(0, 1), (0, 0), (1, 1)]
    assert select_heads(scores, top_k=4, min_effect=0.05) == [(0, 0), (1, 1)]  # the paper's rule


def test_correct_probability_metric_reads_the_answer_at_the_last_position():
    logits = pz.nx.wrap(jnp.log(jnp.array([[[0.1, 0.9], [0.7, 0.3]]]))).tag("batch", "seq", "vocabulary")
    np.testing.assert_allclose(CorrectProbability((0,))(logits).unwrap("batch"), [0.7], rtol=1e-6)


def test_discovery_finds_the_only_head_with_a_direct_route():
    model = routed_model()
    clean_tokens = np.asarray(CLEAN.unwrap("batch", "seq"))
    noise_tokens = clean_tokens[::-1]  # each prompt's noise is the other prompt: its head outputs point elsewhere
    logits = model(CLEAN)[{"seq": -1}].unwrap("batch", "vocabulary")
    answers = np.asarray(jnp.argmax(logits, axis=-1))  # the clean runs' own answers
    clean = _examples(clean_tokens, answers, [0, 1])
    noise = _examples(noise_tokens, answers, [0, 1])
    result = discover_circuit(model, clean, noise, min_effect=1e-3)
    vf = result.scores["value_fetcher"]
    assert vf[1, 0] < -1e-3
    np.testing.assert_allclose(np.delete(vf.reshape(-1), 2), 0.0, atol=1e-6)
    assert result.circuit.groups["value_fetcher"] == ((1, 0),)
    np.testing.assert_allclose(result.scores["position_transmitter"], 0.0, atol=1e-6)  # queries are zero
    groups = result.circuit.groups
    assert all(groups[g] == () for g in ("position_transmitter", "label_matcher", "structure_reader"))
    # The one route into the value fetcher's values is L0H0 (it writes what L1H0's value reads); L0H1's route
    # never reaches the logits.
    assert groups["position_detector"] == ((0, 0),) and set(groups["object_reader"]) <= {(0, 0)}
