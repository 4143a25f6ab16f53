"""Grouped-query attention rewritten as multi-head attention: the same function, one "heads" axis.

In a grouped-query model (SmolLM2: 9 query heads in 3 key/value groups, penzai axes "head_groups" x
"query_heads") the query heads of a group share one key and one value projection. Giving every query head
its own copy of its group's key and value weights makes an ordinary multi-head model (axis "heads") whose
logits are the same up to float rounding, because each head computes exactly what it computed before. Head
`g * query_heads + q` of the copy is query head q of group g (the flattening `heatmaps` uses too).

Why: the circuit code (`circuits.discovery`, `circuits.mean_ablation`) works on one "heads" axis. On the
copy, a head's output ("head_out") is the original head's output, so head-level patching and mean
ablation mean what they meant; a path-patching receiver at "value" or "key" now patches one query head's
copy of its group's vector, a finer intervention than the grouped model offers (in the grouped model the
three heads of a group read one value vector; here each reads its own copy, and patching it for one head
leaves the other two alone). Decision: accepted, and said in the reports that use it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jaxinterp.mech.models.hf_export import hf_tensors
from jaxinterp.mech.models.llamalike import MODEL_TYPES, llamalike_from_tensors


def is_grouped(config: dict[str, Any]) -> bool:
    heads = config.get("num_attention_heads")
    return config.get("model_type") in MODEL_TYPES and config.get("num_key_value_heads", heads) != heads


def ungroup_heads(model, config: dict[str, Any], dtype: Any = np.float32):
    """The multi-head copy of a grouped-query LLaMA-like `model` whose HF `config.json` dict is `config`
    (`model` unchanged when it is not grouped).

    Args:
      model: a penzai model built by `llamalike.llamalike_from_tensors` (e.g. `load_pretrained`), possibly
        fine-tuned since.
      config: its `config.json` (the head counts and the rest of the architecture).
      dtype: parameter dtype of the copy.

    Returns:
      A penzai model with "heads" = num_attention_heads and the same logits.
    """
    if not is_grouped(config):
        return model
    heads, groups = config["num_attention_heads"], config["num_key_value_heads"]
    tensors = hf_tensors(model)
    for name, value in tensors.items():
        if name.endswith(("self_attn.k_proj.weight", "self_attn.v_proj.weight")):
            per_group = value.reshape(groups, -1, value.shape[-1])  # [group, head_dim, embedding]
            tensors[name] = np.repeat(per_group, heads // groups, axis=0).reshape(-1, value.shape[-1])
    # hf_tensors writes the output projection separately, so the copy is untied.
    ungrouped = {**config, "num_key_value_heads": heads, "tie_word_embeddings": False}
    return llamalike_from_tensors(ungrouped, tensors, dtype)
