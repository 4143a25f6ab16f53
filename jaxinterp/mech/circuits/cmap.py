"""Cross-model activation patching, "output CMAP" (Prakash et al. 2024, §1.7 of the notes).

Both models read the same prompts. The donor (a fine-tuned copy with the same architecture: Goat or FLoat
for LLaMA-7B in the paper) is run first and its per-head outputs before the output projection are kept;
the base model is then run with the chosen heads' outputs, at their group's position, overwritten by the
donor's (VF and PT at the last token, PD at the query label, SR at the query label's earlier occurrence).
The metric is the base model's top-1 accuracy at the last position. Paper: LLaMA-7B 0.66 rises to 0.82
with the whole circuit from Goat or FLoat; VF alone 0.82; PT 0.78 / 0.74; PD 0.62 / 0.56; SR 0.65.

Decisions: the donor's capture and the patched base run are one jitted program per chunk of prompts
(the donor's activations never leave the device); which heads to patch is a boolean numpy array
[batch, layer, seq, heads] (`Circuit.keep_mask`), True = take the donor's value. The paper patches the
fine-tuned model's DCM-selected heads; pass that circuit, or the full circuit, as `circuit`.
"""

from __future__ import annotations

import jax
import numpy as np
from jaxtyping import Bool, Float, Int
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.circuits.mean_ablation import SITE, accuracy, head_axes, run_in_chunks, token_rows
from jaxinterp.mech.circuits.nodes import Circuit


@jax.jit
def _cmap_last_logits(base_sited, donor, rows, patch):
    tokens = pz.nx.wrap(rows).tag("batch", "seq")
    source = patching.capture(donor, tokens, SITE)
    mask = pz.nx.wrap(patch).tag("batch", "layer", "seq", "heads")
    return base_sited(tokens, patch_source=source, patch_mask=mask)[{"seq": -1}].unwrap("batch", "vocabulary")


def cmap_logits(
    base_model, donor_model, tokens, patch: Bool[np.ndarray, "batch layer seq heads"], chunk: int = 64
) -> Float[np.ndarray, "batch vocabulary"]:
    """The base model's last-position logits with its head outputs at `patch` taken from the donor's run."""
    axes = head_axes(base_model, tokens)
    if head_axes(donor_model, tokens) != axes:
        raise ValueError(f"donor head outputs {head_axes(donor_model, tokens)} != base {axes} (layers, seq, heads)")
    layers, seq, heads = axes
    if patch.shape != (token_rows(tokens).shape[0], layers, seq, heads):
        raise ValueError(f"patch mask {patch.shape} != [batch, layer, seq, heads] = {(len(patch), *axes)}")
    base_sited = patching.with_sites(pz.freeze_params(base_model), SITE)
    donor = pz.freeze_params(donor_model)
    return run_in_chunks(lambda rows, m: _cmap_last_logits(base_sited, donor, rows, m), tokens, patch, chunk)


def cmap_accuracy(
    base_model,
    donor_model,
    tokens,
    answers: Int[np.ndarray, " batch"],
    patch: Bool[np.ndarray, "batch layer seq heads"],
    chunk: int = 64,
) -> float:
    """The base model's top-1 accuracy at the last position with the donor's head outputs at `patch`."""
    return accuracy(cmap_logits(base_model, donor_model, tokens, patch, chunk), answers)


def cmap_per_group(
    base_model,
    donor_model,
    tokens,
    answers: Int[np.ndarray, " batch"],
    circuit: Circuit,
    positions: dict[str, Int[np.ndarray, " batch"]],
    chunk: int = 64,
) -> dict[str, float]:
    """CMAP accuracy patching each group alone (keyed by group) and the whole circuit ("full_circuit")."""
    layers, seq, heads = head_axes(base_model, tokens)
    parts = {name: circuit.group(name) for name in circuit.groups} | {"full_circuit": circuit}
    return {
        name: cmap_accuracy(
            base_model, donor_model, tokens, answers, part.keep_mask(positions, layers, heads, seq), chunk
        )
        for name, part in parts.items()
    }
