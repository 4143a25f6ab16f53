"""Head-output activation patching with one compiled block: the layers under a loop, the sweep packed.

Why: `patching.activation_patching` compiles one program per (start layer, position bucket), each with
the blocks from its layer on unrolled, so compile time grows with depth x buckets (a 30-layer model with 4
buckets: 120 programs holding 1,860 blocks). Here the transformer's blocks are one function applied to
stacked parameters, and a sweep is two compiled programs whatever the depth, the prompt length or the
start positions:

  * `_runs` runs the source and target prompts under `lax.scan` over layers and keeps what the sweep
    reuses: the target's residual stream entering each block, its keys / values (after RoPE) and logits,
    and the source's head outputs;
  * `_sweep_chunk` runs a chunk of components that all patch layer l (l a traced value): a
    `lax.fori_loop` from l to the last layer over one block body (the patch is applied when the loop
    counter equals l), starting from the target's residual stream at l, so layers before l are not run.

Positions: a component patched at position p changes nothing before p (causality), so it only needs
positions p..T-1 (T - p of them), the earlier ones contributing to attention through the target run's
keys and values. Instead of position buckets (one program per bucket), the components are *packed*: a
row of T + 1 slots holds two "segments", one component at p (slots 0..T-p-1) and one at T-1-p (the other
p + 1 slots). Every query attends to the cached target keys before its own segment's start and to the
keys of its own segment up to itself; RoPE reads each slot's real position. So every component runs
exactly its own positions (plus at most one spare slot per row), with one program for all starts, and
rows are wide enough for good matrix products. A component patching several positions (e.g. a head at
every position: `over=("layer", *heads)`) starts at its first patched position.

The metric: as in `activation_patching`, `metric` maps logits {batch, seq, vocabulary} (plus "sweep")
to values; each component's logits are the target's before its start and its own after. With
`metric_position`, only that position's logits are computed ({seq: 1}): the unembedding of every
position is a large share of the work when the vocabulary is large (49,152 x 576 for SmolLM2 vs
30 x 3.5 M multiply-adds in the blocks per token), so use it when the metric reads one position.

Decisions:
  * Only LLaMA-like penzai models (`llamalike_common`, e.g. from `models.load.load_pretrained`): RMS
    norms, RoPE, grouped-query attention with a global causal mask, SwiGLU MLP, untied `lm_head`. Any
    other structure (biases, sliding windows, GPT-2 / NeoX) is refused with a ValueError naming the
    part; `patching.activation_patching` covers it.
  * Only the "head_out" site, every component patching one layer; `over` picks the swept axes as in
    `activation_patching` (the other component axes are patched together).
  * Arrays inside are plain jax arrays with the letters r (packed rows), b (batch), w / u (row slots),
    c (cached positions), k (key/value heads), g (query heads per key/value head), p (projection),
    d (embedding), f (MLP neurons); inputs and outputs are penzai named arrays.
  * `chunk` counts packed rows (two components each) per call, at most the rows one layer needs.
  * The loop recomputes layer l's attention before patching its head outputs (equal to the target's
    there) instead of starting from cached attention outputs: one program body, at most 1 / (L - l) of a
    component's work.
  * The layer loop is a `fori_loop` with a traced start (an XLA while loop), not `lax.scan`, so that a
    chunk runs only layers l..L-1; the full runs in `_runs` use `lax.scan`.

Measured (bench/README.md, SmolLM2-135M, 3,780 components, 2 shared CPU cores): 99 s for the sweep with
1.8 s of compilation, vs 931 s for a transformers hook loop (torch, 1 thread) in the same run; results
within 2.4e-5 of it. Not measured on a GPU.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int
from penzai import pz
from penzai.models.transformer import model_parts


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=["embed", "blocks", "final_norm", "lm_head"],
    meta_fields=["eps", "rope_wavelength", "query_scale", "masked_value", "kv_axes", "query_axes"],
)
@dataclasses.dataclass(frozen=True)
class ScannedLM:
    """A LLaMA-like transformer's parameters with the blocks stacked on a leading layer axis.

    Attributes:
      embed: [vocab, d] token embeddings.
      blocks: per-block parameters stacked on axis 0 (L layers): attn_norm [L, d], query [L, d, k, g, p],
        key / value [L, d, k, p], output [L, k, g, p, d], mlp_norm [L, d], gate / up [L, d, f],
        down [L, f, d].
      final_norm: [d] scale of the last RMS norm; lm_head: [d, vocab].
      eps, rope_wavelength, query_scale, masked_value: the model's constants (the same in every block).
      kv_axes, query_axes: penzai's head axes (name, size) of the keys / values and of the queries only;
        the heads of a "head_out" component are kv_axes + query_axes (e.g. head_groups x query_heads).
    """

    embed: Float[Array, "vocab d"]
    blocks: dict[str, jax.Array]
    final_norm: Float[Array, " d"]
    lm_head: Float[Array, "d vocab"]
    eps: float
    rope_wavelength: float
    query_scale: float
    masked_value: float
    kv_axes: tuple[tuple[str, int], ...]
    query_axes: tuple[tuple[str, int], ...]

    @property
    def layers(self) -> int:
        return self.blocks["attn_norm"].shape[0]

    @property
    def head_axes(self) -> dict[str, int]:
        return dict(self.kv_axes + self.query_axes)


def _expect(part, kind, where: str):
    if not isinstance(part, kind):
        raise ValueError(
            f"scanned: {where} is {type(part).__name__}, expected {kind.__name__} (only LLaMA-like penzai models "
            "are supported; use patching.activation_patching)"
        )
    return part


def _sequence(part, kinds: tuple, where: str) -> list:
    if not isinstance(part, (pz.nn.Sequential, pz.nn.NamedGroup)):
        _expect(part, pz.nn.Sequential, where)
    if len(part.sublayers) != len(kinds):
        raise ValueError(f"scanned: {where} has {len(part.sublayers)} sublayers, expected {len(kinds)}")
    return [
        _expect(layer, kind, f"{where}[{i}]") for i, (layer, kind) in enumerate(zip(part.sublayers, kinds, strict=True))
    ]


def _norm(part, where: str) -> tuple[jax.Array, float]:
    standardize, scale = _sequence(part, (pz.nn.RMSStandardize, pz.nn.Linear), where)
    return scale.weights.value.unwrap("embedding"), float(standardize.epsilon)


def _block_params(block, index: int) -> tuple[dict[str, jax.Array], dict]:
    where = f"block {index}"
    attn_res, mlp_res = _sequence(block, (pz.nn.Residual, pz.nn.Residual), where)
    norm, attn = _sequence(attn_res.delta, (pz.nn.RMSLayerNorm, pz.nn.Attention), f"{where} attention residual")
    q_lin, q_rope, q_scale = _sequence(
        attn.input_to_query, (pz.nn.Linear, pz.nn.ApplyRoPE, pz.nn.ConstantRescale), f"{where} query"
    )
    k_lin, k_rope = _sequence(attn.input_to_key, (pz.nn.Linear, pz.nn.ApplyRoPE), f"{where} key")
    (v_lin,) = _sequence(attn.input_to_value, (pz.nn.Linear,), f"{where} value")
    _, mask, _ = _sequence(
        attn.query_key_to_attn,
        (pz.nn.NamedEinsum, pz.nn.ApplyCausalAttentionMask, pz.nn.Softmax),
        f"{where} attention pattern",
    )
    _, o_lin = _sequence(attn.attn_value_to_output, (pz.nn.NamedEinsum, pz.nn.Linear), f"{where} attention output")
    mlp_norm, mlp = _sequence(mlp_res.delta, (pz.nn.RMSLayerNorm, model_parts.TransformerFeedForward), f"{where} MLP")
    branch, down = _sequence(mlp, (pz.nn.BranchAndMultiplyTogether, pz.nn.Linear), f"{where} MLP")
    if len(branch.branches) != 2:
        raise ValueError(f"scanned: {where} MLP gate has {len(branch.branches)} branches, expected 2")
    gate, silu = _sequence(branch.branches[0], (pz.nn.Linear, pz.nn.Elementwise), f"{where} MLP gate")
    up = _expect(branch.branches[1], pz.nn.Linear, f"{where} MLP up")
    if silu.fn is not jax.nn.silu:
        raise ValueError(f"scanned: {where} MLP activation is {silu.fn}, expected jax.nn.silu (SwiGLU)")
    for side in (mask.query_positions_input_name, mask.kv_positions_input_name, q_rope.positions_input_name):
        if side != "token_positions":
            raise ValueError(f"scanned: {where} reads positions from side input {side!r}, expected token_positions")
    kv = tuple(a for a in k_lin.weights.value.named_shape if a not in ("embedding", "projection"))
    qonly = tuple(a for a in q_lin.weights.value.named_shape if a not in ("embedding", "projection", *kv))
    attn_scale, attn_eps = _norm(norm, f"{where} attention norm")
    mlp_scale, mlp_eps = _norm(mlp_norm, f"{where} MLP norm")

    def matrix(linear, *axes):
        return linear.weights.value.unwrap(*axes)

    q = matrix(q_lin, "embedding", *kv, *qonly, "projection")
    shape_q = q.shape
    d, p = shape_q[0], shape_q[-1]
    kv_size = int(np.prod([q_lin.weights.value.named_shape[a] for a in kv]))
    g_size = int(np.prod([q_lin.weights.value.named_shape[a] for a in qonly]))
    params = {
        "attn_norm": attn_scale,
        "query": q.reshape(d, kv_size, g_size, p),
        "key": matrix(k_lin, "embedding", *kv, "projection").reshape(d, kv_size, p),
        "value": matrix(v_lin, "embedding", *kv, "projection").reshape(d, kv_size, p),
        "output": matrix(o_lin, *kv, *qonly, "projection", "embedding").reshape(kv_size, g_size, p, d),
        "mlp_norm": mlp_scale,
        "gate": matrix(gate, "embedding", "neurons"),
        "up": matrix(up, "embedding", "neurons"),
        "down": matrix(down, "neurons", "embedding"),
    }
    constants = {
        "eps": (attn_eps, mlp_eps),
        "rope": (q_rope.max_wavelength, k_rope.max_wavelength),
        "query_scale": float(q_scale.by),
        "masked_value": float(mask.masked_out_value),
        "kv_axes": tuple((a, q_lin.weights.value.named_shape[a]) for a in kv),
        "query_axes": tuple((a, q_lin.weights.value.named_shape[a]) for a in qonly),
    }
    return params, constants


def from_penzai(model: model_parts.TransformerLM) -> ScannedLM:
    """Stacks a LLaMA-like penzai `TransformerLM`'s block parameters (see `ScannedLM`).

    Raises:
      ValueError: the model's structure is not the LLaMA-like one this module computes (the message names
        the part), or its blocks differ in a constant (epsilon, RoPE wavelength, query scale, head axes).
    """
    frozen = pz.freeze_params(model)
    body = _expect(getattr(frozen, "body", None), pz.nn.Sequential, "the model body")
    layers = body.sublayers
    embed = _expect(layers[0], pz.nn.EmbeddingLookup, "the first layer")
    head = _expect(layers[-1], pz.nn.Linear, "the last layer (lm_head)")
    final_norm, final_eps = _norm(_expect(layers[-2], pz.nn.RMSLayerNorm, "the final norm"), "the final norm")
    blocks = [_expect(b, model_parts.TransformerBlock, f"layer {i + 1}") for i, b in enumerate(layers[1:-2])]
    if not blocks:
        raise ValueError("scanned: the model has no transformer blocks")
    per_block = [_block_params(b, i) for i, b in enumerate(blocks)]
    constants = per_block[0][1]
    for i, (_, c) in enumerate(per_block):
        if c != constants:
            raise ValueError(f"scanned: block {i} has constants {c}, block 0 has {constants}")
    eps = {*constants["eps"], final_eps}
    wavelengths = set(constants["rope"])
    if len(eps) != 1 or len(wavelengths) != 1:
        raise ValueError(f"scanned: norms use epsilons {eps} and RoPE wavelengths {wavelengths}; expected one each")
    stacked = {name: jnp.stack([params[name] for params, _ in per_block]) for name in per_block[0][0]}
    return ScannedLM(
        embed=embed.table.embeddings.value.unwrap("vocabulary", "embedding"),
        blocks=stacked,
        final_norm=final_norm,
        lm_head=head.weights.value.unwrap("embedding", "vocabulary"),
        eps=eps.pop(),
        rope_wavelength=float(wavelengths.pop()),
        query_scale=constants["query_scale"],
        masked_value=constants["masked_value"],
        kv_axes=constants["kv_axes"],
        query_axes=constants["query_axes"],
    )


def _rms(x: jax.Array, scale: jax.Array, eps: float) -> jax.Array:
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps) * scale


def _rope(x: Float[Array, "... p"], positions: Int[Array, "*batch"], wavelength: float) -> Float[Array, "... p"]:
    """penzai's `ApplyRoPE`: rotates the two halves of the last axis; `positions` broadcasts to x[..., 0]."""
    half = x.shape[-1] // 2
    timescale = wavelength ** (2 * jnp.arange(half) / x.shape[-1])
    angle = positions[..., None] / timescale
    sin, cos = jnp.sin(angle), jnp.cos(angle)
    first, second = x[..., :half], x[..., half:]
    return jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1).astype(x.dtype)


