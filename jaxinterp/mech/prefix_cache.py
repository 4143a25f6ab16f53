"""Running a transformer on a suffix of the positions, with the earlier positions' keys and values cached.

Why: in a causal model, patching a component at position p cannot change anything at positions before p.
A sweep that patches position p therefore only needs to run positions p.. of the target prompt; the
earlier positions contribute to attention only through their keys and values, which are those of the
target run. This saves about half of a head x position sweep's work (on top of starting at the patched
layer, see `patching._suffix_runs`).

`with_prefix_cache(body, first_layer)` rewrites a stack of transformer blocks so that each attention layer
  * appends its new keys / values (positions p..) to the cached ones of positions < p, read from the side
    inputs "prefix_keys" / "prefix_values" ({layer, batch, seq, heads..., projection}, keys after RoPE,
    stacked over all layers of the model; the rewritten attention of model layer `first_layer + i` reads
    entry `first_layer + i`), and
  * builds its causal mask from the side inputs "token_positions" (the query positions p..) and
    "kv_positions" (0..T-1) instead of one position list for both.
The query positions also drive RoPE / position embeddings, so the result at positions p.. equals the full
run's exactly. Models whose attention does not use penzai's `ApplyCausalAttentionMask` are not rewritten.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from penzai import pz

KEY_SIDE_INPUTS = {"key": "prefix_keys", "value": "prefix_values"}


@pz.pytree_dataclass
class PrependCached(pz.nn.Layer):
    """Concatenates the cached positions (side input `side_input`, entry `layer`) before this run's on "seq"."""

    layer: int = dataclasses.field(metadata={"pytree_node": False})
    side_input: str = dataclasses.field(metadata={"pytree_node": False})

    def __call__(self, value: pz.nx.NamedArray, /, **side_inputs) -> pz.nx.NamedArray:
        cached = side_inputs[self.side_input][{"layer": self.layer}]
        joined = pz.nx.nmap(lambda old, new: jnp.concatenate([old, new.astype(old.dtype)]))
        return joined(cached.untag_prefix("seq"), value.untag_prefix("seq")).tag_prefix("seq")


def supports_prefix_cache(body) -> bool:
    """True when every attention layer in `body` masks with exactly one `ApplyCausalAttentionMask`."""
    attentions = pz.select(body).at_instances_of(pz.nn.Attention).get_sequence()
    return bool(attentions) and all(
        len(pz.select(a.query_key_to_attn).at_instances_of(pz.nn.ApplyCausalAttentionMask).get_sequence()) == 1
        for a in attentions
    )


def with_prefix_cache(body, first_layer: int):
    """`body` (blocks first_layer.. of a model) reading cached keys/values of earlier positions (see module)."""
    counter = iter(range(first_layer, 1 << 30))
    numbered = []

    def rewrite(attention: pz.nn.Attention) -> pz.nn.Attention:
        layer = next(counter)
        numbered.append(layer)
        parts = {}
        for site, name in (("key", "input_to_key"), ("value", "input_to_value")):
            part = getattr(attention, name)
            parts[name] = pz.nn.Sequential([part, PrependCached(layer, KEY_SIDE_INPUTS[site])])
        mask = (
            pz.select(attention.query_key_to_attn)
            .at_instances_of(pz.nn.ApplyCausalAttentionMask)
            .apply(lambda m: dataclasses.replace(m, kv_positions_input_name="kv_positions"))
        )
        return dataclasses.replace(attention, query_key_to_attn=mask, **parts)

    return pz.select(body).at_instances_of(pz.nn.Attention).apply(rewrite)


def bucket_bounds(length: int, buckets: int) -> list[tuple[int, int]]:
    """Splits positions 0..length-1 into `buckets` contiguous ranges [start, stop) of near-equal size.

    Each range becomes one compiled program per layer that runs positions start.. only; more buckets
    save more work but compile more programs.
    """
    buckets = max(1, min(buckets, length))
    edges = [round(i * length / buckets) for i in range(buckets + 1)]
    return [(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]
