"""First-order estimates of path-patching scores, to pick which senders a round measures exactly.

Attribution patching (Nanda 2023; Syed et al. 2023) for a path instead of a node. Path patching's pass 1
changes the receivers' inputs x_R through the residual stream and the MLPs only (every other head frozen);
pass 2 reads how the metric responds to x_R. Linearised at the clean run:

    score(s) ~= < g_R , J_frozen(x_R <- h_s) (h_s^ABC - h_s^clean) >,     g_R = d LD / d x_R (live model)

where J_frozen is the Jacobian of x_R with respect to head s's output in a model whose heads are frozen
(their outputs `stop_gradient`-ed: the derivative flows through the residual stream, norms and MLPs, not
through attention). So one backward pass of the scalar <g_R, x_R> through the frozen model gives every
sender's estimate; with the logits as receivers it is the gradient of LD itself through the frozen model.
Cost: one forward + backward of the live model (g_R) and one of the frozen model, per round.

Estimates are in the exact score's units: summed change of LD over prompts / (prompts x clean mean LD).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.mech import attribution, patching
from jaxinterp.mech.tasks.ioi import IOIPrompts


@pz.pytree_dataclass
class _FrozenPlusDelta(pz.nn.Layer):
    """stop_gradient(value) + attribution_delta[layer]: a frozen head output that a delta can move."""

    layer: int = dataclasses.field(metadata={"pytree_node": False})

    def __call__(self, value: pz.nx.NamedArray, /, **side_inputs) -> pz.nx.NamedArray:
        frozen = pz.nx.nmap(jax.lax.stop_gradient)(value)
        delta = side_inputs.get("attribution_delta")
        return frozen if delta is None else frozen + delta[{"layer": self.layer}]


def frozen_heads(model):
    """`model` with every head output frozen for differentiation and shifted by "attribution_delta"."""
    sited = patching.with_sites(model, "head_out")
    return pz.select(sited).at_instances_of(patching.PatchSite).apply(lambda p: _FrozenPlusDelta(p.layer))


def _tokens(rows) -> pz.nx.NamedArray:
    return pz.nx.wrap(jnp.asarray(rows, jnp.int32)).tag("batch", "seq")


def _total_ld(logits, end, io, s):
    """Sum over prompts of logit(IO) - logit(S) at each prompt's END (names-only logits)."""
    values = logits.unwrap("batch", "seq", "vocabulary")
    rows = jnp.arange(values.shape[0])
    at_end = values[rows, end]
    return jnp.sum(at_end[rows, io] - at_end[rows, s])


@functools.partial(jax.jit, static_argnames=("site",))
def _receiver_gradient(delta_model, model, rows, end, io, s, site):
    tokens = _tokens(rows)
    zero = pz.nx.nmap(jnp.zeros_like)(patching.capture(model, tokens, site))
    return jax.grad(lambda d: _total_ld(delta_model(tokens, attribution_delta=d), end, io, s))(zero)


@functools.partial(jax.jit, static_argnames=("site",))
def _sender_gradient(frozen_model, model, rows, end, io, s, weights, site):
    tokens = _tokens(rows)
    zero = pz.nx.nmap(jnp.zeros_like)(patching.capture(model, tokens, "head_out"))

    def objective(delta):
        if site is None:
            return _total_ld(frozen_model(tokens, attribution_delta=delta), end, io, s)
        received = patching.capture(frozen_model, tokens, site, attribution_delta=delta)
        product = received * weights
        return jnp.sum(product.unwrap(*product.named_shape))

    return jax.grad(objective)(zero)


_capture = jax.jit(patching.capture, static_argnames=("site",))


def estimated_scores(
    model,
    prompts: IOIPrompts,
    head_axes: tuple[str, ...],
    receivers=None,
    receiver_site: str | None = None,
) -> np.ndarray:
    """Estimated score of every head as a sender [layer, heads] (heads flattened group-major).

    Args:
      model: names-only (per-query-kv for key/value receivers) frozen model.
      receivers: boolean [batch, layer, seq, *head_axes] over `receiver_site`'s components, or None (logits).
    """
    args = (prompts.tokens, prompts.positions["END"], prompts.io, prompts.s)
    weights = None
    if receivers is not None:
        gradient = _receiver_gradient(attribution.with_deltas(model, receiver_site), model, *args, site=receiver_site)
        mask = pz.nx.wrap(jnp.asarray(receivers)).tag("batch", "layer", "seq", *head_axes)
        weights = gradient * mask.astype(gradient.dtype)
    grad = _sender_gradient(frozen_heads(model), model, *args, weights, site=receiver_site)
    change = _capture(model, _tokens(prompts.abc), "head_out") - _capture(model, _tokens(prompts.tokens), "head_out")
    product = pz.nx.nmap(jnp.sum)((change * grad).untag("batch", "seq", "projection"))
    values = np.asarray(product.unwrap("layer", *head_axes))
    clean = float(_clean_total(model, *args)) / len(prompts)
    return values.reshape(values.shape[0], -1) / (len(prompts) * clean)


@jax.jit
def _clean_total(model, rows, end, io, s):
    return _total_ld(model(_tokens(rows)), end, io, s)