def _block(lm: ScannedLM, params, x, positions, cache, cache_allowed, self_allowed, patch=None):
    """One transformer block on packed rows.

    Args:
      x: [r, b, w, d] residual stream entering the block.
      positions: [r, w] sequence position of each slot (drives RoPE).
      cache: (keys, values), each [b, c, k, p]: the target run's at this layer (c may be 0).
      cache_allowed: [r, w, c] which cached positions each slot attends to.
      self_allowed: [r, w, u] which slots of its own row each slot attends to.
      patch: None or (mask [r, w, k, g], values [r, b, w, k, g, p]): head outputs replaced where mask.

    Returns:
      (x after the block [r, b, w, d], keys [r, b, w, k, p], values [r, b, w, k, p], head outputs
      before the patch [r, b, w, k, g, p]).
    """
    h = _rms(x, params["attn_norm"], lm.eps)
    q = _rope(
        jnp.einsum("rbwd,dkgp->rbwkgp", h, params["query"]), positions[:, None, :, None, None], lm.rope_wavelength
    )
    q = q * lm.query_scale
    keys = _rope(jnp.einsum("rbwd,dkp->rbwkp", h, params["key"]), positions[:, None, :, None], lm.rope_wavelength)
    values = jnp.einsum("rbwd,dkp->rbwkp", h, params["value"])
    cache_keys, cache_values = cache
    scores = jnp.concatenate(
        [jnp.einsum("rbwkgp,bckp->rbkgwc", q, cache_keys), jnp.einsum("rbwkgp,rbukp->rbkgwu", q, keys)], axis=-1
    )
    allowed = jnp.concatenate([cache_allowed, self_allowed], axis=-1)[:, None, None, None]
    probs = jax.nn.softmax(jnp.where(allowed, scores, lm.masked_value), axis=-1)
    c = cache_keys.shape[1]
    heads = jnp.einsum("rbkgwc,bckp->rbwkgp", probs[..., :c], cache_values) + jnp.einsum(
        "rbkgwu,rbukp->rbwkgp", probs[..., c:], values
    )
    patched = heads if patch is None else jnp.where(patch[0][:, None, ..., None], patch[1], heads)
    x = x + jnp.einsum("rbwkgp,kgpd->rbwd", patched, params["output"])
    h = _rms(x, params["mlp_norm"], lm.eps)
    gated = jax.nn.silu(jnp.einsum("rbwd,df->rbwf", h, params["gate"])) * jnp.einsum("rbwd,df->rbwf", h, params["up"])
    return x + jnp.einsum("rbwf,fd->rbwd", gated, params["down"]), keys, values, heads


