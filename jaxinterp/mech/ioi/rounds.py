"""The IOI circuit's head classes found by path patching from the logits backwards (Wang et al. 2022, §3).

Every round patches sender heads' outputs (at every position) from the ABC run into the clean run, with all
other heads frozen at their clean outputs, and reads the logit difference at END either directly on the
logits (round 1) or after copying the receivers' resulting inputs into a live clean run (rounds 2-4;
`paths.path_patch`, the two passes of `jaxinterp.mech.path_patching`):

  round  receivers                                  class found
  1      the logits                                 name movers (patching lowers the logit difference)
                                                    and negative name movers (patching raises it)
  2      name movers' queries at END                S-inhibition heads
  3      S-inhibition heads' values at S2           induction heads (at S2 they attend to S1+1) and
                                                    duplicate-token heads (at S2 they attend to S1)
  4      induction heads' keys at S1+1              previous-token heads

Score of a sender = (mean patched logit difference - mean clean one) / mean clean one, over the round's
prompts (every template variant of the discovery set), so -0.1 = the path carries 10% of the logit
difference. Senders are the heads of layers below the round's deepest receiver (a later head cannot reach
it); heads already in a class are not senders again.

Decisions (the paper picks heads by eye from its figures):
  * Selection: a head joins a class when its score has the class's sign and |score| >= `relative` x the
    round's largest |score| (default 0.2) and >= `floor` (default 0.01, 1% of the logit difference), at most
    `top_k[class]` heads by |score|; with the default caps (name movers 8, negative name movers 3,
    S-inhibition 6, induction + duplicate-token 6, previous-token 4) a circuit has at most 27 heads, 10% of
    SmolLM2's 270.
  * Keys and values of a grouped-query model are shared by the query heads of a group; the rounds run on
    `models.per_query_kv(model)`, where each query head has its own copy, so a receiver is one query head.
  * Round 3's heads are told apart by their clean attention at S2 (mean over prompts): induction when
    attn(S2 -> S1+1) > attn(S2 -> S1), else duplicate-token. Round 4 runs only if round 3 found induction
    heads (else previous-token heads are reported absent, with round 3's attention numbers as evidence).
  * Which senders are measured exactly: the `candidates` (default 32) with the largest first-order
    estimates (`preselect`: one backward pass through the frozen model per round), as the issue allows.
    An exact round over every eligible sender costs (senders x prompts) forward passes, twice for rounds
    2-4: 270 x 40 on SmolLM2 is about 10800 forwards of a 135M model per round, minutes per round on 2
    cores; 32 candidates make it ~1/8. `candidates=None` measures every eligible sender. On a tiny
    model the estimates correlate with the exact scores at r > 0.9 (tests/mech/test_ioi_rounds.py).
  * The paper's backup name movers (heads that take over when the name movers are ablated) are not
    searched: it needs a round-1 pass on a model with the name movers knocked out.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.ioi.paths import path_patch
from jaxinterp.mech.ioi.preselect import estimated_scores
from jaxinterp.mech.tasks.ioi import IOIPrompts

Head = tuple[int, int]  # (layer, head index = group * query_heads + q)
CLASSES = ("name_mover", "negative_name_mover", "s_inhibition", "induction", "duplicate_token", "previous_token")
DEFAULT_TOP_K = {
    "name_mover": 8,
    "negative_name_mover": 3,
    "s_inhibition": 6,
    "induction_or_duplicate": 6,
    "previous_token": 4,
}


@dataclasses.dataclass(frozen=True)
class Selection:
    """How heads are picked from a round's scores (module docstring)."""

    relative: float = 0.2
    floor: float = 0.01
    top_k: tuple[tuple[str, int], ...] = tuple(DEFAULT_TOP_K.items())

    def cap(self, group: str) -> int:
        return dict(self.top_k)[group]


@dataclasses.dataclass(frozen=True)
class HeadShape:
    """Head axes of a model: layers, head_groups, query_heads (1 for multi-head models' "heads" = groups)."""

    layers: int
    groups: int
    query_heads: int
    head_axes: tuple[str, ...]

    @property
    def heads(self) -> int:
        return self.groups * self.query_heads

    def index(self, flat: int) -> tuple[int, ...]:
        return divmod(flat, self.query_heads) if len(self.head_axes) == 2 else (flat,)


def head_shape(model, tokens: np.ndarray) -> HeadShape:
    """The head axes of `model` from the shapes of its head outputs on `tokens` (no forward pass)."""
    one = pz.nx.wrap(jnp.asarray(tokens[:1], jnp.int32)).tag("batch", "seq")
    shape = jax.eval_shape(lambda m, t: patching.capture(m, t, "head_out"), model, one).named_shape
    if "heads" in shape:
        return HeadShape(shape["layer"], shape["heads"], 1, ("heads",))
    return HeadShape(shape["layer"], shape["head_groups"], shape["query_heads"], ("head_groups", "query_heads"))


