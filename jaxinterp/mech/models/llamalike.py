"""LLaMA-style checkpoints (llama, mistral, qwen2) -> penzai `llamalike_common` transformers.

Axis vocabulary of the built model (penzai's): "batch", "seq", "embedding", "vocabulary", "neurons" (MLP
hidden), "projection" (per-head dimension), and for heads either "heads" (num_kv_heads == num_heads),
"query_heads" (one KV head) or "head_groups" x "query_heads" (grouped-query attention).

HF stores linear weights as `[out, in]`. Query rows are ordered head-major with the heads of one KV group
adjacent (HF `repeat_kv` gives query head `h` the KV head `h // query_heads`), so `q_proj` reshapes to
`[head_groups, query_heads, projection, embedding]`; HF's RoPE rotates the two halves of each head
(`rotate_half`), which is what `pz.nn.ApplyRoPE` does, so no permutation of q/k rows is needed.
Tied embeddings (`tie_word_embeddings`, no `lm_head.weight` stored) reuse `embed_tokens` as `lm_head`;
penzai's `tie_embedder_and_logits` is not used because it also rescales embeddings (a Gemma feature).
Qwen2's q/k/v biases are added as `pz.nn.AddBias` layers after the projections.
RoPE scaling (`rope_type` linear, dynamic, llama3, yarn: `jaxinterp.mech.models.rope`) replaces penzai's
`ApplyRoPE` layers by `ApplyScaledRoPE` after the build; plain RoPE keeps penzai's layers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from penzai import pz
from penzai.models.transformer import model_parts
from penzai.models.transformer.variants import llamalike_common as llc

from jaxinterp.errors import InputError
from jaxinterp.hf import field, read_config, read_tensors, rope_settings, take
from jaxinterp.mech.models.hf_params import bind_parameters, embedding_values, named
from jaxinterp.mech.models.rope import with_scaled_rope

MODEL_TYPES = ("llama", "mistral", "qwen2")


def llamalike_config_from_hf(config: dict[str, Any], dtype: Any = np.float32) -> llc.LlamalikeTransformerConfig:
    """Maps a raw LLaMA/Mistral/Qwen2 `config.json` dict (transformers 4.x or 5.x) to penzai's config.

    Penzai's config has no RoPE scaling: `llamalike_from_tensors` applies it to the built model.

    Args:
      config: the parsed `config.json`.
      dtype: parameter and activation dtype of the built model.

    Raises:
      InputError: an unsupported `model_type`, activation, bias, RoPE type, or inconsistent head counts.
    """
    model_type = field(config, "model_type")
    if model_type not in MODEL_TYPES:
        raise InputError(f"config.json field model_type = {model_type!r} is not LLaMA-like ({', '.join(MODEL_TYPES)})")
    if field(config, "hidden_act", "silu") != "silu":
        raise InputError(f"config.json field hidden_act = {config['hidden_act']!r} is not supported (only 'silu')")
    for name in ("attention_bias", "mlp_bias"):
        if field(config, name, False):
            raise InputError(f"config.json field {name} = true is not supported")
    rope = rope_settings(config)
    if rope.fraction != 1.0:
        raise InputError(f"config.json field partial_rotary_factor = {rope.fraction} is not supported for {model_type}")
    num_heads = field(config, "num_attention_heads")
    num_kv_heads = field(config, "num_key_value_heads", None) or num_heads
    if num_heads % num_kv_heads:
        raise InputError(f"config.json: num_attention_heads {num_heads} is not a multiple of num_key_value_heads")
    window = field(config, "sliding_window", None)
    if model_type == "qwen2":  # Qwen2 windows only some layers, and only with use_sliding_window
        if field(config, "use_sliding_window", False):
            raise InputError("config.json field use_sliding_window = true is not supported for qwen2")
        window = None
    return llc.LlamalikeTransformerConfig(
        num_kv_heads=num_kv_heads,
        query_head_multiplier=num_heads // num_kv_heads,
        embedding_dim=field(config, "hidden_size"),
        projection_dim=field(config, "head_dim", None) or field(config, "hidden_size") // num_heads,
        mlp_hidden_dim=field(config, "intermediate_size"),
        num_decoder_blocks=field(config, "num_hidden_layers"),
        vocab_size=field(config, "vocab_size"),
        mlp_variant="swiglu",
        tie_embedder_and_logits=False,
        rope_wavelength=rope.theta,
        rms_norm_eps=float(field(config, "rms_norm_eps", 1e-6)),
        attention_type=llc.AttentionTypeSlidingWindowCausal(window) if window else llc.AttentionTypeGlobalCausal(),
        parameter_dtype=jnp.dtype(dtype),
        activation_dtype=jnp.dtype(dtype),
    )


def _head_axes(cfg: llc.LlamalikeTransformerConfig) -> tuple[dict[str, int], dict[str, int]]:
    """Returns (KV head axes, query-only head axes) with sizes, in penzai's layout for this config."""
    if cfg.query_head_multiplier == 1:
        return {"heads": cfg.num_kv_heads}, {}
    if cfg.num_kv_heads == 1:
        return {}, {"query_heads": cfg.query_head_multiplier}
    return {"head_groups": cfg.num_kv_heads}, {"query_heads": cfg.query_head_multiplier}


