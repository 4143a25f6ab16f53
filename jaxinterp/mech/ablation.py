"""Mean- and resample-ablation of a circuit: every component outside it is overwritten.

A circuit is a boolean named array over a site's component axes (`patching.component_axes`):
True = keep (the live activation), False = ablate (replace). Implemented with `patching.with_sites`
and patch_mask = NOT keep. Extra axes of `keep_mask` (e.g. "sweep") broadcast like in patching.
"""

from __future__ import annotations

import jax.numpy as jnp
from penzai import pz

from jaxinterp.mech import patching


def _ablated(model, site, tokens, source, keep_mask):
    drop = pz.nx.nmap(jnp.logical_not)(keep_mask)
    return patching.patched_logits(patching.with_sites(model, site), tokens, source, drop)


def mean_ablated_logits(model, site: str, tokens, reference_tokens, keep_mask) -> pz.nx.NamedArray:
    """Logits of `tokens` with ablated components set to their mean over the `reference_tokens` prompts.

    The mean is taken over the reference batch separately at each position (position-wise mean ablation,
    as in the entity-tracking paper, Prakash et al. 2024), so `reference_tokens` must have the same
    sequence length as `tokens`.
    """
    reference = patching.capture(model, reference_tokens, site)
    mean = pz.nx.nmap(lambda a: jnp.mean(a, axis=0))(reference.untag_prefix("batch"))
    return _ablated(model, site, tokens, mean, keep_mask)


def resample_ablated_logits(model, site: str, tokens, reference_tokens, keep_mask) -> pz.nx.NamedArray:
    """Logits of `tokens` with ablated components taken from another prompt: reference row i for row i.

    (Resample ablation, as in causal scrubbing, Chan et al. 2022.) `reference_tokens` has the shape of
    `tokens`.
    """
    return _ablated(model, site, tokens, patching.capture(model, reference_tokens, site), keep_mask)


def faithfulness(metric_circuit, metric_full):
    """metric(circuit only) / metric(full model): 1 = the circuit recovers the full model's behaviour."""
    return metric_circuit / metric_full
