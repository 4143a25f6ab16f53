"""Path patching: the effect of sender heads on the output that flows only through chosen receivers.

Wang et al. 2022 ("Interpretability in the wild", IOI) and Prakash et al. 2024 (entity tracking, which
runs it from the logits backwards to find its four head groups). With a target run (the prompts the
metric is read on, e.g. clean) and a source run (e.g. corrupted):

  pass 1  run the target prompts with the sender heads' outputs taken from the source run and *every
          other head's* output frozen at its target-run value. MLPs, norms and the residual stream
          recompute, so the senders' effect reaches later layers only along paths through them, never
          through another head. Record the receivers' activations (e.g. the value vectors of the heads
          of a later group).
  pass 2  run the target prompts again, all live, with only the receivers' activations overwritten by
          the pass-1 recordings; read the metric.

With no receivers the metric is read on pass 1's logits: the senders' direct effect on the output.

Senders are a boolean mask over "head_out" components (layer, seq, heads...); a "sweep" axis on it
gives one path-patching run per entry, vectorised, chunked and sharded over devices like
`patching.activation_patching`. Receivers are a boolean mask over the components of a receiver site
("query", "key", "value" for Q/K/V composition, or any other site in `patching.SITES`); its axes may be
any subset of that site's component axes that includes "layer" (the others are patched together), and
extra axes (e.g. one per receiver group) broadcast into the result.

Freezing covers every head at every position; positions before the sender's cannot change in a causal
model, so this equals the entity-tracking code's "from the sender position on".
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh
from penzai import pz

from jaxinterp.mech import patching


def path_patching(
    model,
    source_tokens: pz.nx.NamedArray,
    target_tokens: pz.nx.NamedArray,
    metric: Callable[[pz.nx.NamedArray], pz.nx.NamedArray],
    senders: pz.nx.NamedArray,
    receivers: pz.nx.NamedArray | None = None,
    receiver_site: str = "value",
    chunk: int = 32,
    mesh: Mesh | None = None,
) -> pz.nx.NamedArray:
    """The metric on `target_tokens` after patching senders -> receivers (module docstring).

    Args:
      model: a penzai TransformerLM.
      source_tokens, target_tokens: {batch, seq} token ids of the same shape.
      metric: logits {batch, seq, vocabulary} -> a named array without "vocabulary"; it sees the extra
        "sweep" axis (and any extra receiver axes) and must leave them alone.
      senders: boolean {sweep, ...} over "head_out" component axes ("layer" included; e.g. made with
        `sender_masks`); True = this head (at this position) carries the source run's output.
      receivers: boolean over `receiver_site` component axes ("layer" included), True = receives the
        senders' effect; None = the logits.
      receiver_site: the site the receivers are read at, one of `patching.SITES`.
      chunk: sender masks per compiled call (bounds memory); mesh: devices to shard them over (default all).

    Returns:
      The metric per sender mask, with "sweep" first.
    """
    heads_source = patching.capture(model, source_tokens, "head_out")
    heads_target = patching.capture(model, target_tokens, "head_out")
    sender_axes = tuple(name for name in senders.named_shape if name != "sweep")
    _check(sender_axes, heads_source, "senders", "head_out")
    frozen_model = patching.with_sites(model, "head_out", key="heads")
    if receivers is not None:
        at_receivers = patching.capture(model, target_tokens, receiver_site)
        _check(tuple(receivers.named_shape), at_receivers, "receivers", receiver_site)
        receiving_model = pz.freeze_params(patching.with_sites(model, receiver_site, key="receivers"))
    else:
        receiving_model = None
    mesh = mesh if mesh is not None else patching.sweep_mesh()
    frozen_model = pz.freeze_params(frozen_model)

    def run(rows):
        return _path_chunk(
            frozen_model,
            receiving_model,
            target_tokens,
            heads_source,
            heads_target,
            rows,
            receivers,
            sender_axes=sender_axes,
            receiver_site=receiver_site,
            metric=metric,
        )

    return patching.chunked_sweep(run, senders.unwrap("sweep", *sender_axes), chunk, mesh)


def sender_masks(model, tokens: pz.nx.NamedArray, over: tuple[str, ...] = ("layer", "heads")) -> pz.nx.NamedArray:
    """One-hot sender masks {sweep, *over}: each head (by default at every position at once) in turn.

    `over` names "head_out" component axes of `model` (for grouped-query models use ("layer",
    "head_groups", "query_heads")); add "seq" to send from one position at a time.
    """
    captured = patching.capture(model, tokens, "head_out")
    _check(over, captured, "over", "head_out")
    axes = patching.component_axes(captured)
    return patching.one_hot_masks({name: axes[name] for name in over})


def unflatten(values: pz.nx.NamedArray, senders: pz.nx.NamedArray) -> pz.nx.NamedArray:
    """Puts the sender axes of one-hot `senders` (from `sender_masks`) back in place of "sweep"."""
    axes = {name: size for name, size in senders.named_shape.items() if name != "sweep"}
    rest = [name for name in values.named_shape if name != "sweep"]
    flat = values.unwrap("sweep", *rest)
    return pz.nx.wrap(flat.reshape(*axes.values(), *flat.shape[1:])).tag(*axes, *rest)


def _check(names, captured: pz.nx.NamedArray, argument: str, site: str) -> None:
    """Mask axes must include "layer"; those the site has must be component axes (others broadcast)."""
    known = patching.component_axes(captured)
    misplaced = [name for name in names if name in captured.named_shape and name not in known]
    if "layer" not in names or misplaced:
        raise ValueError(
            f'{argument} must name "layer" and component axes of site {site!r} ({", ".join(known)}); '
            f"got {', '.join(names)}"
        )


@functools.partial(jax.jit, static_argnames=("sender_axes", "receiver_site", "metric"))
def _path_chunk(
    frozen_model,
    receiving_model,
    tokens,
    heads_source,
    heads_target,
    sender_rows,
    receivers,
    sender_axes,
    receiver_site,
    metric,
):
    """Both passes for a chunk of sender masks (rows): one compiled program per shapes and metric."""
    sender_mask = pz.nx.wrap(sender_rows).tag("sweep", *sender_axes)
    heads = pz.nx.nmap(jnp.where)(sender_mask, heads_source, heads_target)
    every_layer = pz.nx.wrap(jnp.ones(heads_target.named_shape["layer"], bool)).tag("layer")
    pass_one = {"heads_source": heads, "heads_mask": every_layer}
    if receiving_model is None:
        return metric(frozen_model(tokens, **pass_one))
    received = patching.capture(frozen_model, tokens, receiver_site, **pass_one)
    if receiver_site in patching.INSIDE_ATTENTION:  # penzai's einsums need the extra axes on both operands
        extra = {"sweep": sender_rows.shape[0]}
        extra.update({name: size for name, size in receivers.named_shape.items() if name not in received.named_shape})
        tokens = tokens + pz.nx.wrap(jnp.zeros(tuple(extra.values()), tokens.dtype)).tag(*extra)
    return metric(receiving_model(tokens, receivers_source=received, receivers_mask=receivers))
