"""Penzai `llamalike_common` transformers -> Hugging Face LLaMA checkpoint folders (the inverse of llamalike.py).

`save_llamalike(model, cfg, folder)` writes `config.json` (transformers 5 form: `rope_parameters`, `dtype`)
and `model.safetensors` with HF's tensor names and `[out, in]` linear layouts, so that both
`jaxinterp.mech.models.load.load_pretrained` and `transformers.AutoModelForCausalLM.from_pretrained` read it.

Each penzai weight is a named array; its HF tensor is the array unwrapped in HF's axis order (output axes
then input axes, heads before `projection` exactly as llamalike.py reshapes them) and flattened to 2-D.
Only the layouts llamalike.py reads are written: swiglu MLP, untied embeddings, no biases, plain RoPE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
from penzai import pz
from penzai.models.transformer import model_parts
from penzai.models.transformer.variants import llamalike_common as llc
from safetensors.numpy import save_file

from jaxinterp.hf import CONFIG_FILE, WEIGHTS_FILE

HEAD_AXES = ("heads", "head_groups", "query_heads")  # llamalike.py's order: groups, then query heads

# penzai label suffix (after "transformer/") -> (HF name, output axes, input axes); "{heads}" = head axes.
_GLOBAL = {
    "embedder.embeddings": ("model.embed_tokens.weight", ("vocabulary",), ("embedding",)),
    "lm_head.weights": ("lm_head.weight", ("vocabulary",), ("embedding",)),
    "final_norm/scale.weights": ("model.norm.weight", ("embedding",), ()),
}
_BLOCK = {
    "pre_attention_norm/scale.weights": ("input_layernorm.weight", ("embedding",), ()),
    "pre_ffw_norm/scale.weights": ("post_attention_layernorm.weight", ("embedding",), ()),
    "mlp/gating_linear.weights": ("mlp.gate_proj.weight", ("neurons",), ("embedding",)),
    "mlp/value_linear.weights": ("mlp.up_proj.weight", ("neurons",), ("embedding",)),
    "mlp/out_linear.weights": ("mlp.down_proj.weight", ("embedding",), ("neurons",)),
    "attention/query.weights": ("self_attn.q_proj.weight", ("{heads}", "projection"), ("embedding",)),
    "attention/key.weights": ("self_attn.k_proj.weight", ("{heads}", "projection"), ("embedding",)),
    "attention/value.weights": ("self_attn.v_proj.weight", ("{heads}", "projection"), ("embedding",)),
    "attention/output.weights": ("self_attn.o_proj.weight", ("embedding",), ("{heads}", "projection")),
}


def hf_config(cfg: llc.LlamalikeTransformerConfig, **extra: Any) -> dict[str, Any]:
    """The transformers-5 `config.json` dict of a LLaMA model with penzai config `cfg` (`extra` is merged in,
    e.g. token ids)."""
    if cfg.mlp_variant != "swiglu" or cfg.tie_embedder_and_logits:
        raise ValueError("only swiglu MLPs with untied embeddings export to LLaMA checkpoints")
    if not isinstance(cfg.attention_type, llc.AttentionTypeGlobalCausal):
        raise ValueError(f"only global causal attention exports to LLaMA checkpoints, got {cfg.attention_type}")
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": cfg.embedding_dim,
        "intermediate_size": cfg.mlp_hidden_dim,
        "num_hidden_layers": cfg.num_decoder_blocks,
        "num_attention_heads": cfg.num_kv_heads * cfg.query_head_multiplier,
        "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.projection_dim,
        "vocab_size": cfg.vocab_size,
        "hidden_act": "silu",
        "rms_norm_eps": cfg.rms_norm_eps,
        "rope_parameters": {"rope_type": "default", "rope_theta": float(cfg.rope_wavelength)},
        "max_position_embeddings": 2048,
        "tie_word_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "dtype": str(np.dtype(cfg.parameter_dtype)),
        **extra,
    }


def _hf_layout(suffix: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    if suffix in _GLOBAL:
        return _GLOBAL[suffix]
    block, _, rest = suffix.partition("/")
    if not block.startswith("block_") or rest not in _BLOCK:
        raise ValueError(f"parameter {suffix!r} has no LLaMA checkpoint tensor")
    name, out_axes, in_axes = _BLOCK[rest]
    return f"model.layers.{block.removeprefix('block_')}.{name}", out_axes, in_axes


def hf_tensors(model: model_parts.TransformerLM, prefix: str = "transformer") -> dict[str, np.ndarray]:
    """HF tensor name -> float array `[out, in]` (1-D for norms) for every parameter of a llamalike model."""
    frozen = pz.freeze_params(model)  # Parameters -> ParameterValues; already frozen values stay
    is_value = lambda x: isinstance(x, pz.ParameterValue)  # noqa: E731
    values = [x for x in jax.tree_util.tree_leaves(frozen, is_leaf=is_value) if is_value(x)]
    tensors = {}
    for param in values:
        suffix = param.label.removeprefix(f"{prefix}/")
        name, out_axes, in_axes = _hf_layout(suffix)
        array: pz.nx.NamedArray = param.value
        heads = tuple(a for a in HEAD_AXES if a in array.named_shape)
        out_axes = tuple(a for ax in out_axes for a in (heads if ax == "{heads}" else (ax,)))
        in_axes = tuple(a for ax in in_axes for a in (heads if ax == "{heads}" else (ax,)))
        data = np.asarray(array.unwrap(*out_axes, *in_axes))
        n_out = int(np.prod(data.shape[: len(out_axes)]))
        tensors[name] = np.ascontiguousarray(data.reshape(n_out, -1) if in_axes else data.reshape(n_out))
    return tensors


def save_llamalike(
    model: model_parts.TransformerLM, cfg: llc.LlamalikeTransformerConfig, folder: str | Path, **config_extra: Any
) -> list[Path]:
    """Writes `model` as a HF LLaMA checkpoint (`config.json` + `model.safetensors`) into `folder`.

    Args:
      model: a penzai model built by `llc.build_llamalike_transformer(cfg, name="transformer")`.
      cfg: its config.
      folder: output folder (created if needed; existing files of the same names are replaced).
      **config_extra: extra `config.json` fields (e.g. `bos_token_id`).

    Returns:
      The written files.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(hf_config(cfg, **config_extra), indent=2) + "\n")
    save_file(hf_tensors(model), str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    return [folder / CONFIG_FILE, folder / WEIGHTS_FILE]
