"""Metrics on penzai logits {batch, seq, vocabulary}; any other axes (e.g. "sweep") broadcast.

`target_ids` are {batch} integer ids: a plain array (tagged "batch" here) or a named array.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from penzai import pz


def _ids(target_ids) -> pz.nx.NamedArray:
    if isinstance(target_ids, pz.nx.NamedArray | pz.nx.NamedArrayView):
        return target_ids
    return pz.nx.wrap(jnp.asarray(target_ids)).tag("batch")


def _pick(values: pz.nx.NamedArray, target_ids) -> pz.nx.NamedArray:
    return pz.nx.nmap(lambda row, index: row[index])(values.untag_prefix("vocabulary"), _ids(target_ids))


def target_probability(logits: pz.nx.NamedArray, target_ids, position: int = -1) -> pz.nx.NamedArray:
    """Softmax probability of the target token at `position`, per prompt.

    The patching metric of the entity-tracking paper (Prakash et al. 2024, "Fine-tuning enhances existing
    mechanisms") and of ROME-style causal tracing (Meng et al. 2022).
    """
    probs = pz.nx.nmap(jax.nn.softmax)(logits[{"seq": position}].untag_prefix("vocabulary")).tag_prefix("vocabulary")
    return _pick(probs, target_ids)


def target_accuracy(logits: pz.nx.NamedArray, target_ids, position: int = -1) -> pz.nx.NamedArray:
    """1.0 where the argmax token at `position` is the target, else 0.0 (task accuracy; entity tracking)."""
    argmax = pz.nx.nmap(jnp.argmax)(logits[{"seq": position}].untag_prefix("vocabulary"))
    return pz.nx.nmap(lambda a, t: (a == t).astype(jnp.float32))(argmax, _ids(target_ids))


def normalised_effect(patched, clean, corrupt):
    """(patched - corrupt) / (clean - corrupt): 0 = no recovery, 1 = full recovery.

    The normalised logit-difference recovery of IOI (Wang et al. 2023) and of Heimersheim & Nanda's
    activation-patching guide.
    """
    return (patched - corrupt) / (clean - corrupt)


def relative_probability_change(p_patch, p_clean):
    """(p_patch - p_clean) / p_clean: the relative change of the target probability (entity tracking)."""
    return (p_patch - p_clean) / p_clean
