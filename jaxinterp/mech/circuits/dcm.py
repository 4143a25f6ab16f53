"""Desiderata-based component masking (DCM): learn which components carry a named piece of information.

DCM learns a mask m in [0, 1] over model components; a component's activation on a base prompt b becomes
`m * base + (1 - m) * source`, its activation on a source prompt s. m starts at 1 (nothing patched), a
sparsity term keeps it there, and a desideratum loss (what the output should become if the patched
components carry the information) pulls the useful components to 0. After training, `round(m) == 0`
names the components "that encode the desideratum". Two published variants, both here:

Prakash et al., "Fine-Tuning Enhances Existing Mechanisms" (ICLR 2024), experiment_2/DCM.py — `dcm_group`:
  * one scalar per head of one circuit group (e.g. the Value Fetcher heads), patched at the group's token
    position (last token, last - 2, or the earlier occurrence of the query label; per prompt, separately in
    b and s), from the head's output (the `o_proj` input) at the source prompt's matching position;
  * loss = -mean logit[target] at the last token + lambda * sum(1 - m), lambda = 0.01; Adam lr 0.1,
    2 epochs, batch 32; data 2000 -> train 1000 / eval 500 / test 500;
  * every 4 batches: round m, top-1 accuracy of the target on the eval split; keep the best mask (ties
    go to the one patching more heads); report its test accuracy. E.g. Llama-7B, VF heads / object value:
    test accuracy 0.468 with all 40 VF heads chosen.

Davies et al., "Discovering Variable Binding Circuitry with Desiderata" (arXiv 2307.03637, 2023) —
`dcm_variable_binding`:
  * every attention head and every MLP output of the model, final token only (LLaMA-13B: 40 x 40 + 40 =
    1640 components; result: 9 heads + 1 MLP);
  * two desiderata on `x = 57\\ny = 23\\nx + y = `-style prompts, with diff = logit(source answer) -
    logit(base answer) at the last token and "baseline" = the unpatched base run:
      value dependence (s = b with another x): L_value = mean(baseline_diff - patched_diff);
      operation invariance (s = b with another operation): L_inv = mean((patched_diff - baseline_diff)^2);
  * per iteration one Adam step (lr 1e-2) on 5 * L_value + lambda * sum((1.001 - m)^0.5), then one on
    L_inv without sparsity; 100 iterations, full batch, lambda swept over 0.06-0.12.

Decisions of ours (not fixed by the papers):
  * masks are clamped to [0, 1] after every optimiser step, so the mask that is evaluated, returned and
    fed to the next step is always in range (the ICLR code clamps before each step: the same sequence of
    masks apart from the very last one);
  * `round` is round-half-to-even (jnp.round, as torch.round): m = 0.5 counts as patched;
  * ICLR variant: the split is contiguous in the order given (train first); the training split is
    reshuffled every epoch from `seed`; a last partial batch is dropped so that one compiled step serves
    every batch; the eval split is also scored at the last step when that is not a multiple of
    `eval_every`. The data are the caller's (`base_tokens`, `source_tokens`, targets), which keeps this
    module task-agnostic;
  * both variants patch through the float masks of `patching.PatchSite` (`value + w * (source - value)`,
    w = 1 - m the source weight): w = 0 leaves the run bit-identical to the unpatched model, w = 1 equals
    the boolean patch. The source activation is gathered at its own position and placed at the base's,
    so base and source prompts may differ in length;
  * the Davies variant uses one Adam state for both of its alternating steps;
  * both variants train through `jaxinterp.loop.fit` with one module-level compiled step each
    (`_group_step` with `shared_adam()`, the learning rate in its state; `_binding_step` with one
    `optax.adam(lr)` object per learning rate, which keeps its numbers bit-identical to the earlier
    per-call optimiser), so a second run with the same shapes (and, for Davies, the same lr) reuses the
    compiled program; the binding step used to be jitted inside its factory and recompiled every call;
  * losses stay on the device and are read back every `eval_every` steps (ICLR) or every 25 iterations
    (Davies), not after every step; a NaN/Inf loss raises `NonFiniteLossError` (naming the 1-based step)
    at that read-back, so no result comes out of a run that went non-finite (it used to be
    `FloatingPointError`, at once);
  * ICLR variant: the eval split is scored in the loop's `after_call` hook, after the same steps as
    before (every `eval_every` steps and the last step); the per-epoch training orders are drawn from
    `seed` up front (the same draws as epoch by epoch), so batch t is a function of t.

Axis vocabulary: that of `patching` (layer, batch, seq, heads / head_groups + query_heads, projection,
embedding). Heads are named by (layer, flat head index); with grouped-query attention the flat index is
`group * query_heads + query_head`. Array arguments are plain int arrays: prompts [n, seq] (a {batch, seq}
NamedArray is accepted too), answers and positions [n].
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int
from penzai import pz

from jaxinterp import loop
from jaxinterp.mech import patching

Head = tuple[int, int]


def _ids(tokens) -> np.ndarray:
    if isinstance(tokens, pz.nx.NamedArray):
        tokens = tokens.unwrap("batch", "seq")
    return np.asarray(tokens, np.int32)


def _named(tokens: jax.Array) -> pz.nx.NamedArray:
    return pz.nx.wrap(tokens).tag("batch", "seq")


def _head_axes(model) -> dict[str, int]:
    """The head axes of the "head_out" site ({"heads": H} or {"head_groups": G, "query_heads": Q})."""
    shape = jax.eval_shape(lambda m: patching.capture(m, _named(jnp.zeros((1, 1), jnp.int32)), "head_out"), model)
    return {k: v for k, v in shape.named_shape.items() if k not in ("layer", "batch", "seq", "projection")}


def _flat_heads(captured: pz.nx.NamedArray, head_axes: dict[str, int]) -> jax.Array:
    """{layer, batch, seq, heads..., projection} -> [layer, batch, seq, flat head, projection]."""
    values = captured.unwrap("layer", "batch", "seq", *head_axes, "projection")
    return values.reshape(*values.shape[:3], -1, values.shape[-1])


def _tag_heads(values: jax.Array, names: tuple[str, ...], head_axes: dict[str, int]) -> pz.nx.NamedArray:
    """[..., flat head, (rest)] with axis names `names` (one of them "heads") -> the model's head axes."""
    at = names.index("heads")
    shape = (*values.shape[:at], *head_axes.values(), *values.shape[at + 1 :])
    return pz.nx.wrap(values.reshape(shape)).tag(*names[:at], *head_axes, *names[at + 1 :])


