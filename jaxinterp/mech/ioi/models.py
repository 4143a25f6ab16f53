"""Two exact rewrites of a penzai TransformerLM that the IOI study runs on.

`names_only(model, ids)`: the unembedding restricted to the rows `ids` (the candidate names), so logits are
{batch, seq, vocabulary: len(ids)}, entry i being the logit of token ids[i]. Every logit the IOI metric
reads is unchanged (a row of the unembedding does not depend on the others; no softmax is taken), and the
last matrix product shrinks from 49152 rows to about a hundred: for SmolLM2-135M that product is a fifth of
a forward pass's work at every position.

`per_query_kv(model)`: grouped-query attention rewritten as multi-head attention. Keys and values of a
grouped-query model have only the "head_groups" axis, shared by that group's query heads, so patching a
receiver head's value (or key) would change every query head of its group. Here the key and value
projections are broadcast along the query-only head axes ("query_heads") and the attention einsums read
them per query head: the same function (logits equal to float rounding), but the "key" and "value" sites
now have the query heads' axes and a path-patching receiver can be one query head. Costs the key/value
projections x query_heads (about +12% work per block on SmolLM2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax.numpy as jnp
from penzai import pz


def _vocabulary_linear(layer) -> bool:
    return isinstance(layer, pz.nn.Linear) and "vocabulary" in layer.out_axis_names


def names_only(model, ids: Sequence[int]):
    """A frozen copy of `model` whose logits are those of tokens `ids` only (module docstring).

    Raises:
      ValueError: the model has no (or several) Linear layers with a "vocabulary" output axis.
    """
    frozen = pz.freeze_params(model)
    selection = pz.select(frozen).at_instances_of(pz.nn.Linear).where(_vocabulary_linear)
    if selection.count() != 1:
        raise ValueError(f"expected one unembedding Linear with a 'vocabulary' output, found {selection.count()}")
    rows = jnp.asarray(list(ids), jnp.int32)

    def restrict(linear):
        weights = linear.weights.value
        table = weights.untag("vocabulary")
        kept = pz.nx.nmap(lambda column: column[rows])(table).tag("vocabulary")
        return dataclasses.replace(linear, weights=dataclasses.replace(linear.weights, value=kept))

    return selection.apply(restrict)


def _with_axes(spec, extra: dict[str, str]):
    mapping = dict(spec) if isinstance(spec, dict) else {name: name for name in spec}
    return {**mapping, **extra}


def per_query_kv(model):
    """A frozen copy of `model` with keys and values per query head (module docstring); a model without
    query-only head axes is returned frozen and otherwise unchanged."""
    frozen = pz.freeze_params(model)
    query_only = dict(getattr(frozen.metadata, "query_only_head_axes", {}) or {})
    if not query_only:
        return frozen

    def broadcast_projection(sequential):
        def widen(linear):
            weights = linear.weights.value
            wide = weights + pz.nx.wrap(jnp.zeros(tuple(query_only.values()), weights.dtype)).tag(*query_only)
            out = (*linear.out_axis_names[:-1], *query_only, linear.out_axis_names[-1])
            return dataclasses.replace(
                linear, weights=dataclasses.replace(linear.weights, value=wide), out_axis_names=out
            )

        return pz.select(sequential).at_instances_of(pz.nn.Linear).apply(widen)

    def read_per_query_head(sequential):
        def widen(einsum):
            first, second = einsum.input_axes
            first = _with_axes(first, {})
            letters = {name: first[name] for name in query_only}
            return dataclasses.replace(einsum, input_axes=(first, _with_axes(second, letters)))

        return pz.select(sequential).at_instances_of(pz.nn.NamedEinsum).apply(widen)

    def rewrite(attention):
        return dataclasses.replace(
            attention,
            input_to_key=broadcast_projection(attention.input_to_key),
            input_to_value=broadcast_projection(attention.input_to_value),
            query_key_to_attn=read_per_query_head(attention.query_key_to_attn),
            attn_value_to_output=read_per_query_head(attention.attn_value_to_output),
        )

    return pz.select(frozen).at_instances_of(pz.nn.Attention).apply(rewrite)
