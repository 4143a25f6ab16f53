"""GPT-NeoX / Pythia checkpoints -> penzai `variants.gpt_neox` transformers.

Axis vocabulary of the built model (penzai's): "batch", "seq", "embedding", "vocabulary", "neurons",
"heads", "projection".

HF fuses q, k, v into `attention.query_key_value` with rows ordered `[heads, (q, k, v), projection]`, so the
weight reshapes to `[heads, 3, projection, embedding]` and is split on the middle axis. RoPE covers the
first `int(projection * partial_rotary_factor)` dims of each head (`pz.nn.ApplyRoPEToSubset`).

Two corrections to penzai's builder, made on the built model: every LayerNorm uses `layer_norm_eps` (penzai
leaves the final norm at 1e-6), and `use_parallel_residual = false` turns each block's
`x + attn(ln1(x)) + mlp(ln2(x))` into `x = x + attn(ln1(x)); x = x + mlp(ln2(x))`.
`attention_bias = false` checkpoints get zero biases.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from penzai import pz
from penzai.models.transformer import model_parts
from penzai.models.transformer.variants import gpt_neox as neox

from jaxinterp.errors import InputError
from jaxinterp.hf import ACTIVATIONS, field, read_config, read_tensors, rope_settings, take
from jaxinterp.mech.models.hf_params import bind_parameters, embedding_values, named

# The activation forms penzai's GPT-NeoX builder knows by name (`jaxinterp.hf.ACTIVATIONS` maps HF names to them).
_PENZAI_FORMS = ("gelu_exact", "gelu_approx", "relu", "silu")


def gpt_neox_config_from_hf(config: dict[str, Any], dtype: Any = np.float32) -> neox.GPTNeoXTransformerConfig:
    """Maps a raw GPT-NeoX `config.json` dict (transformers 4.x or 5.x) to penzai's config.

    Raises:
      InputError: another `model_type`, an unknown `hidden_act`, or an unsupported RoPE scaling.
    """
    if (model_type := field(config, "model_type")) != "gpt_neox":
        raise InputError(f"config.json field model_type = {model_type!r} is not 'gpt_neox'")
    act = field(config, "hidden_act", "gelu")
    supported = [name for name, form in ACTIVATIONS.items() if form in _PENZAI_FORMS]
    if act not in supported:
        raise InputError(f"config.json field hidden_act = {act!r} is not supported ({', '.join(supported)})")
    rope = rope_settings(config)
    if rope.rope_type != "default":
        raise InputError(f"config.json RoPE scaling rope_type = {rope.rope_type!r} is not supported for gpt_neox")
    theta, fraction = rope.theta, rope.fraction
    projection = field(config, "hidden_size") // field(config, "num_attention_heads")
    return neox.GPTNeoXTransformerConfig(
        num_attention_heads=field(config, "num_attention_heads"),
        embedding_dim=field(config, "hidden_size"),
        projection_dim=projection,
        mlp_hidden_dim=field(config, "intermediate_size"),
        num_decoder_blocks=field(config, "num_hidden_layers"),
        vocab_size=field(config, "vocab_size"),
        activation_fn=ACTIVATIONS[act],
        rope_subset_size=int(projection * fraction),
        rope_wavelength=theta,
        layernorm_epsilon=float(field(config, "layer_norm_eps", 1e-5)),
        parameter_dtype=jnp.dtype(dtype),
        activation_dtype=jnp.dtype(dtype),
    )


def _sequential_residual(block: model_parts.TransformerBlock) -> model_parts.TransformerBlock:
    """`x + attn(x) + mlp(x)` (one BranchAndAddTogether) -> `Residual(attn)` then `Residual(mlp)`."""
    _, attn, mlp = block.sublayers[0].branches
    return model_parts.TransformerBlock(sublayers=[pz.nn.Residual(attn), pz.nn.Residual(mlp)])


def build_gpt_neox(cfg: neox.GPTNeoXTransformerConfig, parallel_residual: bool = True) -> model_parts.TransformerLM:
    """Unbound GPT-NeoX model (parameter slots) with HF's norm epsilon and residual layout."""
    model = neox.build_gpt_neox_transformer(cfg, init_base_rng=None, name="transformer")
    eps = cfg.layernorm_epsilon
    model = pz.select(model).at_instances_of(pz.nn.Standardize).apply(lambda s: dataclasses.replace(s, epsilon=eps))
    if not parallel_residual:
        model = pz.select(model).at_instances_of(model_parts.TransformerBlock).apply(_sequential_residual)
    return model