def _last_logits(logits: pz.nx.NamedArray) -> jax.Array:
    return logits[{"seq": -1}].unwrap("batch", "vocabulary")


def _pick(rows: jax.Array, ids: jax.Array) -> jax.Array:
    return jnp.take_along_axis(rows, ids[:, None], axis=1)[:, 0]


# ---------------------------------------------------------------------------------------------------------
# ICLR variant: one group of heads at per-prompt positions.


@dataclasses.dataclass(frozen=True)
class DCMResult:
    """What `dcm_group` found.

    Attributes:
      heads: the group's heads that the best rounded mask patches (round(m) == 0), as (layer, head).
      mask: the group's continuous mask [n_group] at the best evaluation (in the order of `heads` given).
      eval_accuracy: accuracy of the best rounded mask on the eval split.
      test_accuracy: accuracy of the best rounded mask on the test split.
      losses: training loss per step.
      evaluations: (step, eval accuracy, number of patched heads) at every evaluation.
    """

    heads: tuple[Head, ...]
    mask: np.ndarray
    eval_accuracy: float
    test_accuracy: float
    losses: np.ndarray
    evaluations: tuple[tuple[int, float, int], ...]


def _group_matrix(heads: Sequence[Head], layers: int, head_axes: dict[str, int]) -> np.ndarray:
    """One-hot [n_group, layer, flat head]; checks the heads exist and are distinct."""
    count = math.prod(head_axes.values())
    if len(set(map(tuple, heads))) != len(heads) or not heads:
        raise ValueError(f"heads must be distinct and not empty; got {list(heads)}")
    matrix = np.zeros((len(heads), layers, count), np.float32)
    for g, (layer, head) in enumerate(heads):
        if not (0 <= layer < layers and 0 <= head < count):
            raise ValueError(f"head {(layer, head)} outside the model's {layers} layers x {count} heads")
        matrix[g, layer, head] = 1.0
    return matrix