def _unembed(lm: ScannedLM, x: Float[Array, "... d"]) -> Float[Array, "... vocab"]:
    return _rms(x, lm.final_norm, lm.eps) @ lm.lm_head


@jax.jit
def _runs(lm: ScannedLM, tokens: Int[Array, "r b t"]) -> dict[str, jax.Array]:
    """Full runs of r prompt sets under `lax.scan` over the layers, keeping every layer's intermediates.

    Returns {"resid_pre": [L, r, b, t, d], "keys" / "values": [L, r, b, t, k, p], "heads": [L, r, b, t, k,
    g, p] (head outputs), "logits": [r, b, t, vocab]}.
    """
    r, _, t = tokens.shape
    positions = jnp.broadcast_to(jnp.arange(t), (r, t))
    d, k, p = lm.embed.shape[1], lm.blocks["key"].shape[2], lm.blocks["key"].shape[3]
    empty = jnp.zeros((tokens.shape[1], 0, k, p), lm.embed.dtype)
    causal = jnp.broadcast_to(jnp.tril(jnp.ones((t, t), bool)), (r, t, t))
    no_cache = jnp.zeros((r, t, 0), bool)

    def layer(x, params):
        out, keys, values, heads = _block(lm, params, x, positions, (empty, empty), no_cache, causal)
        return out, {"resid_pre": x, "keys": keys, "values": values, "heads": heads}

    x, per_layer = jax.lax.scan(layer, lm.embed[tokens].reshape(*tokens.shape, d), lm.blocks)
    return per_layer | {"logits": _unembed(lm, x)}