def head_mask(shape: HeadShape, heads: Sequence[Head]) -> np.ndarray:
    """Boolean numpy mask [layer, groups(, query_heads)], True at `heads`."""
    dims = (shape.layers, shape.groups) + ((shape.query_heads,) if len(shape.head_axes) == 2 else ())
    mask = np.zeros(dims, bool)
    for layer, flat in heads:
        mask[(layer, *shape.index(flat))] = True
    return mask


def receiver_mask(shape: HeadShape, heads: Sequence[Head], positions: np.ndarray, seq: int) -> np.ndarray:
    """[batch, layer, seq, heads...]: True at `heads` at each prompt's position `positions[b]`."""
    per_head = head_mask(shape, heads)
    mask = np.zeros((len(positions), shape.layers, seq, *per_head.shape[1:]), bool)
    mask[np.arange(len(positions)), :, positions] = per_head
    return mask


def tokens_of(rows: np.ndarray) -> pz.nx.NamedArray:
    return pz.nx.wrap(jnp.asarray(rows, jnp.int32)).tag("batch", "seq")


def all_logits(logits: pz.nx.NamedArray) -> pz.nx.NamedArray:
    """A patching metric that keeps every logit (the vocabulary is the names only, `models.names_only`)."""
    return logits


def end_logit_difference(logits: np.ndarray, prompts: IOIPrompts) -> np.ndarray:
    """logit(IO) - logit(S) at each prompt's END from names-only logits [..., batch, seq, names] -> [..., batch]."""
    rows = np.arange(len(prompts))
    at_end = logits[..., rows, prompts.positions["END"], :]  # [..., batch, names]
    return at_end[..., rows, prompts.io] - at_end[..., rows, prompts.s]


@jax.jit
def _logits(model, rows):
    return model(tokens_of(rows)).unwrap("batch", "seq", "vocabulary")


def clean_logit_difference(model, prompts: IOIPrompts) -> np.ndarray:
    """Per-prompt logit difference of the unpatched model ([n])."""
    return end_logit_difference(np.asarray(_logits(model, prompts.tokens)), prompts)


def path_scores(
    model,
    prompts: IOIPrompts,
    senders: Sequence[Head],
    receivers: Sequence[Head] | None,
    receiver_site: str,
    receiver_class: str,
    shape: HeadShape,
    chunk: int = 16,
) -> np.ndarray:
    """Score (module docstring) of each sender, with the receivers' `receiver_site` at `receiver_class`.

    Args:
      model: names-only, per-query-kv model (`models`).
      prompts: the discovery prompts (every template variant, stacked).
      senders: heads to score, one path-patching run each.
      receivers: heads receiving the senders' effect; None = the logits.
      shape: the model's head axes.

    Returns:
      [len(senders)] relative change of the mean logit difference.
    """
    sender_rows = np.stack([head_mask(shape, [head]) for head in senders])
    receiving = None
    if receivers is not None:
        receiving = receiver_mask(shape, receivers, prompts.positions[receiver_class], prompts.tokens.shape[1])
    logits = path_patch(
        model, prompts.abc, prompts.tokens, sender_rows, shape.head_axes, receiving, receiver_site, chunk
    )
    patched = end_logit_difference(logits, prompts).mean(axis=1)
    clean = clean_logit_difference(model, prompts).mean()
    return (patched - clean) / clean


def attention_at(model, prompts: IOIPrompts, query: str, key: str, shape: HeadShape) -> np.ndarray:
    """Mean clean attention [layer, heads] of every head from position class `query` to class `key`."""
    pattern = _pattern(model, prompts.tokens)
    values = np.asarray(pattern.unwrap("layer", "batch", "seq", "kv_seq", *shape.head_axes))
    values = values.reshape(*values.shape[:4], shape.heads)
    rows = np.arange(len(prompts))
    return values[:, rows, prompts.positions[query], prompts.positions[key], :].mean(axis=1)


@jax.jit
def _pattern(model, rows):
    return patching.capture(model, tokens_of(rows), "attn_pattern")


def select(scores: np.ndarray, heads: Sequence[Head], sign: int, cap: int, selection: Selection) -> list[Head]:
    """Heads whose score has `sign` (-1 or +1) and passes the thresholds, the largest |score| first."""
    if len(scores) == 0:
        return []
    bar = max(selection.relative * float(np.max(np.abs(scores))), selection.floor)
    order = np.argsort(-np.abs(scores), kind="stable")
    chosen = [heads[i] for i in order if np.sign(scores[i]) == sign and abs(scores[i]) >= bar]
    return chosen[:cap]


def _senders_below(shape: HeadShape, receivers: Sequence[Head] | None, exclude: Sequence[Head]) -> list[Head]:
    top = shape.layers if receivers is None else max(layer for layer, _ in receivers)
    skip = set(exclude)
    return [(layer, h) for layer in range(top) for h in range(shape.heads) if (layer, h) not in skip]


def _eligible(shape: HeadShape, senders: Sequence[Head]) -> np.ndarray:
    mask = np.zeros((shape.layers, shape.heads), bool)
    for head in senders:
        mask[head] = True
    return mask


