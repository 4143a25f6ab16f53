"""Finding the entity-tracking circuit by path patching from the logits backwards (Prakash et al. 2024, §1.3).

Four rounds, each scoring every head at one position as a sender (vectorised over heads by
`path_patching`, never a loop of forward passes per head):

  group                  sender position       receivers                               composition
  value_fetcher          last                  the logits (direct effect)              -
  position_transmitter   last                  value fetchers' query at last           Q
  position_detector      query label (L - 3)   last-position heads' value at L - 3     V
  structure_reader       the query label's     detectors' value at that position       V
                         context occurrence

Score of a sender = mean over prompts of (p_patch - p_clean) / p_clean, p the softmax probability of the
correct object at the last position, the sender's output taken from the noise run (another context, query
label replaced by an absent letter). The most negative scores matter. Heads in both the first and second
group stay in the second only (as the paper does).

More rounds (ours), for mechanisms that read by position rather than through the label's own token:

  label_matcher          query label           detectors' query at L - 3               Q
  object_reader          queried box's object  values there of every head found so far V
                         (2 + 7q)
  segment_is, _in, _box  the queried segment's values there of every head found so far V
                         "is", "in", "Box"     (one round each; run when the examples
                         (3, 4, 5 + 7q)        carry those roles)

Measured on our 3-layer boxes model (`jaxinterp mech entity-tracking`): a first-layer head at the query
label shapes the detectors' queries (label_matcher; DCM finds it carries the position, not the label),
second-layer heads there read the queried object's position (position_detector, V-composing with the
first-layer heads at the object: object_reader), and the last position's heads copy the result
(value_fetcher); structure_reader and position_transmitter stay empty. The paper's four rounds alone find
only the value fetchers and detectors (faithfulness ~0.05); with the two extra rounds ~0.95. On LLaMA the
extra rounds only add heads where such paths exist. The segment rounds came from a model trained from
another seed whose detectors read the object from its segment's "in" token: with the object-reader round
alone its circuit kept 0.34 of the accuracy; all heads kept at that one token lifted it to 0.98.

Decision (ours): the position detectors' receivers are the values at L - 3 of every head found at the last
position, value fetchers included, not only of the transmitters. In LLaMA the value fetchers read the object
position, so this adds nothing there; in our small models, trained with the query label predicting the
answer, the lookup happens at the query label and the last-position heads move its result (V composition),
which only this finds.

Which heads to keep is the part the paper tunes by hand (top-k 20/5/10/5 on LLaMA-7B's 1024 heads, then
minimality pruning). Decision for small models: keep at most `top_k[group]` heads whose score is below
`-min_effect` (default 0.05: the head's path removes at least 5% of the correct answer's probability).
With `either_sign=True` (what the entity-tracking study uses) a head also counts when its path RAISES the
answer's probability by `min_effect` or more: in a model trained from seed 3 and stopped at 0.97 accuracy,
the one head that mattered at the last position (a suppressor: corrupting its input raised the answer's
probability by 130%) was left out, the paper's rule found one head, and that circuit kept 0.01 of the
accuracy; with either sign it found 18 nodes that keep 0.98. Mean ablation removes such heads as surely as
helpful ones, so a faithful circuit must hold them; on LLaMA the paper's top-k are all negative anyway.

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

PAPER_GROUPS = ("value_fetcher", "position_transmitter", "position_detector", "structure_reader")
SEGMENT_GROUPS = {"segment_is": "queried_is", "segment_in": "queried_in", "segment_box": "queried_box"}
GROUPS = (*PAPER_GROUPS, "label_matcher", "object_reader", *SEGMENT_GROUPS)
ROLE_OF_GROUP = {
    "value_fetcher": "last",
    "position_transmitter": "last",
    "position_detector": "query_label",
    "structure_reader": "prev_query_label",
    "label_matcher": "query_label",
    "object_reader": "queried_object",
    **SEGMENT_GROUPS,
}
DEFAULT_TOP_K = {g: 8 if g == "value_fetcher" else 4 for g in GROUPS}


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


def select_heads(scores: np.ndarray, top_k: int, min_effect: float, either_sign: bool = False) -> list[tuple[int, int]]:
    """Up to `top_k` (layer, head) with the most negative scores, each below `-min_effect` (the paper);
    with `either_sign`, the largest |score| above `min_effect` instead (module docstring)."""
    key = -np.abs(scores) if either_sign else scores
    order = np.argsort(key, axis=None, kind="stable")[:top_k]
    chosen = [np.unravel_index(i, scores.shape) for i in order if key.flat[i] < -min_effect]
    return [(int(layer), int(head)) for layer, head in chosen]


def _subset(examples: EntityExamples, keep: np.ndarray) -> EntityExamples:
    return EntityExamples(
        examples.tokens[keep],
        examples.answers[keep],
        examples.query_index[keep],
        {k: v[keep] for k, v in examples.positions.items()},
    )


def _scores_at_role(model, clean, noise, role, receivers, receiver_site="value", chunk=32) -> np.ndarray:
    """`sender_scores` with senders (and receivers) at `role`'s position, which may differ per prompt: the
    prompts are grouped by that position and the scores averaged weighted by group size."""
    total, weight = 0.0, 0
    for position in np.unique(clean.positions[role]):
        keep = clean.positions[role] == position
        part = sender_scores(
            model, _subset(clean, keep), _subset(noise, keep), int(position), receivers, receiver_site, chunk=chunk
        )
        total, weight = total + part * keep.sum(), weight + int(keep.sum())
    return total / max(weight, 1)


def discover_circuit(
    model,
    clean: EntityExamples,
    noise: EntityExamples,
    top_k: dict[str, int] | None = None,
    min_effect: float = 0.05,
    chunk: int = 32,
    either_sign: bool = False,
) -> DiscoveryResult:
    """The groups, found one after the other from the logits backwards (module docstring)."""
    top_k = {**DEFAULT_TOP_K, **(top_k or {})}
    scores, groups = {}, {}

    def round_(name, role, receivers, site="value"):
        if receivers is not None and not receivers:
            return np.zeros_like(scores["value_fetcher"]), []
        found = _scores_at_role(model, clean, noise, role, receivers, site, chunk)
        return found, select_heads(found, top_k[name], min_effect, either_sign)

    scores["value_fetcher"], groups["value_fetcher"] = round_("value_fetcher", "last", None)
    scores["position_transmitter"], groups["position_transmitter"] = round_(
        "position_transmitter", "last", groups["value_fetcher"], "query"
    )
    groups["value_fetcher"] = [h for h in groups["value_fetcher"] if h not in groups["position_transmitter"]]
    at_last = groups["position_transmitter"] + groups["value_fetcher"]
    scores["position_detector"], groups["position_detector"] = round_("position_detector", "query_label", at_last)
    scores["label_matcher"], groups["label_matcher"] = round_(
        "label_matcher", "query_label", groups["position_detector"], "query"
    )
    groups["label_matcher"] = [h for h in groups["label_matcher"] if h not in groups["position_detector"]]
    scores["structure_reader"], groups["structure_reader"] = round_(
        "structure_reader", "prev_query_label", groups["position_detector"]
    )
    readers = at_last + groups["position_detector"]
    scores["object_reader"], groups["object_reader"] = round_("object_reader", "queried_object", readers)
    for group, role in SEGMENT_GROUPS.items():
        if role in clean.positions:
            scores[group], groups[group] = round_(group, role, readers)
        else:
            scores[group], groups[group] = np.zeros_like(scores["value_fetcher"]), []
    circuit = Circuit(groups={g: tuple(groups[g]) for g in GROUPS}, roles=dict(ROLE_OF_GROUP))
    return DiscoveryResult(circuit, scores)
