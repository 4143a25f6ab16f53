"""GPT-2 (Radford et al., 2019) as a penzai `TransformerLM`, built from a config or a local HF checkpoint.

penzai 0.2.5 ships Llama-like, Mistral, GPT-NeoX and Gemma builders but no GPT-2; this module composes
penzai's own layers into one, with the same structure conventions as penzai's builders so model surgery
written for them (`pz.select(model).at_instances_of(pz.nn.Attention)...`) works unchanged:

    TransformerLM(body=Sequential[
        EmbeddingLookup(wte), AddPositionEmbeddings(wpe),
        TransformerBlock[                                   (x n_layers)
            Residual(Sequential[LayerNorm, Attention]),
            Residual(Sequential[LayerNorm, TransformerFeedForward[Affine, Elementwise(gelu), Affine]]),
        ],
        LayerNorm, EmbeddingDecode(wte)])                   (or a Linear lm_head if tie_word_embeddings=False)

Named axes (penzai `models/transformer/model_parts.py`): "batch" and "seq" (tokens), "embedding" (residual
stream), "heads" and "projection" (per-head queries, keys, values), "kv_seq" (key position in an attention
matrix), "neurons" (MLP hidden units), "vocabulary" (logits), "positions" (rows of the position table).
`Attention.attn_value_to_output` is `Sequential[NamedEinsum, Affine]`: the value between its
`sublayers[0]` and the output Affine is the per-head output z with axes {batch, seq, heads, projection}.
The side input "token_positions" (default `arange(seq)`, -1 = padding) drives both the learned position
embeddings and the causal mask, so the model is called like penzai's: `model(tokens, token_positions=...)`.

Checkpoints are read with `jaxinterp.hf` (safetensors, no PyTorch). HF's `Conv1D` stores weights input-major,
(in, out); `c_attn` columns are [q | k | v], each head-major (heads, projection).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz
from penzai.models.transformer import model_parts

from jaxinterp.errors import InputError
from jaxinterp.hf import ACTIVATIONS, CONFIG_FILE, activation_fn, read_json, read_tensors, take
from jaxinterp.mech.models.hf_params import bind_parameters


@dataclasses.dataclass(frozen=True)
class GPT2Config:
    """GPT-2 hyperparameters; defaults are GPT-2 small (Radford et al. 2019, Table 2; HF `gpt2` config.json).

    Attributes:
        vocab_size: Number of tokens (BPE vocabulary of 50257).
        n_positions: Length of the learned position table (context window).
        d_model: Residual stream width (`n_embd`).
        n_layers: Number of transformer blocks (`n_layer`).
        n_heads: Attention heads per block (`n_head`); `d_model` must be divisible by it.
        d_mlp: MLP hidden width (`n_inner`, 4 * d_model when None in HF).
        activation: HF `activation_function` name, a key of `jaxinterp.hf.ACTIVATIONS` (GPT-2: "gelu_new", tanh GELU).
        layer_norm_epsilon: LayerNorm epsilon.
        scale_attn_weights: Divide attention scores by sqrt(d_head).
        scale_attn_by_inverse_layer_idx: Also divide block i's scores by i + 1 (HF option, off for GPT-2).
        tie_word_embeddings: Decode logits with the token embedding table (GPT-2); else a separate lm_head.
        dtype: Parameter and activation dtype.
    """

    vocab_size: int = 50257
    n_positions: int = 1024
    d_model: int = 768
    n_layers: int = 12
    n_heads: int = 12
    d_mlp: int = 3072
    activation: str = "gelu_new"
    layer_norm_epsilon: float = 1e-5
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    tie_word_embeddings: bool = True
    dtype: Any = np.float32

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise InputError(f"n_embd={self.d_model} is not divisible by n_head={self.n_heads}")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"activation_function={self.activation!r} is not one of {sorted(ACTIVATIONS)}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads


def gpt2_config_from_hf(config_dict: dict[str, Any], dtype=np.float32) -> GPT2Config:
    """Maps a Hugging Face GPT-2 `config.json` dict to a `GPT2Config`.

    Raises:
        InputError: `model_type` is not "gpt2", a required field is missing, or an option is unsupported.
    """
    if config_dict.get("model_type") != "gpt2":
        raise InputError(f"config field model_type={config_dict.get('model_type')!r}, expected 'gpt2'")
    for key in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
        if key not in config_dict:
            raise InputError(f"GPT-2 config is missing the field {key!r}")
    if config_dict.get("add_cross_attention"):
        raise InputError("config field add_cross_attention=True is not supported (decoder-only GPT-2)")
    d_model = config_dict["n_embd"]
    return GPT2Config(
        vocab_size=config_dict["vocab_size"],
        n_positions=config_dict["n_positions"],
        d_model=d_model,
        n_layers=config_dict["n_layer"],
        n_heads=config_dict["n_head"],
        d_mlp=config_dict.get("n_inner") or 4 * d_model,
        activation=config_dict.get("activation_function", "gelu_new"),
        layer_norm_epsilon=config_dict.get("layer_norm_epsilon", 1e-5),
        scale_attn_weights=config_dict.get("scale_attn_weights", True),
        scale_attn_by_inverse_layer_idx=config_dict.get("scale_attn_by_inverse_layer_idx", False),
        tie_word_embeddings=config_dict.get("tie_word_embeddings", True),
        dtype=dtype,
    )


@pz.pytree_dataclass
class AddPositionEmbeddings(pz.nn.Layer):
    """Adds learned absolute position embeddings, looked up at the "token_positions" side input.

    Attributes:
        table: Position table with vocabulary axis "positions" and axis "embedding".
        positions_input_name: Side input holding integer positions {..., seq}; -1 (padding) reads row 0.
    """

    table: pz.nn.EmbeddingTable
    positions_input_name: str = dataclasses.field(default="token_positions", metadata={"pytree_node": False})

    def __call__(self, x: pz.nx.NamedArray, **side_inputs) -> pz.nx.NamedArray:
        """Maps embeddings {..., seq, embedding} to the same plus the embedding of each token's position."""
        positions = pz.nx.nmap(jnp.maximum)(side_inputs[self.positions_input_name], 0)
        return x + self.table.embeddings.value[{self.table.vocabulary_axis: positions}]