@jax.jit
def _prepare(lm: ScannedLM, target: Int[Array, "b t"], source: Int[Array, "b t"]) -> dict[str, jax.Array]:
    """What `_sweep_chunk` reads: the target's resid_pre / keys / values per layer and logits, the source's
    head outputs per layer (one compiled call)."""
    runs = _runs(lm, jnp.stack([target, source]))
    return {name: runs[name][:, 0] for name in ("resid_pre", "keys", "values")} | {
        "logits": runs["logits"][0],
        "source_heads": runs["heads"][:, 1],
    }


def logits(lm: ScannedLM, tokens: pz.nx.NamedArray) -> pz.nx.NamedArray:
    """The model's logits {batch, seq, vocabulary} for int tokens {batch, seq} (the scanned computation)."""
    out = _runs(lm, tokens.unwrap("batch", "seq")[None])["logits"][0]
    return pz.nx.wrap(out).tag("batch", "seq", "vocabulary")


@dataclasses.dataclass(frozen=True)
class _Packing:
    """Host-side layout of one layer's components in rows of `width` = T + 1 slots (see the module).

    Attributes:
      positions, starts, segments: [rows, width] each slot's sequence position, its segment's first
        position, and its segment (0 / 1; 2 for spare slots, computed but never read).
      patch: [rows, width, heads] True where the slot's component patches that head at that position.
      component: [rows, 2] the component index of each segment, -1 for none.
      offset: [rows, 2] the slot of each segment's first position.
    """

    positions: np.ndarray
    starts: np.ndarray
    segments: np.ndarray
    patch: np.ndarray
    component: np.ndarray
    offset: np.ndarray