def _block_values(tensors: dict[str, np.ndarray], cfg: llc.LlamalikeTransformerConfig, i: int) -> dict[str, Any]:
    """Penzai parameter values of block `i`, keyed by label relative to `transformer/block_{i}/`."""
    kv_axes, q_axes = _head_axes(cfg)
    d, f, p = cfg.embedding_dim, cfg.mlp_hidden_dim, cfg.projection_dim
    emb, neu = {"embedding": d}, {"neurons": f}
    q, kv = {**kv_axes, **q_axes, "projection": p}, {**kv_axes, "projection": p}
    qp, kvp = int(np.prod(list(q.values()))), int(np.prod(list(kv.values())))

    def get(name: str, hf_shape: tuple[int, ...], axes: dict[str, int]) -> pz.nx.NamedArray:
        return named(take(tensors, f"model.layers.{i}.{name}", hf_shape), axes)

    return {
        "pre_attention_norm/scale.weights": get("input_layernorm.weight", (d,), emb),
        "pre_ffw_norm/scale.weights": get("post_attention_layernorm.weight", (d,), emb),
        "mlp/gating_linear.weights": get("mlp.gate_proj.weight", (f, d), {**neu, **emb}),
        "mlp/value_linear.weights": get("mlp.up_proj.weight", (f, d), {**neu, **emb}),
        "mlp/out_linear.weights": get("mlp.down_proj.weight", (d, f), {**emb, **neu}),
        "attention/query.weights": get("self_attn.q_proj.weight", (qp, d), {**q, **emb}),
        "attention/key.weights": get("self_attn.k_proj.weight", (kvp, d), {**kv, **emb}),
        "attention/value.weights": get("self_attn.v_proj.weight", (kvp, d), {**kv, **emb}),
        "attention/output.weights": get("self_attn.o_proj.weight", (d, qp), {**emb, **q}),
    }


def _add_qkv_biases(
    model: model_parts.TransformerLM, tensors: dict[str, np.ndarray], cfg: llc.LlamalikeTransformerConfig
) -> model_parts.TransformerLM:
    """Qwen2: puts `AddBias(q/k/v_proj.bias)` right after each query/key/value projection."""
    kv_axes, q_axes = _head_axes(cfg)
    axes = {"query": {**kv_axes, **q_axes}, "key": kv_axes, "value": kv_axes}
    hf_names = {"query": "q_proj", "key": "k_proj", "value": "v_proj"}

    def with_bias(linear: pz.nn.Linear) -> pz.nn.Sequential:
        label = linear.weights.label  # "transformer/block_{i}/attention/{query|key|value}.weights"
        block, which = label.split("/")[1], label.split("/")[-1].split(".")[0]
        shape = {**axes[which], "projection": cfg.projection_dim}
        name = f"model.layers.{block.removeprefix('block_')}.self_attn.{hf_names[which]}.bias"
        bias = named(take(tensors, name, (int(np.prod(list(shape.values()))),)), shape)
        return pz.nn.Sequential(
            [
                linear,
                pz.nn.AddBias(
                    bias=pz.Parameter(value=bias, label=label.removesuffix(".weights") + ".bias"), new_axis_names=()
                ),
            ]
        )

    return (
        pz.select(model)
        .at_instances_of(pz.nn.Linear)
        .where(lambda lin: lin.weights.label.rsplit("/", 1)[-1] in ("query.weights", "key.weights", "value.weights"))
        .apply(with_bias)
    )


def load_llamalike(folder: str | Path, dtype: Any = np.float32) -> model_parts.TransformerLM:
    """Loads a LLaMA/Mistral/Qwen2 HF checkpoint folder into a penzai `TransformerLM`, without PyTorch.

    Args:
      folder: folder with `config.json` and `model.safetensors` (or a sharded index + shards).
      dtype: dtype of parameters and activations (default float32; bf16/fp16 tensors are cast).

    Returns:
      Model mapping int tokens {batch, seq} to logits {batch, seq, vocabulary}.
    """
    return llamalike_from_tensors(read_config(folder), read_tensors(folder, dtype), dtype)


def llamalike_from_tensors(
    config: dict[str, Any], tensors: dict[str, np.ndarray], dtype: Any = np.float32
) -> model_parts.TransformerLM:
    """Builds the model from a HF-style config dict and HF-named tensors (a safetensors folder or a GGUF file).

    Any RoPE scaling of the config (`rope_parameters` / `rope_scaling`) is applied (`rope.with_scaled_rope`).
    """
    cfg = llamalike_config_from_hf(config, dtype)
    v, d = cfg.vocab_size, cfg.embedding_dim
    values = embedding_values(tensors, config, "model.embed_tokens.weight", "lm_head.weight", v, d) | {
        "final_norm/scale.weights": named(take(tensors, "model.norm.weight", (d,)), {"embedding": d}),
    }
    for i in range(cfg.num_decoder_blocks):
        values.update({f"block_{i}/{k}": x for k, x in _block_values(tensors, cfg, i).items()})
    model = bind_parameters(llc.build_llamalike_transformer(cfg, init_base_rng=None, name="transformer"), values)
    if config["model_type"] == "qwen2":
        model = _add_qkv_biases(model, tensors, cfg)
    return with_scaled_rope(model, rope_settings(config))