def _block_values(tensors: dict[str, np.ndarray], cfg: neox.GPTNeoXTransformerConfig, i: int, bias: bool):
    h, p, d, f = cfg.num_attention_heads, cfg.projection_dim, cfg.embedding_dim, cfg.mlp_hidden_dim
    emb, neu, qkv = {"embedding": d}, {"neurons": f}, {"heads": h, "qkv": 3, "projection": p}

    def get(name: str, hf_shape: tuple[int, ...], axes: dict[str, int]) -> pz.nx.NamedArray:
        return named(take(tensors, f"gpt_neox.layers.{i}.{name}", hf_shape), axes)

    def attn_bias(name: str, axes: dict[str, int]) -> pz.nx.NamedArray:
        size = int(np.prod(list(axes.values())))
        return get(name, (size,), axes) if bias else named(np.zeros(size, cfg.parameter_dtype), axes)

    qkv_w = get("attention.query_key_value.weight", (3 * h * p, d), {**qkv, **emb})
    qkv_b = attn_bias("attention.query_key_value.bias", qkv)
    values = {
        "pre_attention_norm/scale.weights": get("input_layernorm.weight", (d,), emb),
        "pre_attention_norm/shift.bias": get("input_layernorm.bias", (d,), emb),
        "pre_ffw_norm/scale.weights": get("post_attention_layernorm.weight", (d,), emb),
        "pre_ffw_norm/shift.bias": get("post_attention_layernorm.bias", (d,), emb),
        "mlp/in/Linear.weights": get("mlp.dense_h_to_4h.weight", (f, d), {**neu, **emb}),
        "mlp/in/AddBias.bias": get("mlp.dense_h_to_4h.bias", (f,), neu),
        "mlp/out/Linear.weights": get("mlp.dense_4h_to_h.weight", (d, f), {**emb, **neu}),
        "mlp/out/AddBias.bias": get("mlp.dense_4h_to_h.bias", (d,), emb),
        "attention/output/Linear.weights": get(
            "attention.dense.weight", (d, h * p), {**emb, "heads": h, "projection": p}
        ),
        "attention/output/AddBias.bias": attn_bias("attention.dense.bias", emb),
    }
    for k, which in enumerate(("query", "key", "value")):
        values[f"attention/{which}/Linear.weights"] = qkv_w[{"qkv": k}]
        values[f"attention/{which}/AddBias.bias"] = qkv_b[{"qkv": k}]
    return values


def load_gpt_neox(folder: str | Path, dtype: Any = np.float32) -> model_parts.TransformerLM:
    """Loads a GPT-NeoX / Pythia HF checkpoint folder (arguments and result as `load_llamalike`)."""
    config = read_config(folder)
    cfg = gpt_neox_config_from_hf(config, dtype)
    tensors = read_tensors(folder, dtype)
    v, d = cfg.vocab_size, cfg.embedding_dim
    values = embedding_values(tensors, config, "gpt_neox.embed_in.weight", "embed_out.weight", v, d) | {
        "final_norm/scale.weights": named(take(tensors, "gpt_neox.final_layer_norm.weight", (d,)), {"embedding": d}),
        "final_norm/shift.bias": named(take(tensors, "gpt_neox.final_layer_norm.bias", (d,)), {"embedding": d}),
    }
    bias = bool(field(config, "attention_bias", True))
    for i in range(cfg.num_decoder_blocks):
        values.update({f"block_{i}/{k}": x for k, x in _block_values(tensors, cfg, i, bias).items()})
    model_def = build_gpt_neox(cfg, parallel_residual=bool(field(config, "use_parallel_residual", True)))
    return bind_parameters(model_def, values)