def _pack(masks: np.ndarray) -> _Packing:
    """Pairs components (masks [n, T, heads], each patching positions from its first True on) into rows.

    Longest first, each with the longest remaining component that fits in the T + 1 - length free slots.
    """
    n, t, heads = masks.shape
    width = t + 1
    patched_positions = masks.any(axis=2)
    if not patched_positions.any(axis=1).all():
        raise ValueError("scanned: a component patches nothing")
    starts = patched_positions.argmax(axis=1)
    lengths = t - starts
    order = sorted(range(n), key=lambda i: -lengths[i])
    free = {length: [] for length in range(1, t + 1)}
    for i in reversed(order):
        free[lengths[i]].append(i)
    used = np.zeros(n, bool)
    rows = []
    for i in order:
        if used[i]:
            continue
        used[i] = True
        free[lengths[i]].remove(i)
        partner = -1
        for length in range(min(width - lengths[i], t), 0, -1):
            if free[length]:
                partner = free[length].pop()
                used[partner] = True
                break
        rows.append((i, partner))
    count = len(rows)
    packing = _Packing(
        positions=np.full((count, width), t - 1, np.int32),
        starts=np.full((count, width), t - 1, np.int32),
        segments=np.full((count, width), 2, np.int32),  # 2: spare slots, apart from both segments
        patch=np.zeros((count, width, heads), bool),
        component=np.full((count, 2), -1, np.int32),
        offset=np.full((count, 2), width - 1, np.int32),
    )
    for r, pair in enumerate(rows):
        slot = 0
        for s, i in enumerate(pair):
            if i < 0:
                continue
            length, start = lengths[i], starts[i]
            cut = slice(slot, slot + length)
            packing.positions[r, cut] = np.arange(start, t)
            packing.starts[r, cut] = start
            packing.segments[r, cut] = s
            packing.patch[r, cut] = masks[i, start:]
            packing.component[r, s] = i
            packing.offset[r, s] = slot
            slot += length
    return packing