@functools.partial(jax.jit, static_argnames=("head_axes",))
def _group_points(model, tokens, positions, group, head_axes):
    """The group's head outputs on `tokens` at `positions`: [batch, n_group, projection]."""
    values = _flat_heads(patching.capture(model, _named(tokens), "head_out"), dict(head_axes))
    at = values[:, jnp.arange(tokens.shape[0]), positions]  # [layer, batch, flat head, projection]
    return jnp.einsum("glh,lbhp->bgp", group, at)


def _group_forward(sited, head_axes, group, weight, tokens, positions, points):
    """Last-token logits [batch, vocabulary] with each group head's output at `positions` moved towards
    `points` with source weight `weight` [n_group] (0: base, 1: source)."""
    source = jnp.einsum("glh,bgp->lbhp", group, points)
    per_head = jnp.einsum("g,glh->lh", weight, group)
    at = jax.nn.one_hot(positions, tokens.shape[1], dtype=per_head.dtype)  # [batch, seq]
    mask = per_head[:, None, None, :] * at[None, :, :, None]
    logits = sited(
        _named(tokens),
        dcm_source=_tag_heads(source, ("layer", "batch", "heads", "projection"), head_axes),
        dcm_mask=_tag_heads(mask, ("layer", "batch", "seq", "heads"), head_axes),
    )
    return _last_logits(logits)


@functools.partial(jax.jit, static_argnames=("head_axes",))
def _group_logits(sited, head_axes, group, weight, tokens, positions, points):
    return _group_forward(sited, dict(head_axes), group, weight, tokens, positions, points)


class _GroupSetup:
    """The model with DCM sites and the group's source activations, shared by training and evaluation."""

    def __init__(self, model, heads, source_tokens, source_positions, chunk=64):
        frozen = pz.freeze_params(model)
        self.head_axes = _head_axes(frozen)
        self.sited = patching.with_sites(frozen, "head_out", "dcm")
        layers = len(pz.select(self.sited).at_instances_of(patching.PatchSite).get_sequence())
        self.group = jnp.asarray(_group_matrix(heads, layers, self.head_axes))
        source = _ids(source_tokens)
        positions = np.asarray(source_positions) % source.shape[1]
        axes = tuple(self.head_axes.items())
        self.points = jnp.concatenate(
            [
                _group_points(frozen, source[i : i + chunk], positions[i : i + chunk], self.group, axes)
                for i in range(0, source.shape[0], chunk)
            ]
        )

    def logits(self, weight, tokens, positions, points):
        axes = tuple(self.head_axes.items())
        return _group_logits(self.sited, axes, self.group, weight, tokens, positions, points)


def make_group_step(sited, head_axes: dict[str, int], group: jax.Array, optimizer: optax.GradientTransformation):
    """The jit-compiled `step(state, batch, rng) -> (state, metrics)` of `dcm_group`.

    `state` = {"mask": [n_group] in [0, 1], "opt_state"}; `batch` = {"tokens" [b, seq], "positions" [b],
    "points" [b, n_group, projection], "targets" [b], "sparsity" scalar}; metrics = {"loss", "logit",
    "penalty"}. The step is deterministic (`rng` is accepted for the common signature). The model and the
    group are arguments of one module-level compiled function, so calls with the same shapes and the same
    `optimizer` object (e.g. `shared_adam()`) reuse one compiled program. `state` is donated.
    """
    return functools.partial(_group_step, sited, group, axes=tuple(head_axes.items()), optimizer=optimizer)


