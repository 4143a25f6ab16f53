"""Activation patching on penzai transformers as one batched computation.

Axis vocabulary (penzai's, plus ours):
  batch       prompts;                      seq          token positions;
  heads       attention heads (LLaMA with grouped queries: head_groups x query_heads);
  projection  per-head width;               embedding    residual-stream width;
  layer       transformer block index (ours: activations captured at every block are stacked on it);
  sweep       the patched components (ours): one forward pass per entry, vectorised, never a Python loop.

Sites (where an activation is read and overwritten), with their component axes:
  "head_out"     each attention head's output before the output projection (penzai's
                 `attn_value_to_output.sublayers[0]`; the `o_proj` input that the entity-tracking code
                 patches): (layer, seq, heads...);
  "resid_post"   the residual stream after each block: (layer, seq);
  "mlp_out"      the feed-forward block's output, before it is added to the residual stream: (layer, seq);
  "query", "key", "value"
                 each head's query / key / value vector after its projection (and RoPE, for queries and
                 keys): (layer, seq, heads...); with grouped-query attention keys and values have only the
                 "head_groups" axis;
  "attn_pattern" the attention probabilities after the softmax: (layer, seq, kv_seq, heads...), seq being
                 the query position and kv_seq the key position.

How: `with_sites` inserts a `PatchSite` layer at every instance of a site. Called without side inputs
it is the identity; called with `patch_source` (activations of another run, stacked on "layer") and a
boolean `patch_mask` over the component axes it returns `where(mask, source, value)`. A mask carrying
an extra "sweep" axis makes penzai broadcast the rest of the forward pass over it, so a whole sweep
(every layer x position x head) is one jit-compiled, vectorised forward pass, chunked to bound memory
and sharded over the devices of a mesh along the components (`sweep_mesh`).

`over` sweeps a subset of the component axes and patches the others together (e.g. ("layer", "heads")
patches each head at every position at once); `masks` sweeps any set of component groups ("circuits").
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from penzai import pz
from penzai.models.transformer import model_parts

from jaxinterp.mech import prefix_cache

_ATTENTION_PARTS = {
    "head_out": lambda attention: attention.attn_value_to_output.sublayers[0],
    # The last layer of each part (all are Sequentials in penzai's builders and ours), so that a site can be
    # inserted after it.
    "query": lambda attention: attention.input_to_query.sublayers[-1],
    "key": lambda attention: attention.input_to_key.sublayers[-1],
    "value": lambda attention: attention.input_to_value.sublayers[-1],
    "attn_pattern": lambda attention: attention.query_key_to_attn.sublayers[-1],
}
SITES = ("head_out", "resid_post", "mlp_out", "query", "key", "value", "attn_pattern")
INSIDE_ATTENTION = ("query", "key", "value", "attn_pattern")
_NON_COMPONENT_AXES = ("batch", "projection", "embedding")


def _site_selection(model, site: str):
    if site in _ATTENTION_PARTS:
        return pz.select(model).at_instances_of(pz.nn.Attention).at(_ATTENTION_PARTS[site])
    if site == "resid_post":
        return pz.select(model).at_instances_of(model_parts.TransformerBlock)
    if site == "mlp_out":
        return pz.select(model).at_instances_of(model_parts.TransformerFeedForward)
    raise ValueError(f"unknown site {site!r}; known: {', '.join(SITES)}")


@pz.pytree_dataclass
class PatchSite(pz.nn.Layer):
    """Identity, or `where(mask[layer], source[layer], value)` when the side inputs `{key}_source` and
    `{key}_mask` are given (key "patch" by default; several kinds of site can be patched in one call
    under different keys). A floating-point mask interpolates instead: `value + mask * (source - value)`,
    i.e. the weight of the source (DCM's continuous masks; 0 and 1 equal the boolean case)."""

    layer: int = dataclasses.field(metadata={"pytree_node": False})
    key: str = dataclasses.field(default="patch", metadata={"pytree_node": False})

    def __call__(self, value: pz.nx.NamedArray, /, **side_inputs) -> pz.nx.NamedArray:
        source, mask = side_inputs.get(f"{self.key}_source"), side_inputs.get(f"{self.key}_mask")
        if source is None:
            return value
        layer_source, layer_mask = source[{"layer": self.layer}], mask[{"layer": self.layer}]
        if jnp.issubdtype(layer_mask.dtype, jnp.floating):
            return value + layer_mask.astype(value.dtype) * (layer_source - value)
        return pz.nx.nmap(jnp.where)(layer_mask, layer_source, value)


@pz.pytree_dataclass
class _Capture(pz.nn.Layer):
    saved: pz.StateVariable = dataclasses.field(default_factory=lambda: pz.StateVariable(None))

    def __call__(self, value, /, **_side_inputs):
        self.saved.value = value
        return value


def with_sites(model, site: str, key: str = "patch"):
    """A copy of `model` with a `PatchSite` (side inputs `{key}_source`, `{key}_mask`) after every instance
    of `site`, numbered in model order."""
    counter = iter(range(1 << 30))
    marker = PatchSite(-1, key)
    inserted = _site_selection(model, site).insert_after(marker)
    return pz.select(inserted).at_equal_to(marker).apply(lambda _: PatchSite(next(counter), key))


def capture(model, tokens: pz.nx.NamedArray, site: str, **side_inputs) -> pz.nx.NamedArray:
    """Activations at every instance of `site` on `tokens`, stacked on a leading "layer" axis.

    `side_inputs` are passed to the model (e.g. the patch inputs of a model made by `with_sites`, to read
    a site downstream of a patch); they can be traced, so this works inside `jax.jit`.
    """
    grabbing = pz.select(_site_selection(model, site).insert_after(_Capture())).at_instances_of(_Capture)
    grabbing = grabbing.apply(lambda _: _Capture())  # a fresh state variable per instance
    stateless, variables = pz.unbind_state_vars(grabbing)
    _, states = stateless.stateless_call([v.freeze() for v in variables], tokens, **side_inputs)
    return pz.nx.stack([s.value for s in states], "layer")


def component_axes(source: pz.nx.NamedArray) -> dict[str, int]:
    """The axes that index components of a captured site: layer, seq and (for heads) the head axes."""
    return {name: size for name, size in source.named_shape.items() if name not in _NON_COMPONENT_AXES}


def one_hot_masks(axes: dict[str, int]) -> pz.nx.NamedArray:
    """Boolean masks {sweep, *axes}: entry i patches exactly the i-th component (row-major over axes)."""
    count = int(np.prod(list(axes.values())))
    eye = jnp.eye(count, dtype=bool).reshape(count, *axes.values())
    return pz.nx.wrap(eye).tag("sweep", *axes)


def patched_logits(model_with_sites, tokens, source, mask) -> pz.nx.NamedArray:
    """Logits of `tokens` with the masked components replaced by `source` (any extra mask axes broadcast)."""
    return model_with_sites(tokens, patch_source=source, patch_mask=mask)


def activation_patching(
    model,
    site: str,
    source_tokens: pz.nx.NamedArray,
    target_tokens: pz.nx.NamedArray,
    metric: Callable[[pz.nx.NamedArray], pz.nx.NamedArray],
    chunk: int = 64,
    mesh: Mesh | None = None,
    over: tuple[str, ...] | None = None,
    masks: pz.nx.NamedArray | None = None,
    position_buckets: int = 4,
) -> pz.nx.NamedArray:
    """Runs `target_tokens` once per component of `site`, that component taken from the `source_tokens` run.

    Args:
      model: a penzai TransformerLM.
      site: one of `SITES`.
      source_tokens, target_tokens: {batch, seq} integer token ids of the same shape (e.g. clean and
        corrupted prompts; swap them to patch the other way).
      metric: logits {batch, seq, vocabulary} -> a named array without "vocabulary" (e.g. logit
        difference per prompt); it sees an extra "sweep" axis, which it must leave alone.
      chunk: components per compiled forward pass (bounds memory; the last chunk is padded). Rounded
        up to a multiple of the mesh size.
      mesh: devices to shard the components over (a 1-D mesh; default: every local device). Each device
        runs its share of every chunk; the model and activations are replicated.
      over: the component axes to sweep, "layer" among them (default: all of the site's component axes);
        the other component axes are patched together, e.g. ("layer", "heads") patches each head at
        every position at once.
      masks: instead of a sweep over components, any list of component groups: a boolean {sweep, ...}
        array over some of the site's component axes ("layer" included), True = patched in that run.
      position_buckets: when "seq" is swept, components are grouped into this many position ranges and
        each range runs only the positions from its start on (`prefix_cache`); 1 runs every position.
        More buckets save more work and compile more programs (one per layer and bucket).

    Returns:
      The metric for every component, with the swept axes (layer, seq, heads...) in place of sweep; or,
      with `masks`, the metric per mask with the "sweep" axis kept.
    """
    frozen = pz.freeze_params(model)  # parameter values as arrays: the model is an argument of jitted calls
    source = _captured(frozen, source_tokens, site)
    patched = with_sites(frozen, site)
    mesh = mesh if mesh is not None else sweep_mesh()
    spread = site in INSIDE_ATTENTION
    if masks is not None:
        _check_axes(masks.named_shape, source, site, "masks")
        mask_axes = tuple(name for name in masks.named_shape if name != "sweep")
        rows = np.asarray(masks.unwrap("sweep", *mask_axes))
        return _sweep(patched.body, target_tokens, source, rows, mask_axes, metric, chunk, mesh, spread)
    axes = component_axes(source)
    if over is not None:
        _check_axes(dict.fromkeys(over), source, site, "over")
        axes = {name: axes[name] for name in over}
    # Layer-major, so each layer's components are contiguous; then position, so each position bucket's are.
    axes = {"layer": axes.pop("layer"), **({"seq": axes.pop("seq")} if "seq" in axes else {}), **axes}
    one_hot = np.eye(int(np.prod(list(axes.values()))), dtype=bool).reshape(-1, *axes.values())  # host-side
    per_layer = one_hot.shape[0] // axes["layer"]
    runs = _suffix_runs(patched, target_tokens)
    if runs is None:  # no top-level list of blocks: every component runs the whole model
        pieces = [_sweep(patched.body, target_tokens, source, one_hot, tuple(axes), metric, chunk, mesh, spread)]
    elif "seq" in axes and position_buckets > 1 and prefix_cache.supports_prefix_cache(patched.body):
        pieces = _position_suffix_sweeps(
            frozen, runs, target_tokens, source, one_hot, axes, metric, chunk, mesh, spread, position_buckets
        )
    else:
        pieces = [
            _sweep(
                body,
                inputs,
                source,
                one_hot[layer * per_layer : (layer + 1) * per_layer],
                tuple(axes),
                metric,
                chunk,
                mesh,
                spread,
            )
            for body, inputs, layer in runs
        ]
    values = pz.nx.concatenate(pieces, "sweep")
    order = [name for name in values.named_shape if name != "sweep"]
    flat = values.unwrap("sweep", *order)
    return pz.nx.wrap(flat.reshape(*axes.values(), *flat.shape[1:])).tag(*axes, *order)


def _position_suffix_sweeps(model, runs, tokens, source, one_hot, axes, metric, chunk, mesh, spread, buckets):
    """Per layer and position bucket [start, stop): the components there, run on positions start.. only.

    Positions before `start` are identical to the target run (causality): their keys and values come
    from a capture of it (`prefix_cache`), and their logits are the target run's, put back in front of
    the computed ones so that `metric` sees every position as usual.
    """
    cached = _target_run(model, tokens)
    per_layer = one_hot.shape[0] // axes["layer"]
    per_position = per_layer // axes["seq"]
    pieces = []
    for body, inputs, layer in runs:
        suffix_body = prefix_cache.with_prefix_cache(body, layer)
        for start, stop in prefix_cache.bucket_bounds(axes["seq"], buckets):
            first = layer * per_layer
            rows = one_hot[first + start * per_position : first + stop * per_position, :, start:]
            pieces.append(
                _sweep(suffix_body, inputs, source, rows, tuple(axes), metric, chunk, mesh, spread, cached, start)
            )
    return pieces


def _check_axes(names, source: pz.nx.NamedArray, site: str, argument: str) -> None:
    known = component_axes(source)
    unknown = [name for name in names if name != "sweep" and name not in known]
    if unknown or "layer" not in names:
        raise ValueError(
            f'{argument} must name "layer" and only component axes of site {site!r} '
            f"({', '.join(known)}); got {', '.join(n for n in names if n != 'sweep')}"
        )


def _suffix_runs(patched, tokens):
    """Per layer l: (the body from block l on, the residual stream entering block l, l).

    Components of layer l cannot change anything before block l, so that prefix is computed once on the
    target run instead of once per component (about half the FLOPs of a sweep over all layers). None
    when the blocks are not direct children of the body (then every component runs the whole model).
    """
    body = patched.body
    if not isinstance(body, pz.nn.Sequential):
        return None
    starts = [i for i, layer in enumerate(body.sublayers) if isinstance(layer, model_parts.TransformerBlock)]
    if not starts or starts != list(range(starts[0], starts[0] + len(starts))):
        return None
    inputs = _block_inputs(body, tokens, tuple(starts))
    return [
        (pz.nn.Sequential(body.sublayers[index:]), x, layer)
        for layer, (index, x) in enumerate(zip(starts, inputs, strict=True))
    ]


@functools.partial(jax.jit, static_argnames=("starts",))
def _block_inputs(body, tokens, starts):
    """The residual stream entering each block (sublayer indices `starts` of `body`), in one compiled call."""
    positions = pz.nx.arange("seq", tokens.named_shape["seq"])
    stream = pz.nn.Sequential(body.sublayers[: starts[0]])(tokens, token_positions=positions)
    inputs = []
    for index in starts:
        inputs.append(stream)
        stream = body.sublayers[index](stream, token_positions=positions)
    return inputs


# Compiled, so that the runs a sweep needs besides its chunks cost one call each, not one dispatch per op.
_captured = jax.jit(capture, static_argnames=("site",))


@jax.jit
def _target_run(model, tokens):
    """Keys and values at every layer (after RoPE) and the logits of the target run."""
    return {
        "prefix_keys": capture(model, tokens, "key"),
        "prefix_values": capture(model, tokens, "value"),
        "logits": model(tokens),
    }


def _sweep(body, inputs, source, masks, axes, metric, chunk, mesh, spread, cached=None, start=0):
    """The metric for each mask row (sweep), `chunk` rows per compiled call, sharded over `mesh`."""
    return chunked_sweep(
        lambda rows: _run_chunk(body, inputs, source, rows, axes, metric, spread, cached, start), masks, chunk, mesh
    )


def chunked_sweep(run: Callable[[jax.Array], pz.nx.NamedArray], masks: jax.Array, chunk: int, mesh: Mesh):
    """`run(rows)` over the rows of `masks` (leading axis = sweep), `chunk` rows per call.

    The last chunk is padded with all-False rows (dropped from the result); each chunk is sharded over
    the devices of `mesh` along its rows, so `run` (jitted) executes its share on every device. `chunk`
    is rounded up to a multiple of the mesh size. Returns run's outputs concatenated on "sweep".
    """
    count = masks.shape[0]
    shards = mesh.devices.size
    chunk = max(1, min(chunk, count))
    chunk = -(-chunk // shards) * shards
    padded = np.concatenate([np.asarray(masks), np.zeros((-count % chunk, *masks.shape[1:]), bool)])
    by_row = NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))
    results = [run(jax.device_put(padded[i : i + chunk], by_row)) for i in range(0, padded.shape[0], chunk)]
    return pz.nx.concatenate(results, "sweep")[{"sweep": pz.slice[:count]}]


