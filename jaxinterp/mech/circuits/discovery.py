"""Finding the entity-tracking circuit by path patching from the logits backwards (Prakash et al. 2024, §1.3).

Four rounds, each scoring every head at one position as a sender (vectorised over heads by
`path_patching`, never a loop of forward passes per head):

  group                  sender position       receivers                               composition
  value_fetcher          last                  the logits (direct effect)              -
  position_transmitter   last                  value fetchers' query at last           Q
  position_detector      query label (L - 3)   transmitters' value at L - 3            V
  structure_reader       the query label's     detectors' value at that position       V
                         context occurrence

Score of a sender = mean over prompts of (p_patch - p_clean) / p_clean, p the softmax probability of the
correct object at the last position, the sender's output taken from the noise run (another context, query
label replaced by an absent letter). The most negative scores matter. Heads in both the first and second
group stay in the second only (as the paper does).

Which heads to keep is the part the paper tunes by hand (top-k 20/5/10/5 on LLaMA-7B's 1024 heads, then
minimality pruning). Decision for small models: keep at most `top_k[group]` heads whose score is below
`-min_effect` (default 0.05: the head's path removes at least 5% of the correct answer's probability).

The structure reader's sender position differs per prompt (6 + 7q for queried box q), so that round runs
once per queried box on the prompts that query it, and the scores are averaged weighted by prompt count.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.circuits.nodes import Circuit
from jaxinterp.mech.path_patching import path_patching
from jaxinterp.mech.tasks.boxes_counterfactuals import EntityExamples

GROUPS = ("value_fetcher", "position_transmitter", "position_detector", "structure_reader")
ROLE_OF_GROUP = {
    "value_fetcher": "last",
    "position_transmitter": "last",
    "position_detector": "query_label",
    "structure_reader": "prev_query_label",
}
DEFAULT_TOP_K = {"value_fetcher": 8, "position_transmitter": 4, "position_detector": 4, "structure_reader": 4}


@dataclasses.dataclass(frozen=True)
class CorrectProbability:
    """Metric for path patching: softmax probability of each prompt's answer at the last position.

    Hashable (answers as a tuple), so it can be a static argument of the compiled sweep.
    """

    answers: tuple[int, ...]

    def __call__(self, logits: pz.nx.NamedArray) -> pz.nx.NamedArray:
        last = logits[{"seq": -1}]
        probs = pz.nx.nmap(jax.nn.softmax)(last.untag("vocabulary")).tag("vocabulary")
        answers = pz.nx.wrap(jnp.asarray(self.answers, jnp.int32)).tag("batch")
        return pz.nx.nmap(lambda p, a: p[a])(probs.untag("vocabulary"), answers)


@dataclasses.dataclass(frozen=True)
class DiscoveryResult:
    """The circuit and every round's scores.

    Attributes:
      circuit: the four groups (layer, head) with their roles.
      scores: group -> [layer, heads] mean relative probability change of each sender.
    """

    circuit: Circuit
    scores: dict[str, np.ndarray]

    def to_json(self) -> dict:
        return {"circuit": self.circuit.to_json(), "scores": {k: v.tolist() for k, v in self.scores.items()}}


def _tokens(array) -> pz.nx.NamedArray:
    return pz.nx.wrap(jnp.asarray(array, jnp.int32)).tag("batch", "seq")


def _head_axes(model, tokens) -> tuple[int, int, int]:
    captured = patching.capture(model, tokens[{"batch": pz.slice[:1]}], "head_out")
    shape = captured.named_shape
    if "heads" not in shape:
        raise ValueError("circuit discovery supports models with one 'heads' axis (no grouped queries)")
    return shape["layer"], shape["seq"], shape["heads"]


def _senders_at(layers: int, seq: int, heads: int, position: int) -> pz.nx.NamedArray:
    """One-hot senders {sweep, layer, seq, heads}: head (l, h) at `position`, row-major over (l, h)."""
    masks = np.zeros((layers * heads, layers, seq, heads), bool)
    for row, (layer, head) in enumerate(np.ndindex(layers, heads)):
        masks[row, layer, position, head] = True
    return pz.nx.wrap(jnp.asarray(masks)).tag("sweep", "layer", "seq", "heads")


def _receivers_at(layers, seq, heads, chosen, position) -> pz.nx.NamedArray:
    mask = np.zeros((layers, seq, heads), bool)
    for layer, head in chosen:
        mask[layer, position, head] = True
    return pz.nx.wrap(jnp.asarray(mask)).tag("layer", "seq", "heads")


def sender_scores(
    model,
    clean: EntityExamples,
    noise: EntityExamples,
    position: int,
    receivers: list[tuple[int, int]] | None = None,
    receiver_site: str = "value",
    receiver_position: int | None = None,
    chunk: int = 32,
) -> np.ndarray:
    """[layer, heads] mean relative change of p(correct) when each head at `position` sends noise."""
    clean_tokens, noise_tokens = _tokens(clean.tokens), _tokens(noise.tokens)
    layers, seq, heads = _head_axes(model, clean_tokens)
    metric = CorrectProbability(tuple(int(a) for a in clean.answers))
    p_clean = np.asarray(metric(model(clean_tokens)).unwrap("batch"))
    receiver_mask = None
    if receivers is not None:
        if not receivers:
            return np.zeros((layers, heads))
        where = position if receiver_position is None else receiver_position
        receiver_mask = _receivers_at(layers, seq, heads, receivers, where)
    senders = _senders_at(layers, seq, heads, position)
    patched = path_patching(
        model, noise_tokens, clean_tokens, metric, senders, receiver_mask, receiver_site=receiver_site, chunk=chunk
    )
    p_patch = np.asarray(patched.unwrap("sweep", "batch"))
    return ((p_patch - p_clean) / np.maximum(p_clean, 1e-9)).mean(axis=1).reshape(layers, heads)


def select_heads(scores: np.ndarray, top_k: int, min_effect: float) -> list[tuple[int, int]]:
    """Up to `top_k` (layer, head) with the most negative scores, each below `-min_effect`."""
    order = np.argsort(scores, axis=None)[:top_k]
    chosen = [np.unravel_index(i, scores.shape) for i in order if scores.flat[i] < -min_effect]
    return [(int(layer), int(head)) for layer, head in chosen]


def _subset(examples: EntityExamples, keep: np.ndarray) -> EntityExamples:
    return EntityExamples(
        examples.tokens[keep],
        examples.answers[keep],
        examples.query_index[keep],
        {k: v[keep] for k, v in examples.positions.items()},
    )


def discover_circuit(
    model,
    clean: EntityExamples,
    noise: EntityExamples,
    top_k: dict[str, int] | None = None,
    min_effect: float = 0.05,
    chunk: int = 32,
) -> DiscoveryResult:
    """The four groups, found one after the other (module docstring)."""
    top_k = {**DEFAULT_TOP_K, **(top_k or {})}
    last, query_label = int(clean.positions["last"][0]), int(clean.positions["query_label"][0])
    scores, groups = {}, {}

    scores["value_fetcher"] = sender_scores(model, clean, noise, last, chunk=chunk)
    groups["value_fetcher"] = select_heads(scores["value_fetcher"], top_k["value_fetcher"], min_effect)

    scores["position_transmitter"] = sender_scores(
        model, clean, noise, last, groups["value_fetcher"], receiver_site="query", chunk=chunk
    )
    groups["position_transmitter"] = select_heads(
        scores["position_transmitter"], top_k["position_transmitter"], min_effect
    )
    groups["value_fetcher"] = [h for h in groups["value_fetcher"] if h not in groups["position_transmitter"]]

    scores["position_detector"] = sender_scores(
        model, clean, noise, query_label, groups["position_transmitter"], chunk=chunk
    )
    groups["position_detector"] = select_heads(scores["position_detector"], top_k["position_detector"], min_effect)

    total, weight = 0.0, 0
    for q in np.unique(clean.query_index):
        keep = clean.query_index == q
        position = int(clean.positions["prev_query_label"][keep][0])
        part = sender_scores(
            model, _subset(clean, keep), _subset(noise, keep), position, groups["position_detector"], chunk=chunk
        )
        total, weight = total + part * keep.sum(), weight + int(keep.sum())
    scores["structure_reader"] = total / max(weight, 1)
    groups["structure_reader"] = select_heads(scores["structure_reader"], top_k["structure_reader"], min_effect)

    circuit = Circuit(groups={g: tuple(groups[g]) for g in GROUPS}, roles=dict(ROLE_OF_GROUP))
    return DiscoveryResult(circuit, scores)