@functools.cache
def shared_adam() -> optax.GradientTransformation:
    """Adam with its learning rate in the optimiser state (set `opt_state.hyperparams["learning_rate"]`):
    one optimiser object for every DCM run, so the compiled step is shared across runs."""
    return optax.inject_hyperparams(optax.adam)(learning_rate=1.0)


@functools.partial(jax.jit, static_argnames=("axes", "optimizer"), donate_argnames=("state",))
def _group_step(sited, group, state, batch, rng, *, axes, optimizer):
    del rng

    def loss_fn(mask):
        logits = _group_forward(sited, dict(axes), group, 1.0 - mask, *_inputs(batch))
        logit = _pick(logits, batch["targets"]).mean()
        penalty = jnp.sum(1.0 - mask)
        return -logit + batch["sparsity"] * penalty, {"logit": logit, "penalty": penalty}

    (loss, metrics), grad = jax.value_and_grad(loss_fn, has_aux=True)(state["mask"])
    updates, opt_state = optimizer.update(grad, state["opt_state"], state["mask"])
    mask = jnp.clip(optax.apply_updates(state["mask"], updates), 0.0, 1.0)
    return {"mask": mask, "opt_state": opt_state}, {"loss": loss, **metrics}


def _inputs(batch):
    return batch["tokens"], batch["positions"], batch["points"]


def _accuracy(setup: _GroupSetup, mask, tokens, positions, points, targets, chunk=256) -> float:
    weight = 1.0 - jnp.round(jnp.asarray(mask, jnp.float32))
    hits = 0
    for i in range(0, tokens.shape[0], chunk):
        logits = setup.logits(weight, tokens[i : i + chunk], positions[i : i + chunk], points[i : i + chunk])
        hits += int(jnp.sum(jnp.argmax(logits, -1) == targets[i : i + chunk]))
    return hits / max(tokens.shape[0], 1)