@functools.partial(jax.jit, static_argnames=("axis_names", "metric", "spread", "start"))
def _run_chunk(body, inputs, source, mask_chunk, axis_names, metric, spread, cached=None, start=0):
    """One compiled call per (model structure, shapes, metric): reused across calls and chunks.

    `spread` gives the inputs the "sweep" axis up front: needed when the site sits inside attention
    (query/key/value/pattern), where penzai's einsums require both operands to carry the same axes.
    With `cached` (the target run's keys, values and logits, for bodies made by
    `prefix_cache.with_prefix_cache`), only positions `start`.. are run; `mask_chunk` covers those only.
    """
    mask = pz.nx.wrap(mask_chunk).tag("sweep", *axis_names)
    if cached is None:
        positions = pz.nx.arange("seq", inputs.named_shape["seq"])
        if spread:
            inputs = inputs + pz.nx.wrap(jnp.zeros(mask_chunk.shape[0], inputs.dtype)).tag("sweep")
        return metric(body(inputs, token_positions=positions, patch_source=source, patch_mask=mask))
    later, earlier = {"seq": pz.slice[start:]}, {"seq": pz.slice[:start]}
    inputs = inputs[later]
    if spread:
        inputs = inputs + pz.nx.wrap(jnp.zeros(mask_chunk.shape[0], inputs.dtype)).tag("sweep")
    length = start + inputs.named_shape["seq"]
    logits = body(
        inputs,
        token_positions=pz.nx.arange("seq", length)[later],
        kv_positions=pz.nx.arange("seq", length),
        prefix_keys=cached["prefix_keys"][earlier],
        prefix_values=cached["prefix_values"][earlier],
        patch_source=source[later],
        patch_mask=mask,
    )
    join = pz.nx.nmap(lambda old, new: jnp.concatenate([jnp.broadcast_to(old, (old.shape[0], *new.shape[1:])), new]))
    return metric(join(cached["logits"][earlier].untag_prefix("seq"), logits.untag_prefix("seq")).tag_prefix("seq"))


def sweep_mesh(devices=None) -> Mesh:
    """A 1-D mesh ("sweep",) over `devices` (default: all local devices) for sharding components."""
    devices = np.asarray(devices if devices is not None else jax.local_devices())
    return Mesh(devices.reshape(-1), ("sweep",))


@functools.partial(jax.jit, static_argnames=("position",))
def logit_difference(
    logits: pz.nx.NamedArray, correct: jax.Array, wrong: jax.Array, position: int = -1
) -> pz.nx.NamedArray:
    """logit[correct] - logit[wrong] at `position`, per prompt ({batch} ids); other axes broadcast."""
    at = logits[{"seq": position}]
    pick = pz.nx.nmap(lambda row, index: row[index])
    correct_ids = pz.nx.wrap(correct).tag("batch")
    wrong_ids = pz.nx.wrap(wrong).tag("batch")
    return pick(at.untag_prefix("vocabulary"), correct_ids) - pick(at.untag_prefix("vocabulary"), wrong_ids)
