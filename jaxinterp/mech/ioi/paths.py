"""Path patching with receivers that sit at a different position in each prompt.

The two passes are `jaxinterp.mech.path_patching`'s (read its docstring): pass 1 runs the target prompts
with the sender heads' outputs from the source run and every other head frozen at its target output, and
records the receivers' activations; pass 2 runs the target prompts live with only those receiver
activations overwritten. What differs here, and why this module exists instead of a call to
`path_patching.path_patching`:

  * the receiver mask carries a "batch" axis, so one call covers prompts of several templates whose class
    positions (S2, S1+1, ...) differ; `path_patching` accepts only component axes there;
  * the three captures (source and target head outputs, pass-1 receivers) are compiled; uncompiled they
    cost about 2 s each on SmolLM2 (30 layers run op by op), per call;
  * pass 1 freezes every head at its target output and then overwrites the senders at a second site
    (order: einsum -> freeze -> senders), instead of building one source array per sender mask over all
    layers (for a chunk of 16 senders x 40 prompts on SmolLM2 that array is 0.8 GB).

When `path_patching` gains both, this module should become a call to it. The metric is fixed: every logit
(the IOI model's vocabulary is its candidate names, `models.names_only`), so one compiled program serves
every round with the same receiver site.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Bool, Float, Int
from penzai import pz

from jaxinterp.mech import patching

_capture = jax.jit(patching.capture, static_argnames=("site",))


def path_patch(
    model,
    source: Int[np.ndarray, "batch seq"],
    target: Int[np.ndarray, "batch seq"],
    senders: Bool[np.ndarray, "sweep layer *heads"],
    head_axes: tuple[str, ...],
    receivers: Bool[np.ndarray, "batch layer seq *heads"] | None = None,
    receiver_site: str = "value",
    chunk: int = 16,
) -> Float[np.ndarray, "sweep batch seq vocabulary"]:
    """Logits of `target` after patching each sender mask's heads -> receivers (module docstring).

    Args:
      model: a frozen penzai TransformerLM (for "key"/"value" receivers per query head, `models.per_query_kv`).
      source, target: token ids of the same shape (ABC and clean prompts).
      senders: one mask per run over (layer, *head_axes); True = that head's output (at every position)
        comes from the source run.
      head_axes: the head axes of "head_out" ("heads", or ("head_groups", "query_heads")).
      receivers: per prompt, which (layer, seq, head) components of `receiver_site` receive the senders'
        effect; None = the logits.
      chunk: sender masks per compiled call.
    """
    source_tokens, target_tokens = _tokens(source), _tokens(target)
    heads_source = _capture(model, source_tokens, "head_out")
    heads_target = _capture(model, target_tokens, "head_out")
    # Two sites after each head output: first every head frozen at its target value, then the senders
    # overwritten with the source (their mask carries "sweep"). Mixing them into one {sweep, layer, ...}
    # source array first, as `path_patching` does, would materialise all layers' head outputs per sender.
    senders_site = patching.with_sites(model, "head_out", key="senders")
    frozen_model = pz.freeze_params(patching.with_sites(senders_site, "head_out", key="heads"))
    receiving_model, receiver_mask = None, None
    if receivers is not None:
        receiving_model = pz.freeze_params(patching.with_sites(model, receiver_site, key="receivers"))
        receiver_mask = pz.nx.wrap(jnp.asarray(receivers)).tag("batch", "layer", "seq", *head_axes)

    def run(rows):
        return _two_passes(
            frozen_model,
            receiving_model,
            target_tokens,
            heads_source,
            heads_target,
            rows,
            receiver_mask,
            sender_axes=("layer", *head_axes),
            receiver_site=receiver_site,
        )

    result = patching.chunked_sweep(run, np.asarray(senders, bool), chunk, patching.sweep_mesh())
    return np.asarray(result.unwrap("sweep", "batch", "seq", "vocabulary"))


def _tokens(rows) -> pz.nx.NamedArray:
    return pz.nx.wrap(jnp.asarray(rows, jnp.int32)).tag("batch", "seq")


@functools.partial(jax.jit, static_argnames=("sender_axes", "receiver_site"))
def _two_passes(
    frozen_model,
    receiving_model,
    tokens,
    heads_source,
    heads_target,
    sender_rows,
    receivers,
    sender_axes,
    receiver_site,
):
    sender_mask = pz.nx.wrap(sender_rows).tag("sweep", *sender_axes)
    every_layer = pz.nx.wrap(jnp.ones(heads_target.named_shape["layer"], bool)).tag("layer")
    pass_one = {
        "heads_source": heads_target,
        "heads_mask": every_layer,
        "senders_source": heads_source,
        "senders_mask": sender_mask,
    }
    if receiving_model is None:
        return frozen_model(tokens, **pass_one)
    received = patching.capture(frozen_model, tokens, receiver_site, **pass_one)
    if receiver_site in patching.INSIDE_ATTENTION:  # penzai's einsums need the sweep axis on both operands
        tokens = tokens + pz.nx.wrap(jnp.zeros(sender_rows.shape[0], tokens.dtype)).tag("sweep")
    return receiving_model(tokens, receivers_source=received, receivers_mask=receivers)