def dcm_group(
    model,
    base_tokens: Int[Array, "n seq"],
    source_tokens: Int[Array, "n seq2"],
    targets: Int[Array, " n"],
    heads: Sequence[Head],
    base_positions: Int[Array, " n"],
    source_positions: Int[Array, " n"],
    *,
    sparsity: float = 0.01,
    lr: float = 0.1,
    epochs: int = 2,
    batch_size: int = 32,
    split: tuple[float, float, float] = (0.5, 0.25, 0.25),
    eval_every: int = 4,
    seed: int = 0,
) -> DCMResult:
    """DCM over one group of heads (Prakash et al., ICLR 2024; see the module docstring).

    Args:
      model: a penzai TransformerLM.
      base_tokens, source_tokens: prompts b and s [n, seq] (lengths may differ).
      targets: the token expected after b when the patched heads carry the desideratum [n].
      heads: the group, as (layer, flat head index).
      base_positions, source_positions: per prompt, where the group's heads are patched in b and read in s
        [n] (negative counts from the end).
      sparsity: lambda of the penalty lambda * sum(1 - m).
      lr, epochs, batch_size: Adam learning rate, passes over the training split, prompts per step.
      split: fractions for train / eval / test, contiguous in the order given.
      eval_every: steps between evaluations of the rounded mask on the eval split.
      seed: shuffles the training split each epoch.

    Returns:
      A `DCMResult`: the best rounded mask by eval accuracy (ties: more patched heads) and its test accuracy.

    Raises:
      NonFiniteLossError: the loss became NaN/Inf (names the step).
      ValueError: bad heads, or too few prompts for a training batch and an eval split.
    """
    heads = [tuple(map(int, h)) for h in heads]
    setup = _GroupSetup(model, heads, source_tokens, source_positions)
    base = _ids(base_tokens)
    n = base.shape[0]
    positions = jnp.asarray(np.asarray(base_positions) % base.shape[1], jnp.int32)
    targets = jnp.asarray(targets, jnp.int32)
    tokens = jnp.asarray(base)
    sizes = np.floor(np.asarray(split) / np.sum(split) * n).astype(int)
    train_end, eval_end = sizes[0], sizes[0] + sizes[1]
    parts = {"train": slice(0, train_end), "eval": slice(train_end, eval_end), "test": slice(eval_end, n)}
    data = {k: (tokens[s], positions[s], setup.points[s], targets[s]) for k, s in parts.items()}
    batch_size = min(batch_size, train_end)
    if batch_size == 0 or sizes[1] == 0:
        raise ValueError(f"need training and eval prompts; split {split} of {n} gives {sizes.tolist()}")

    optimizer = shared_adam()
    step = make_group_step(setup.sited, setup.head_axes, setup.group, optimizer)
    mask = jnp.ones(len(heads), jnp.float32)
    opt_state = optimizer.init(mask)
    opt_state.hyperparams["learning_rate"] = jnp.asarray(lr, jnp.float32)
    state = {"mask": mask, "opt_state": opt_state}
    order_rng = np.random.default_rng(seed)
    steps_per_epoch = train_end // batch_size
    total = epochs * steps_per_epoch
    orders = [order_rng.permutation(train_end) for _ in range(epochs)]  # the same draws as epoch by epoch
    sparsity_value = jnp.float32(sparsity)

    def batch_for(t: int) -> dict:
        rows = jnp.asarray(orders[t // steps_per_epoch][(t % steps_per_epoch) * batch_size :][:batch_size])
        tok, pos, pts, tgt = (a[rows] for a in data["train"])
        return {"tokens": tok, "positions": pos, "points": pts, "targets": tgt, "sparsity": sparsity_value}

    evaluations = []
    best = None  # (accuracy, patched count, mask)

    def evaluate(done: int, state) -> bool:
        """Scores the rounded mask on the eval split every `eval_every` steps and at the last step."""
        nonlocal best
        if done % eval_every == 0 or done == total:
            current = np.asarray(state["mask"])  # a host copy: the next step donates `state`
            accuracy = _accuracy(setup, current, *data["eval"])
            patched = int(np.sum(np.round(current) == 0))
            evaluations.append((done, accuracy, patched))
            if best is None or (accuracy, patched) > best[:2]:
                best = (accuracy, patched, current)
        return False

    _, history = loop.fit(
        step,
        state,
        total,
        batch_for=batch_for,
        rng=jax.random.key(seed),
        log_every=eval_every,
        after_call=evaluate,
        label="DCM group",
    )
    losses = history.get("loss", np.zeros(0))
    if best is None:
        raise ValueError("no training step: fewer training prompts than one batch")
    accuracy, _, mask = best
    return DCMResult(
        heads=tuple(h for h, m in zip(heads, np.round(mask), strict=True) if m == 0),
        mask=mask,
        eval_accuracy=accuracy,
        test_accuracy=_accuracy(setup, mask, *data["test"]),
        losses=np.asarray(losses, np.float64),
        evaluations=tuple(evaluations),
    )


def group_logits(
    model,
    base_tokens: Int[Array, "n seq"],
    source_tokens: Int[Array, "n seq2"],
    heads: Sequence[Head],
    base_positions: Int[Array, " n"],
    source_positions: Int[Array, " n"],
    mask: Float[Array, " n_group"],
) -> Float[Array, "n vocabulary"]:
    """Last-token logits of b with the group's heads at `base_positions` set to m * base + (1 - m) * source,
    the source being each head's output at `source_positions` in s (m as given, not rounded)."""
    heads = [tuple(map(int, h)) for h in heads]
    setup = _GroupSetup(model, heads, source_tokens, source_positions)
    base = _ids(base_tokens)
    positions = jnp.asarray(np.asarray(base_positions) % base.shape[1], jnp.int32)
    return setup.logits(1.0 - jnp.asarray(mask, jnp.float32), jnp.asarray(base), positions, setup.points)


def evaluate_group(
    model,
    base_tokens: Int[Array, "n seq"],
    source_tokens: Int[Array, "n seq2"],
    targets: Int[Array, " n"],
    heads: Sequence[Head],
    selected: Sequence[Head],
    base_positions: Int[Array, " n"],
    source_positions: Int[Array, " n"],
) -> float:
    """Accuracy (argmax at the last token == target) on new prompts when exactly the `selected` heads of
    the group (e.g. `DCMResult.heads`) are patched from the source, the others left alone."""
    heads = [tuple(map(int, h)) for h in heads]
    chosen = {tuple(map(int, h)) for h in selected}
    if not chosen <= set(heads):
        raise ValueError(f"selected heads {sorted(chosen - set(heads))} are not in the group")
    setup = _GroupSetup(model, heads, source_tokens, source_positions)
    base = _ids(base_tokens)
    positions = jnp.asarray(np.asarray(base_positions) % base.shape[1], jnp.int32)
    mask = np.asarray([0.0 if h in chosen else 1.0 for h in heads], np.float32)
    return _accuracy(setup, mask, jnp.asarray(base), positions, setup.points, jnp.asarray(targets, jnp.int32))


# ---------------------------------------------------------------------------------------------------------
# Davies et al. variant: every head and MLP at the final token, two alternating desiderata.


@dataclasses.dataclass(frozen=True)
class BindingResult:
    """What `dcm_variable_binding` found.

    Attributes:
      heads: patched heads (round(m) == 0), as (layer, flat head).
      mlps: patched MLP outputs, by layer.
      head_mask: continuous mask [layer, flat head] after the last iteration.
      mlp_mask: continuous mask [layer].
      losses: per iteration, {"value", "invariance", "penalty"} (value and penalty before the first step of
        the iteration, invariance before its second).
      value_accuracy: share of value pairs whose patched argmax is the source answer (rounded mask).
      invariance_accuracy: share of operation pairs whose patched argmax stays the base answer.
    """

    heads: tuple[Head, ...]
    mlps: tuple[int, ...]
    head_mask: np.ndarray
    mlp_mask: np.ndarray
    losses: dict[str, np.ndarray]
    value_accuracy: float
    invariance_accuracy: float


Pairs = tuple[Int[Array, "n seq"], Int[Array, "n seq2"], Int[Array, " n"], Int[Array, " n"]]


@functools.partial(jax.jit, static_argnames=("head_axes",))
def _final_token_sources(model, base, source, base_answer, source_answer, head_axes):
    """Source heads [layer, batch, flat head, projection] and MLPs [layer, batch, embedding] at s's last
    token, and the unpatched base run's diff logit(source answer) - logit(base answer) [batch]."""
    heads = _flat_heads(patching.capture(model, _named(source), "head_out"), dict(head_axes))[:, :, -1]
    mlps = patching.capture(model, _named(source), "mlp_out")[{"seq": -1}].unwrap("layer", "batch", "embedding")
    logits = _last_logits(model(_named(base)))
    return {
        "base": base,
        "heads": heads,
        "mlps": mlps,
        "base_answer": base_answer,
        "source_answer": source_answer,
        "baseline": _pick(logits, source_answer) - _pick(logits, base_answer),
    }


def _binding_forward(sited, head_axes, weights, pairs):
    """Last-token logits of the base prompts, components at the final token moved towards the source with
    weights {"heads": [layer, flat head], "mlps": [layer]} (0: base, 1: source)."""
    length = pairs["base"].shape[1]
    last = jax.nn.one_hot(length - 1, length, dtype=weights["heads"].dtype)  # [seq]
    logits = sited(
        _named(pairs["base"]),
        dcm_heads_source=_tag_heads(pairs["heads"], ("layer", "batch", "heads", "projection"), head_axes),
        dcm_heads_mask=_tag_heads(
            weights["heads"][:, None, :] * last[None, :, None], ("layer", "seq", "heads"), head_axes
        ),
        dcm_mlps_source=pz.nx.wrap(pairs["mlps"]).tag("layer", "batch", "embedding"),
        dcm_mlps_mask=pz.nx.wrap(weights["mlps"][:, None] * last[None, :]).tag("layer", "seq"),
    )
    return _last_logits(logits)


def _diff(logits, pairs):
    return _pick(logits, pairs["source_answer"]) - _pick(logits, pairs["base_answer"])


def make_binding_step(sited, head_axes: dict[str, int], optimizer: optax.GradientTransformation):
    """The jit-compiled iteration `step(state, batch, rng) -> (state, metrics)` of `dcm_variable_binding`.

    `state` = {"mask": {"heads": [layer, flat head], "mlps": [layer]}, "opt_state"}; `batch` = {"value",
    "operation"} (each from `_final_token_sources`), "sparsity", "value_weight"}. One Adam step on
    value_weight * L_value + sparsity * sum((1.001 - m)^0.5), clamp, then one on L_inv, clamp. Like
    `make_group_step`, one module-level compiled function: the same shapes and `optimizer` object reuse one
    compiled program across calls. `state` is donated.
    """
    return functools.partial(_binding_step, sited, axes=tuple(head_axes.items()), optimizer=optimizer)


@functools.partial(jax.jit, static_argnames=("axes", "optimizer"), donate_argnames=("state",))
def _binding_step(sited, state, batch, rng, *, axes, optimizer):
    del rng

    def value_loss(mask):
        weights = jax.tree.map(lambda m: 1.0 - m, mask)
        patched = _diff(_binding_forward(sited, dict(axes), weights, batch["value"]), batch["value"])
        loss = jnp.mean(batch["value"]["baseline"] - patched)
        penalty = sum(jnp.sum(jnp.sqrt(1.001 - m)) for m in jax.tree.leaves(mask))
        return batch["value_weight"] * loss + batch["sparsity"] * penalty, (loss, penalty)

    def invariance_loss(mask):
        weights = jax.tree.map(lambda m: 1.0 - m, mask)
        ops = batch["operation"]
        patched = _diff(_binding_forward(sited, dict(axes), weights, ops), ops)
        return jnp.mean((patched - ops["baseline"]) ** 2)

    def update(loss_fn, mask, opt_state, **kw):
        out, grad = jax.value_and_grad(loss_fn, **kw)(mask)
        updates, opt_state = optimizer.update(grad, opt_state, mask)
        mask = jax.tree.map(lambda m: jnp.clip(m, 0.0, 1.0), optax.apply_updates(mask, updates))
        return out, mask, opt_state

    (_, (value, penalty)), mask, opt_state = update(value_loss, state["mask"], state["opt_state"], has_aux=True)
    invariance, mask, opt_state = update(invariance_loss, mask, opt_state)
    return {"mask": mask, "opt_state": opt_state}, {"value": value, "invariance": invariance, "penalty": penalty}


@functools.cache
def _adam(lr: float) -> optax.GradientTransformation:
    """`optax.adam(lr)`, one object per learning rate, so runs at the same rate share the compiled step."""
    return optax.adam(lr)


class _BindingSetup:
    def __init__(self, model, value_pairs: Pairs, operation_pairs: Pairs):
        frozen = pz.freeze_params(model)
        self.head_axes = _head_axes(frozen)
        self.sited = patching.with_sites(patching.with_sites(frozen, "head_out", "dcm_heads"), "mlp_out", "dcm_mlps")
        axes = tuple(self.head_axes.items())
        self.data = {
            name: _final_token_sources(
                frozen, *(jnp.asarray(_ids(a)) for a in pairs[:2]), *map(jnp.asarray, pairs[2:]), axes
            )
            for name, pairs in (("value", value_pairs), ("operation", operation_pairs))
        }
        self.layers = self.data["value"]["mlps"].shape[0]
        self.heads = self.data["value"]["heads"].shape[2]

    def accuracies(self, mask) -> tuple[float, float]:
        weights = {k: 1.0 - jnp.round(jnp.asarray(v, jnp.float32)) for k, v in mask.items()}
        axes = tuple(self.head_axes.items())
        value = jnp.argmax(_binding_logits(self.sited, axes, weights, self.data["value"]), -1)
        ops = jnp.argmax(_binding_logits(self.sited, axes, weights, self.data["operation"]), -1)
        return (
            float(jnp.mean(value == self.data["value"]["source_answer"])),
            float(jnp.mean(ops == self.data["operation"]["base_answer"])),
        )


@functools.partial(jax.jit, static_argnames=("head_axes",))
def _binding_logits(sited, head_axes, weights, pairs):
    return _binding_forward(sited, dict(head_axes), weights, pairs)


def dcm_variable_binding(
    model,
    value_pairs: Pairs,
    operation_pairs: Pairs,
    *,
    sparsity: float = 0.1,
    lr: float = 1e-2,
    iterations: int = 100,
    value_weight: float = 5.0,
    seed: int = 0,
) -> BindingResult:
    """DCM over every head and MLP at the final token (Davies et al. 2023; see the module docstring).

    Args:
      model: a penzai TransformerLM.
      value_pairs: (base prompts [n, seq], source prompts [n, seq2] (another variable value), base answer
        ids [n], source answer ids [n]); desideratum: patching switches the answer to the source's.
      operation_pairs: the same with sources that use another operation; desideratum: the answer stays.
      sparsity: lambda of lambda * sum((1.001 - m)^0.5).
      lr, iterations: Adam learning rate and number of (value step, invariance step) iterations.
      value_weight: weight of L_value (5 in the paper).
      seed: folded into the (unused, deterministic) step rng; full-batch training has no randomness.

    Returns:
      A `BindingResult` with the rounded selection and both desiderata's accuracies on these pairs.

    Raises:
      NonFiniteLossError: a loss became NaN/Inf (names the iteration).
    """
    setup = _BindingSetup(model, value_pairs, operation_pairs)
    optimizer = _adam(lr)
    step = make_binding_step(setup.sited, setup.head_axes, optimizer)
    mask = {"heads": jnp.ones((setup.layers, setup.heads), jnp.float32), "mlps": jnp.ones(setup.layers, jnp.float32)}
    state = {"mask": mask, "opt_state": optimizer.init(mask)}
    batch = {**setup.data, "sparsity": jnp.float32(sparsity), "value_weight": jnp.float32(value_weight)}
    state, history = loop.fit(
        step,
        state,
        iterations,
        batch_for=lambda _: batch,  # full batch: the same pairs every iteration
        rng=jax.random.key(seed),
        log_every=25,
        label="DCM variable binding",
    )
    final = jax.tree.map(np.asarray, state["mask"])
    value_accuracy, invariance_accuracy = setup.accuracies(final)
    heads = np.argwhere(np.round(final["heads"]) == 0)
    return BindingResult(
        heads=tuple((int(layer), int(head)) for layer, head in heads),
        mlps=tuple(int(layer) for layer in np.flatnonzero(np.round(final["mlps"]) == 0)),
        head_mask=final["heads"],
        mlp_mask=final["mlps"],
        losses={k: np.asarray(history.get(k, ()), np.float64) for k in ("value", "invariance", "penalty")},
        value_accuracy=value_accuracy,
        invariance_accuracy=invariance_accuracy,
    )


def evaluate_binding(
    model, value_pairs: Pairs, operation_pairs: Pairs, heads: Sequence[Head], mlps: Sequence[int]
) -> dict[str, float]:
    """Accuracies of both desiderata on (new) pairs when exactly `heads` and `mlps` are patched at the final
    token: {"value": argmax == source answer, "invariance": argmax == base answer}."""
    setup = _BindingSetup(model, value_pairs, operation_pairs)
    mask = {"heads": np.ones((setup.layers, setup.heads), np.float32), "mlps": np.ones(setup.layers, np.float32)}
    for layer, head in heads:
        mask["heads"][layer, head] = 0.0
    mask["mlps"][list(mlps)] = 0.0
    value, invariance = setup.accuracies(mask)
    return {"value": value, "invariance": invariance}