def _padded(packing: _Packing, rows: slice, chunk: int) -> dict[str, np.ndarray]:
    """Rows `rows` of `packing` as arrays of exactly `chunk` rows (dummy rows: two empty segments)."""
    arrays = {f.name: getattr(packing, f.name)[rows] for f in dataclasses.fields(packing)}
    width = packing.positions.shape[1]
    fill = {"positions": width - 2, "starts": width - 2, "segments": 2, "patch": False, "component": -1}
    fill["offset"] = width - 1
    missing = chunk - arrays["positions"].shape[0]
    return {
        name: np.concatenate([a, np.full((missing, *a.shape[1:]), fill[name], a.dtype)]) for name, a in arrays.items()
    }


@functools.partial(jax.jit, static_argnames=("metric", "metric_position"))
def _sweep_chunk(lm: ScannedLM, runs, layer, rows, metric, metric_position):
    """The metric for the 2 x chunk components packed in `rows` (arrays of `_Packing`), all at `layer`.

    `runs`: the target's resid_pre / keys / values [L, b, t, ...] and logits [b, t, vocab], and the
    source's head outputs [L, b, t, k, g, p]. Returns metric values with a leading [chunk * 2] axis
    (segment-major within a row: row r segment s is entry 2 r + s).
    """
    positions, starts, segments = rows["positions"], rows["starts"], rows["segments"]
    t = runs["logits"].shape[1]
    k, g = lm.blocks["query"].shape[2:4]
    cache_allowed = jnp.arange(t)[None, None, :] < starts[:, :, None]
    self_allowed = (segments[:, :, None] == segments[:, None, :]) & (positions[:, None, :] <= positions[:, :, None])

    def gather(per_layer, index):  # [L, b, t, ...] at layer `index`, slot positions -> [r, b, w, ...]
        at = jax.lax.dynamic_index_in_dim(per_layer, index, keepdims=False)
        return jnp.moveaxis(at[:, positions], 1, 0)

    source = gather(runs["source_heads"], layer)
    patch_mask = rows["patch"].reshape(*rows["patch"].shape[:2], k, g)

    def body(index, x):
        params = jax.tree.map(lambda a: jax.lax.dynamic_index_in_dim(a, index, keepdims=False), lm.blocks)
        cache = tuple(jax.lax.dynamic_index_in_dim(runs[name], index, keepdims=False) for name in ("keys", "values"))
        patch = (patch_mask & (index == layer), source)
        return _block(lm, params, x, positions, cache, cache_allowed, self_allowed, patch)[0]

    x = jax.lax.fori_loop(layer, lm.layers, body, gather(runs["resid_pre"], layer))
    row_index = jnp.arange(x.shape[0])[:, None]
    if metric_position is not None:
        at = metric_position % t
        slots = rows["offset"] + at - starts[row_index, rows["offset"]]  # [r, 2]
        computed = _unembed(lm, x[row_index, :, jnp.clip(slots, 0, x.shape[2] - 1)])  # [r, 2, b, vocab]
        before = at < starts[row_index, rows["offset"]]  # the patch starts after the read position
        out = jnp.where(before[..., None, None], runs["logits"][None, None, :, at], computed)[:, :, :, None]
    else:
        row_logits = _unembed(lm, x)  # [r, b, w, vocab]
        seq = jnp.arange(t)
        start = starts[row_index, rows["offset"]]  # [r, 2]
        slots = jnp.clip(rows["offset"][..., None] + seq - start[..., None], 0, x.shape[2] - 1)  # [r, 2, t]
        computed = jnp.moveaxis(row_logits[row_index[..., None], :, slots], 3, 2)  # [r, 2, b, t, vocab]
        before = seq < start[..., None]
        out = jnp.where(before[:, :, None, :, None], runs["logits"][None, None], computed)
    named = pz.nx.wrap(out.reshape(-1, *out.shape[2:])).tag("sweep", "batch", "seq", "vocabulary")
    return metric(named)