def _layer_norm(name: str, key: jax.Array | None, config: GPT2Config) -> pz.nn.LayerNorm:
    return pz.nn.LayerNorm.from_config(
        name=name,
        init_base_rng=key,
        across_axes={"embedding": config.d_model},
        epsilon=config.layer_norm_epsilon,
        dtype=config.dtype,
    )


def _affine(name: str, key: jax.Array | None, config: GPT2Config, inputs: dict, outputs: dict) -> pz.nn.Affine:
    return pz.nn.Affine.from_config(
        name=name, init_base_rng=key, input_axes=inputs, output_axes=outputs, dtype=config.dtype
    )


def _build_attention(name: str, key: jax.Array | None, config: GPT2Config, layer_idx: int) -> pz.nn.Attention:
    """Causal multi-head self-attention with biases on q, k, v and the output projection."""
    emb = {"embedding": config.d_model}
    head = {"heads": config.n_heads, "projection": config.d_head}
    scale = (config.d_head**-0.5 if config.scale_attn_weights else 1.0) / (
        layer_idx + 1 if config.scale_attn_by_inverse_layer_idx else 1
    )
    return pz.nn.Attention(
        input_to_query=pz.nn.Sequential(
            [
                _affine(f"{name}/query", key, config, emb, head),
                pz.nn.ConstantRescale(by=jnp.asarray(scale, dtype=config.dtype)),
            ]
        ),
        input_to_key=pz.nn.Sequential([_affine(f"{name}/key", key, config, emb, head)]),
        input_to_value=pz.nn.Sequential([_affine(f"{name}/value", key, config, emb, head)]),
        query_key_to_attn=pz.nn.Sequential(
            [
                pz.nn.NamedEinsum(
                    ({"seq": "tq", "heads": "h", "projection": "p"}, {"seq": "tkv", "heads": "h", "projection": "p"}),
                    {"seq": "tq", "heads": "h", "kv_seq": "tkv"},
                ),
                pz.nn.ApplyCausalAttentionMask(masked_out_value=jnp.asarray(jnp.finfo(config.dtype).min, config.dtype)),
                pz.nn.Softmax("kv_seq"),
            ]
        ),
        attn_value_to_output=pz.nn.Sequential(
            [
                pz.nn.NamedEinsum(
                    ({"seq": "tq", "heads": "h", "kv_seq": "tkv"}, {"seq": "tkv", "heads": "h", "projection": "p"}),
                    {"seq": "tq", "heads": "h", "projection": "p"},
                ),
                _affine(f"{name}/output", key, config, head, emb),
            ]
        ),
    )