def _nan_to_none(values: np.ndarray) -> list:
    return [[None if np.isnan(x) else float(x) for x in row] for row in values]


@dataclasses.dataclass(frozen=True)
class RoundsResult:
    """The classes; every round's exact scores and first-order estimates [layer, heads] (NaN = not measured);
    clean attention between position classes [layer, heads]; seconds per round."""

    classes: dict[str, list[Head]]
    scores: dict[str, np.ndarray]
    estimates: dict[str, np.ndarray]
    attention: dict[str, np.ndarray]
    seconds: dict[str, float]

    @property
    def heads(self) -> list[Head]:
        return sorted({head for group in self.classes.values() for head in group})

    def to_json(self) -> dict:
        return {
            "classes": {k: [list(h) for h in v] for k, v in self.classes.items()},
            "scores": {k: _nan_to_none(v) for k, v in self.scores.items()},
            "estimates": {k: _nan_to_none(v) for k, v in self.estimates.items()},
            "attention": {k: v.tolist() for k, v in self.attention.items()},
            "seconds": self.seconds,
        }


def run_rounds(
    model,
    prompts: IOIPrompts,
    selection: Selection = Selection(),
    candidates: int | None = 32,
    chunk: int = 16,
    log=print,
) -> RoundsResult:
    """The four rounds on `prompts` (module docstring).

    Args:
      model: names-only and per-query-kv (`models`).
      prompts: the discovery prompts.
      selection: thresholds and caps per class.
      candidates: senders measured exactly per round, the largest first-order estimates (`preselect`);
        None = every eligible sender.
      chunk: sender masks per compiled call.
    """
    shape = head_shape(model, prompts.tokens)
    scores, estimates, classes, seconds = {}, {}, {}, {}

    def round_(name, receivers, site, where, exclude):
        start = time.perf_counter()
        senders = _senders_below(shape, receivers, exclude)
        grid = np.full((shape.layers, shape.heads), np.nan)
        if not senders:
            scores[name], seconds[name] = grid, 0.0
            return [], np.zeros(0)
        if candidates is not None and len(senders) > candidates:
            mask = None
            if receivers is not None:
                mask = receiver_mask(shape, receivers, prompts.positions[where], prompts.tokens.shape[1])
            estimate = estimated_scores(model, prompts, shape.head_axes, mask, None if receivers is None else site)
            estimates[name] = np.where(_eligible(shape, senders), estimate, np.nan)
            order = np.argsort([-abs(estimate[head]) for head in senders], kind="stable")
            senders = sorted(senders[i] for i in order[:candidates])
        values = path_scores(model, prompts, senders, receivers, site, where, shape, chunk)
        for (layer, head), value in zip(senders, values, strict=True):
            grid[layer, head] = value
        scores[name] = grid
        seconds[name] = time.perf_counter() - start
        log(f"  round {name}: {len(senders)} senders measured exactly, {seconds[name]:.0f} s")
        return senders, values

    senders, values = round_("logits", None, "value", "END", [])
    classes["name_mover"] = select(values, senders, -1, selection.cap("name_mover"), selection)
    classes["negative_name_mover"] = select(values, senders, +1, selection.cap("negative_name_mover"), selection)
    found = classes["name_mover"] + classes["negative_name_mover"]

    if classes["name_mover"]:
        senders, values = round_("name_mover_queries", classes["name_mover"], "query", "END", found)
        classes["s_inhibition"] = select(values, senders, -1, selection.cap("s_inhibition"), selection)
    else:
        classes["s_inhibition"] = []
    found = found + classes["s_inhibition"]

    attention = {
        "S2->S1": attention_at(model, prompts, "S2", "S1", shape),
        "S2->S1+1": attention_at(model, prompts, "S2", "S1+1", shape),
        "S1+1->S1": attention_at(model, prompts, "S1+1", "S1", shape),
    }
    if classes["s_inhibition"]:
        senders, values = round_("s_inhibition_values", classes["s_inhibition"], "value", "S2", found)
        both = select(values, senders, -1, selection.cap("induction_or_duplicate"), selection)
    else:
        both = []
    classes["induction"] = [h for h in both if attention["S2->S1+1"][h] > attention["S2->S1"][h]]
    classes["duplicate_token"] = [h for h in both if h not in classes["induction"]]
    found = found + both

    if classes["induction"]:
        senders, values = round_("induction_keys", classes["induction"], "key", "S1+1", found)
        classes["previous_token"] = select(values, senders, -1, selection.cap("previous_token"), selection)
    else:
        classes["previous_token"] = []
    for name in ("logits", "name_mover_queries", "s_inhibition_values", "induction_keys"):
        scores.setdefault(name, np.full((shape.layers, shape.heads), np.nan))
        estimates.setdefault(name, np.full((shape.layers, shape.heads), np.nan))
    return RoundsResult(classes, scores, estimates, attention, seconds)