def activation_patching(
    model: model_parts.TransformerLM | ScannedLM,
    site: str,
    source_tokens: pz.nx.NamedArray,
    target_tokens: pz.nx.NamedArray,
    metric: Callable[[pz.nx.NamedArray], pz.nx.NamedArray],
    chunk: int = 64,
    over: tuple[str, ...] | None = None,
    layers: Sequence[int] | None = None,
    metric_position: int | None = None,
) -> pz.nx.NamedArray:
    """`patching.activation_patching` for site "head_out" of a LLaMA-like model, compiled once (see module).

    Args:
      model: a LLaMA-like penzai TransformerLM, or its `from_penzai` result (stack once, reuse).
      site: "head_out" (the only site here).
      source_tokens, target_tokens: {batch, seq} int token ids of the same shape.
      metric: logits {sweep, batch, seq, vocabulary} -> named values keeping "sweep" (e.g.
        `patching.logit_difference`).
      chunk: packed rows (two components each) per compiled call; capped at the rows one layer needs.
      over: the component axes to sweep, "layer" among them (default: layer, seq and the head axes); the
        others are patched together, e.g. ("layer", "head_groups", "query_heads") patches each head at
        every position.
      layers: sweep only these layers (default: all); the result's "layer" axis follows this order.
      metric_position: the one position `metric` reads (e.g. -1); then only that position's logits are
        computed and the metric sees them as {seq: 1} (so it must read position -1 or 0 there). None: every
        position (as `activation_patching`).

    Returns:
      The metric for every component: {layer, seq, heads..., *metric axes}, with the swept axes only.
    """
    if site != "head_out":
        raise ValueError(f"scanned.activation_patching supports site 'head_out' only, got {site!r}")
    lm = model if isinstance(model, ScannedLM) else from_penzai(model)
    source = source_tokens.unwrap("batch", "seq")
    target = target_tokens.unwrap("batch", "seq")
    if source.shape != target.shape:
        raise ValueError(f"source and target tokens differ in shape: {source.shape} vs {target.shape}")
    t = target.shape[1]
    axes = {"layer": lm.layers, "seq": t, **lm.head_axes}
    swept = tuple(axes) if over is None else over
    unknown = [a for a in swept if a not in axes]
    if unknown or "layer" not in swept:
        raise ValueError(f'over must name "layer" and only axes among {", ".join(axes)}; got {", ".join(swept)}')
    swept = tuple(a for a in axes if a in swept)  # model order
    layer_list = list(range(lm.layers)) if layers is None else [int(i) for i in layers]
    if any(not 0 <= i < lm.layers for i in layer_list):
        raise ValueError(f"layers must lie in 0..{lm.layers - 1}, got {layer_list}")
    # Components of one layer (row-major over the swept axes): one-hot on those, all True on the others.
    within = {a: axes[a] for a in axes if a != "layer"}
    swept_within = [a for a in within if a in swept]
    count = int(np.prod([within[a] for a in swept_within]))
    grid = np.ones((count, *within.values()), bool)
    indices = np.unravel_index(np.arange(count), [within[a] for a in swept_within]) if swept_within else ()
    for name, index in zip(swept_within, indices, strict=True):
        shape = [count] + [1] * len(within)
        shape[1 + list(within).index(name)] = within[name]
        grid &= np.eye(within[name], dtype=bool)[index].reshape(shape)
    packing = _pack(grid.reshape(count, t, -1))
    rows_per_layer = packing.positions.shape[0]
    chunk = max(1, min(chunk, rows_per_layer))
    runs = _prepare(lm, target, source)
    per_layer, rest = [], ()
    for layer in layer_list:
        collected = []
        for first in range(0, rows_per_layer, chunk):
            rows = _padded(packing, slice(first, first + chunk), chunk)
            out = _sweep_chunk(lm, runs, np.int32(layer), rows, metric, metric_position)
            rest = tuple(name for name in out.named_shape if name != "sweep")
            collected.append((rows["component"].reshape(-1), np.asarray(out.unwrap("sweep", *rest))))
        values = np.zeros((count, *collected[0][1].shape[1:]), collected[0][1].dtype)
        for component, out in collected:
            keep = component >= 0
            values[component[keep]] = out[keep]
        per_layer.append(values)
    result = np.stack(per_layer)
    result = result.reshape(len(layer_list), *[within[a] for a in swept_within], *result.shape[2:])
    return pz.nx.wrap(jax.device_put(result)).tag(*swept, *rest)  # device_put: no compile per shape