def _build_block(name: str, key: jax.Array | None, config: GPT2Config, layer_idx: int) -> model_parts.TransformerBlock:
    """Pre-LayerNorm block: x + Attn(LN(x)), then x + MLP(LN(x))."""
    mlp = model_parts.TransformerFeedForward(
        [
            _affine(f"{name}/mlp/in", key, config, {"embedding": config.d_model}, {"neurons": config.d_mlp}),
            pz.nn.Elementwise(activation_fn(config.activation)),
            _affine(f"{name}/mlp/out", key, config, {"neurons": config.d_mlp}, {"embedding": config.d_model}),
        ]
    )
    return model_parts.TransformerBlock(
        [
            pz.nn.Residual(
                pz.nn.Sequential(
                    [
                        _layer_norm(f"{name}/pre_attention_norm", key, config),
                        _build_attention(f"{name}/attention", key, config, layer_idx),
                    ]
                )
            ),
            pz.nn.Residual(pz.nn.Sequential([_layer_norm(f"{name}/pre_ffw_norm", key, config), mlp])),
        ]
    )


def build_gpt2_transformer(config: GPT2Config, init_key: jax.Array | None = None) -> model_parts.TransformerLM:
    """Builds a GPT-2 `TransformerLM`; parameters are labelled "transformer/...".

    Args:
        config: Model sizes and options.
        init_key: PRNG key for a random initialisation (penzai derives one key per parameter name); None
            leaves `ParameterSlot`s to be filled by `pz.bind_variables` (what `load_gpt2` does).

    Returns:
        A model mapping tokens {batch, seq} (int) to logits {batch, seq, vocabulary}.
    """
    wte = pz.nn.EmbeddingTable.from_config(
        name="transformer/embedder",
        init_base_rng=init_key,
        vocab_size=config.vocab_size,
        embedding_axes={"embedding": config.d_model},
        dtype=config.dtype,
    )
    wpe = pz.nn.EmbeddingTable.from_config(
        name="transformer/position_embedder",
        init_base_rng=init_key,
        vocab_size=config.n_positions,
        embedding_axes={"embedding": config.d_model},
        vocabulary_axis="positions",
        dtype=config.dtype,
    )
    if config.tie_word_embeddings:
        lm_head = pz.nn.EmbeddingDecode(wte)
    else:
        lm_head = pz.nn.Linear.from_config(
            name="transformer/lm_head",
            init_base_rng=init_key,
            input_axes={"embedding": config.d_model},
            output_axes={"vocabulary": config.vocab_size},
            dtype=config.dtype,
        )
    blocks = [_build_block(f"transformer/block_{i}", init_key, config, i) for i in range(config.n_layers)]
    body = pz.nn.Sequential(
        [
            pz.nn.EmbeddingLookup(wte),
            AddPositionEmbeddings(wpe),
            *blocks,
            _layer_norm("transformer/final_norm", init_key, config),
            lm_head,
        ]
    )
    metadata = model_parts.TransformerMetadata(
        common_head_axes={"heads": config.n_heads},
        query_only_head_axes={},
        embedding_dim=config.d_model,
        projection_dim=config.d_head,
        mlp_hidden_dim=config.d_mlp,
        vocab_size=config.vocab_size,
        activation_dtype=config.dtype,
    )
    return model_parts.TransformerLM(body=body, metadata=metadata)


def _hf_parameters(tensors: dict[str, np.ndarray], config: GPT2Config) -> dict[str, pz.nx.NamedArray]:
    """Maps HF tensor names (without "transformer.") to our parameter labels as named arrays, checking shapes."""
    d, heads, proj, mlp = config.d_model, config.n_heads, config.d_head, config.d_mlp

    get = functools.partial(take, tensors)

    def wrap(value: np.ndarray, *axes: str) -> pz.nx.NamedArray:
        return pz.nx.wrap(jnp.asarray(value)).tag(*axes)

    def norm(ours: str, theirs: str) -> dict[str, pz.nx.NamedArray]:
        return {
            f"{ours}/scale.weights": wrap(get(f"{theirs}.weight", (d,)), "embedding"),
            f"{ours}/shift.bias": wrap(get(f"{theirs}.bias", (d,)), "embedding"),
        }

    params = {
        "embedder.embeddings": wrap(get("wte.weight", (config.vocab_size, d)), "vocabulary", "embedding"),
        "position_embedder.embeddings": wrap(get("wpe.weight", (config.n_positions, d)), "positions", "embedding"),
        **norm("final_norm", "ln_f"),
    }
    if not config.tie_word_embeddings:
        params["lm_head.weights"] = wrap(get("lm_head.weight", (config.vocab_size, d)), "vocabulary", "embedding")
    for i in range(config.n_layers):
        ours, theirs = f"block_{i}", f"h.{i}"
        qkv_w = get(f"{theirs}.attn.c_attn.weight", (d, 3 * d)).reshape(d, 3, heads, proj)
        qkv_b = get(f"{theirs}.attn.c_attn.bias", (3 * d,)).reshape(3, heads, proj)
        for j, part in enumerate(("query", "key", "value")):
            params[f"{ours}/attention/{part}/Linear.weights"] = wrap(qkv_w[:, j], "embedding", "heads", "projection")
            params[f"{ours}/attention/{part}/AddBias.bias"] = wrap(qkv_b[j], "heads", "projection")
        out_w = get(f"{theirs}.attn.c_proj.weight", (d, d)).reshape(heads, proj, d)
        params[f"{ours}/attention/output/Linear.weights"] = wrap(out_w, "heads", "projection", "embedding")
        params[f"{ours}/attention/output/AddBias.bias"] = wrap(get(f"{theirs}.attn.c_proj.bias", (d,)), "embedding")
        params[f"{ours}/mlp/in/Linear.weights"] = wrap(
            get(f"{theirs}.mlp.c_fc.weight", (d, mlp)), "embedding", "neurons"
        )
        params[f"{ours}/mlp/in/AddBias.bias"] = wrap(get(f"{theirs}.mlp.c_fc.bias", (mlp,)), "neurons")
        params[f"{ours}/mlp/out/Linear.weights"] = wrap(
            get(f"{theirs}.mlp.c_proj.weight", (mlp, d)), "neurons", "embedding"
        )
        params[f"{ours}/mlp/out/AddBias.bias"] = wrap(get(f"{theirs}.mlp.c_proj.bias", (d,)), "embedding")
        params.update(norm(f"{ours}/pre_attention_norm", f"{theirs}.ln_1"))
        params.update(norm(f"{ours}/pre_ffw_norm", f"{theirs}.ln_2"))
    return params


def load_gpt2(folder: str | Path, dtype=np.float32) -> model_parts.TransformerLM:
    """Loads a local Hugging Face GPT-2 checkpoint folder (`config.json` + safetensors) without PyTorch.

    Args:
        folder: Folder written by `GPT2LMHeadModel.save_pretrained` or `GPT2Model.save_pretrained`.
        dtype: Parameter and activation dtype.

    Returns:
        The model; `model(tokens)` maps int tokens {batch, seq} to logits {batch, seq, vocabulary}.

    Raises:
        InputError: A file or tensor is missing, a tensor has the wrong shape, or config.json is not GPT-2.
    """
    config = gpt2_config_from_hf(read_json(Path(folder) / CONFIG_FILE), dtype=dtype)
    # GPT2LMHeadModel prefixes the body's tensors with "transformer."; GPT2Model does not.
    tensors = {k.removeprefix("transformer."): v for k, v in read_tensors(folder, config.dtype).items()}
    return bind_parameters(build_gpt2_transformer(config), _hf_parameters(tensors, config))
