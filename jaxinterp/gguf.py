"""Read a GGUF checkpoint (llama.cpp's single-file format) as what a Hugging Face folder holds: a
`config.json`-style dict, float tensors under their HF names, and a tokenizer. No PyTorch.

A GGUF file is a header of typed key/value metadata (`general.architecture`, `llama.block_count`,
`tokenizer.ggml.tokens`, ...) followed by tensors, each stored in one ggml type: F32/F16/BF16 or a block
quantisation (Q4_1 stores 32 weights as 4-bit integers with one fp16 scale and one fp16 minimum). The
`gguf` package (llama.cpp's own Python reader) parses the file (`gguf.GGUFReader`, memory-mapped) and
turns every block type it knows into float32 (`gguf.quants.dequantize`); a type it does not know (Q8_1,
Q8_K, the integer types, ...) is an `InputError` naming the type and the tensor.

How a file maps to a HF checkpoint (checked against transformers' own GGUF loader,
`modeling_gguf_pytorch_utils.load_gguf_checkpoint`, which transformers 5.25 still uses for these
architectures):

- Architectures: `llama` and `qwen2`, built by `jaxinterp.mech.models.llamalike`. Mistral 7B files are
  `llama` files (llama.cpp converts Mistral as LLaMA and writes no sliding window, so attention is global,
  as in transformers' GGUF load; the same as Mistral's 4096-token window on shorter sequences). Decided:
  `mistral3` (llama.cpp's arch for Mistral Small 3 / Ministral) is refused: transformers cannot read it,
  so there is no reference to check its layout against. Any other architecture is an `InputError`.
- Config: `{arch}.block_count` -> `num_hidden_layers`, `.embedding_length` -> `hidden_size`,
  `.feed_forward_length` -> `intermediate_size`, `.attention.head_count(_kv)` -> `num_(key_value_)heads`,
  `.attention.layer_norm_rms_epsilon` -> `rms_norm_eps`, `.context_length` -> `max_position_embeddings`,
  `.rope.freq_base` -> `rope_parameters.rope_theta`, `.attention.key_length` (else `.rope.dimension_count`,
  as transformers, else `hidden_size / heads`) -> `head_dim`; `.rope.dimension_count` and
  `.attention.value_length` must equal it (partial rotary is not a llama/qwen2 feature). RoPE scaling
  (`.rope.scaling.type` "linear" or "yarn" with `.factor` / `.original_context_length`; the legacy
  `.rope.scale_linear`) becomes `rope_parameters` the way transformers 5 writes them (`{"rope_type":
  "linear", "factor": 4.0, "rope_theta": ...}`); whether a RoPE type is supported is the model loader's
  decision. "longrope" is refused. Decided: any other `{arch}.*` key (sliding windows, logit scales,
  soft-capping, experts, ...) is an `InputError` naming it, since ignoring it would give silently wrong
  logits; transformers ignores unknown keys. `vocab_size` is the length of the token list (a different
  `{arch}.vocab_size` is an `InputError`); tied embeddings when there is no `output.weight` (as
  transformers).
- Llama 3.1/3.2 files carry their RoPE scaling as a tensor, `rope_freqs.weight`: the divisor of each of
  the head's `head_dim/2` inverse frequencies, which llama.cpp's converter computes from the HF config's
  `rope_scaling` (`llama3`: `factor`, `low_freq_factor`, `high_freq_factor`, `original_max_position_embeddings`)
  and writes with no metadata key. `gguf_config` turns it back into `rope_type: "llama3"`: the factor is the
  largest divisor, the other three are Meta's values for every Llama 3.x (1, 4, 8192; unverified: that
  the converter always uses 8192 for the context length, its default), and the divisors those give must equal the stored
  ones (relative 1e-4), else `InputError`. Decided: transformers' GGUF loader ignores the tensor (so its
  Llama 3.1 logits use unscaled RoPE); we follow the original model instead.
- Tensor names: `token_embd` -> `model.embed_tokens`, `blk.{i}.attn_q` -> `model.layers.{i}.self_attn.q_proj`,
  ... (`GLOBAL_TENSORS`, `LAYER_TENSORS`). A tensor of any other name is an `InputError`.
- Shapes: ggml lists dimensions innermost first (`[in, out]`), the reader's arrays are row-major
  `[out, in]`: HF's layout, so nothing is transposed.
- Q/K rows: llama.cpp's HF->GGUF converter permutes the rows of `q_proj`/`k_proj` of LLaMA-family models
  from HF's "rotate halves" RoPE layout to Meta's "interleaved pairs" layout (within each head, row
  `2j + s` of the file is HF row `s * head_dim/2 + j`). `unpermute_rows` undoes it for `llama` files, with
  the query head count for Q and the KV head count for K, exactly as transformers' `LlamaTensorProcessor`.
  Qwen2 is converted without the permutation (llama.cpp runs it with NEOX-style RoPE), so nothing is undone.

`write_gguf` is the inverse (HF config + tensors -> a GGUF file the way llama.cpp's converter lays it out:
its names, permuted Q/K rows, 2-D weights quantised with `gguf.quants.quantize`, 1-D ones kept F32); the
tests and `scripts/make_gguf_fixtures.py` make small files with it.

The tokenizer is built by transformers' GGUF tokenizer conversion (`convert_gguf_tokenizer`, which uses
only the `tokenizers` library), fed from metadata read here: transformers' own entry point reads the file
with a torch-based reader. The special tokens (`tokenizer.ggml.{bos,eos,unknown,padding}_token_id`),
`add_bos_token` / `add_eos_token` and the chat template (`tokenizer.chat_template`) are set the way
transformers sets them, so ids equal `AutoTokenizer.from_pretrained(folder, gguf_file=name)`.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from jaxinterp.errors import InputError

# `general.architecture` -> HF `model_type` of the model it builds.
ARCHITECTURES = {"llama": "llama", "qwen2": "qwen2"}
HF_ARCHITECTURES = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}
# Architectures whose Q/K rows llama.cpp's converter permutes (see the module docstring).
PERMUTED = {"llama"}

# GGUF tensor name (per-layer ones after "blk.{i}.") -> HF name (after "model.layers.{i}.").
GLOBAL_TENSORS = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
LAYER_TENSORS = {
    "attn_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
_LAYER = re.compile(r"blk\.(\d+)\.(.+)")
ROPE_FREQS = "rope_freqs.weight"

# `{arch}.` metadata keys -> config.json field; the RoPE keys are read by `_rope_parameters`, and keys in
# `_CHECKED` must hold the value the config implies. Any other `{arch}.` key is refused.
_CONFIG_KEYS = {
    "block_count": "num_hidden_layers",
    "embedding_length": "hidden_size",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
    "attention.layer_norm_rms_epsilon": "rms_norm_eps",
    "context_length": "max_position_embeddings",
}
_ROPE_KEYS = {
    "rope.freq_base",
    "rope.dimension_count",
    "rope.scaling.type",
    "rope.scaling.factor",
    "rope.scaling.original_context_length",
    "rope.scaling.finetuned",
    "rope.scale_linear",
}
_CHECKED = {"vocab_size", "attention.key_length", "attention.value_length", "expert_count", "expert_used_count"}
_REQUIRED = ("block_count", "embedding_length", "feed_forward_length", "attention.head_count")


def gguf_file(path: str | Path) -> Path | None:
    """The GGUF file `path` stands for: `path` itself if it is a `.gguf` file, the only `.gguf` of a folder
    that has no `config.json`, or None (a Hugging Face folder, or nothing).

    Raises:
      InputError: a folder without `config.json` holding several `.gguf` files.
    """
    path = Path(path)
    if path.suffix == ".gguf" and not path.is_dir():
        if not path.is_file():
            raise InputError(f"GGUF file {str(path)!r} does not exist")
        return path
    if not path.is_dir() or (path / "config.json").exists():
        return None
    found = sorted(path.glob("*.gguf"))
    if len(found) > 1:
        raise InputError(f"{path} holds {len(found)} .gguf files ({', '.join(f.name for f in found)}); name one")
    return found[0] if found else None


class _Reader(gguf.GGUFReader):
    """`gguf.GGUFReader` on a plain ndarray view of its memory map: each of the ~100k slices it takes while
    parsing a vocabulary is then a cheap view instead of a `np.memmap` (whose `__array_finalize__` made
    opening SmolLM2's file 3x slower: 4.9 s -> 1.5 s on a busy 2-core machine). Same bytes, same fields."""

    def _build_fields(self, offs, count):
        self.data = self.data.view(np.ndarray)  # the view keeps the memmap (its base) alive
        return super()._build_fields(offs, count)


def open_gguf(path: str | Path) -> gguf.GGUFReader:
    """Opens (memory-maps) a GGUF file; a missing, truncated or corrupt file is a one-line `InputError`."""
    try:
        reader = _Reader(Path(path))
    except (ValueError, IndexError, KeyError, OSError, struct.error, UnicodeDecodeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(f"cannot read {str(path)!r} as GGUF (truncated or corrupt?): {message}") from err
    for tensor in reader.tensors:
        if tensor.data.nbytes != tensor.n_bytes:
            raise InputError(f"cannot read {str(path)!r} as GGUF: tensor {tensor.name!r} is cut short (truncated?)")
    return reader


def read_metadata(reader: gguf.GGUFReader) -> dict[str, Any]:
    """Every metadata key of the file -> its value as Python (str, int, float, bool, or a list of them)."""
    try:
        return {key: field.contents() for key, field in reader.fields.items()}
    except (ValueError, IndexError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the GGUF metadata (corrupt file?): {err}") from err


def _architecture(meta: dict[str, Any]) -> str:
    arch = meta.get("general.architecture")
    if arch not in ARCHITECTURES:
        raise InputError(
            f"GGUF general.architecture = {arch!r} is not supported; supported: {', '.join(sorted(ARCHITECTURES))}"
        )
    return arch


def _rope_parameters(meta: dict[str, Any], arch: str) -> dict[str, Any]:
    """`rope_parameters` of transformers 5 from the `{arch}.rope.*` keys."""
    params: dict[str, Any] = {"rope_theta": float(meta.get(f"{arch}.rope.freq_base", 10_000.0)), "rope_type": "default"}
    kind = meta.get(f"{arch}.rope.scaling.type", "none")
    factor = meta.get(f"{arch}.rope.scaling.factor")
    if f"{arch}.rope.scale_linear" in meta and kind == "none":  # the key older files used for linear scaling
        kind, factor = "linear", meta[f"{arch}.rope.scale_linear"]
    if kind == "none" or (factor is not None and float(factor) == 1.0):
        return params
    if kind not in ("linear", "yarn"):
        raise InputError(f"GGUF {arch}.rope.scaling.type = {kind!r} is not supported (none, linear, yarn)")
    if factor is None:
        raise InputError(f"GGUF {arch}.rope.scaling.type = {kind!r} without {arch}.rope.scaling.factor")
    params.update(rope_type=kind, factor=float(factor))
    if kind == "yarn" and f"{arch}.rope.scaling.original_context_length" in meta:
        params["original_max_position_embeddings"] = int(meta[f"{arch}.rope.scaling.original_context_length"])
    return params


def hf_config(meta: dict[str, Any], tensor_names: set[str]) -> dict[str, Any]:
    """The `config.json` dict (transformers-5 field names) the file's metadata describes.

    Args:
      meta: `read_metadata` of the file.
      tensor_names: the GGUF names of its tensors (tied embeddings when `output.weight` is absent).

    Raises:
      InputError: unsupported architecture, a missing required key, or a key this loader cannot honour.
    """
    arch = _architecture(meta)
    for key in _REQUIRED:
        if f"{arch}.{key}" not in meta:
            raise InputError(f"GGUF metadata lacks the required key {arch}.{key}")
    known = set(_CONFIG_KEYS) | _ROPE_KEYS | _CHECKED
    for key in meta:
        if key.startswith(f"{arch}.") and key.removeprefix(f"{arch}.") not in known:
            raise InputError(f"GGUF metadata key {key} = {meta[key]!r} is not supported")
    config: dict[str, Any] = {
        "architectures": [HF_ARCHITECTURES[arch]],
        "model_type": ARCHITECTURES[arch],
        "hidden_act": "silu",
        "tie_word_embeddings": "output.weight" not in tensor_names,
        "rope_parameters": _rope_parameters(meta, arch),
        "dtype": "float32",
    }
    for key, name in _CONFIG_KEYS.items():
        if f"{arch}.{key}" in meta:
            config[name] = meta[f"{arch}.{key}"]
    config.setdefault("num_key_value_heads", config["num_attention_heads"])
    config["rms_norm_eps"] = float(config.get("rms_norm_eps", 1e-5))
    head_dim = meta.get(f"{arch}.attention.key_length") or meta.get(f"{arch}.rope.dimension_count")
    head_dim = head_dim or config["hidden_size"] // config["num_attention_heads"]
    for key in ("rope.dimension_count", "attention.value_length"):
        if meta.get(f"{arch}.{key}", head_dim) != head_dim:
            raise InputError(f"GGUF {arch}.{key} = {meta[f'{arch}.{key}']} is not the head size {head_dim}")
    for key in ("expert_count", "expert_used_count"):
        if meta.get(f"{arch}.{key}", 0):
            raise InputError(f"GGUF {arch}.{key} = {meta[f'{arch}.{key}']}: mixtures of experts are not supported")
    config["head_dim"] = head_dim
    tokens, stated = meta.get("tokenizer.ggml.tokens"), meta.get(f"{arch}.vocab_size")
    if tokens and stated is not None and stated != len(tokens):
        raise InputError(f"GGUF {arch}.vocab_size = {stated} but tokenizer.ggml.tokens has {len(tokens)} tokens")
    config["vocab_size"] = len(tokens) if tokens else stated
    if config["vocab_size"] is None:
        raise InputError("GGUF metadata has neither tokenizer.ggml.tokens nor a vocab_size")
    for token, key in (("bos", "bos"), ("eos", "eos"), ("pad", "padding")):
        if f"tokenizer.ggml.{key}_token_id" in meta:
            config[f"{token}_token_id"] = int(meta[f"tokenizer.ggml.{key}_token_id"])
    if arch == "qwen2":
        config["use_sliding_window"] = False
    return config


def llama3_rope_factors(
    theta: float,
    head_dim: int,
    factor: float,
    low_freq_factor: float,
    high_freq_factor: float,
    original_max_position_embeddings: int,
) -> np.ndarray:
    """llama.cpp's `rope_freqs` for Llama 3 RoPE scaling: what each inverse frequency is divided by.

    Returns:
      `[head_dim // 2]` float64: 1 for wavelengths under `original / high_freq_factor`, `factor` above
      `original / low_freq_factor`, and between them `1 / ((1 - s) / factor + s)` with
      `s = (original / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)`.
    """
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    wavelength = 2 * np.pi / inv_freq
    original = original_max_position_embeddings
    smooth = (original / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
    band = 1 / ((1 - smooth) / factor + smooth)
    return np.where(
        wavelength < original / high_freq_factor, 1.0, np.where(wavelength > original / low_freq_factor, factor, band)
    )


LLAMA3_DEFAULTS = {"low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}


def _rope_from_factors(factors: np.ndarray, config: dict[str, Any]) -> dict[str, Any]:
    """`rope_parameters` for a file with a `rope_freqs` tensor (see the module docstring)."""
    params = config["rope_parameters"]
    if np.allclose(factors, 1.0):
        return params
    if params["rope_type"] != "default":
        raise InputError(f"GGUF file has both rope_freqs.weight and RoPE scaling {params['rope_type']!r}")
    llama3 = {"factor": float(factors.max()), **LLAMA3_DEFAULTS}
    expected = llama3_rope_factors(params["rope_theta"], config["head_dim"], **llama3)
    if factors.shape != expected.shape or not np.allclose(factors, expected, rtol=1e-4, atol=0):
        raise InputError(
            "GGUF tensor rope_freqs.weight is not Llama 3's RoPE scaling (low_freq_factor 1, high_freq_factor 4, "
            "original context 8192)"
        )
    return {"rope_type": "llama3", **llama3, "rope_theta": params["rope_theta"]}


def gguf_config(reader: gguf.GGUFReader, meta: dict[str, Any]) -> dict[str, Any]:
    """`hf_config` of an open file, with the RoPE scaling of its `rope_freqs` tensor if it has one."""
    config = hf_config(meta, {tensor.name for tensor in reader.tensors})
    for tensor in reader.tensors:
        if tensor.name == ROPE_FREQS:
            config["rope_parameters"] = _rope_from_factors(dequantized(tensor).astype(np.float64), config)
    return config


def hf_name(name: str) -> str:
    """The HF name of the GGUF tensor `name`; `InputError` for a tensor this loader does not know."""
    if name in GLOBAL_TENSORS:
        return GLOBAL_TENSORS[name]
    match = _LAYER.fullmatch(name)
    if match and match[2] in LAYER_TENSORS:
        return f"model.layers.{match[1]}.{LAYER_TENSORS[match[2]]}"
    raise InputError(f"GGUF tensor {name!r} is not supported")


def unpermute_rows(weight: np.ndarray, num_heads: int) -> np.ndarray:
    """Undoes llama.cpp's Q/K row order: per head, interleaved RoPE pairs -> HF's two halves.

    Args:
      weight: `[num_heads * head_dim, ...]` rows as the GGUF file stores them (a weight or a bias).
      num_heads: query heads for Q, key/value heads for K.

    Returns:
      The same rows in HF order: row `s * head_dim/2 + j` of a head is file row `2j + s`.
    """
    rows = weight.shape[0]
    pairs = weight.reshape(num_heads, rows // num_heads // 2, 2, *weight.shape[1:])
    return pairs.swapaxes(1, 2).reshape(weight.shape)


def dequantized(tensor: Any) -> np.ndarray:
    """One tensor of a `GGUFReader` as float32 in HF layout `[out, in]`; `InputError` for a ggml type the
    `gguf` package cannot dequantise."""
    kind = gguf.GGMLQuantizationType(tensor.tensor_type)
    try:
        return np.asarray(gguf.quants.dequantize(tensor.data, kind), dtype=np.float32)
    except NotImplementedError as err:
        raise InputError(f"GGUF tensor {tensor.name!r} has type {kind.name}, which cannot be dequantised") from err


def hf_tensors(reader: gguf.GGUFReader, config: dict[str, Any], dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """Every tensor of the file, dequantised, under its HF name, Q/K rows in HF order, cast to `dtype`."""
    arch = next(k for k, v in ARCHITECTURES.items() if v == config["model_type"])
    tensors = {}
    for tensor in reader.tensors:
        if tensor.name == ROPE_FREQS:  # config, not weights: see `gguf_config`
            continue
        name = hf_name(tensor.name)
        array = dequantized(tensor)
        if arch in PERMUTED and ".q_proj." in name:
            array = unpermute_rows(array, config["num_attention_heads"])
        elif arch in PERMUTED and ".k_proj." in name:
            array = unpermute_rows(array, config["num_key_value_heads"])
        tensors[name] = array.astype(dtype, copy=False)
    return tensors


def read_gguf(path: str | Path, dtype: Any = np.float32) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """`(config.json dict, HF-named tensors)` of a GGUF file (see the module docstring)."""
    reader = open_gguf(path)
    config = gguf_config(reader, read_metadata(reader))
    return config, hf_tensors(reader, config, dtype)


def _transformers_gguf():
    """transformers' (GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer): 5.x moved them (4.x: unverified here)."""
    try:
        from transformers.integrations.gguf import gguf_tokenizer_mapping as module
    except ImportError:
        from transformers.integrations import ggml as module
    return module.GGUF_TOKENIZER_MAPPING, module.convert_gguf_tokenizer


def _tokenizer_parts(meta: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(transformers' GGUF `tokenizer_dict`, the tokenizer's init kwargs), as transformers' reader makes them."""
    mapping, _ = _transformers_gguf()
    grouped = {
        group: {name: meta[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in meta}
        for group, renames in mapping.items()
    }
    tokens, kwargs = grouped["tokenizer"], grouped["tokenizer_config"]
    if "tokens" not in tokens:
        raise InputError("GGUF metadata has no tokenizer (tokenizer.ggml.tokens)")
    if tokens.get("tokenizer_type") == "llama":  # llama.cpp adds BOS to a sentencepiece vocabulary by default
        kwargs.setdefault("add_bos_token", True)
    elif tokens.get("tokenizer_type") == "gemma4":
        kwargs["add_bos_token"] = False
    for name, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        token_id = meta.get(f"tokenizer.ggml.{key}_token_id")
        kwargs[f"{name}_token"] = tokens["tokens"][token_id] if token_id is not None else None
    return tokens, kwargs


def gguf_tokenizer(meta: dict[str, Any]):
    """The transformers fast tokenizer the file's `tokenizer.*` metadata describes (chat template included).

    Raises:
      InputError: no token list, or a tokenizer model transformers cannot build (`tokenizer.ggml.model`).
    """
    from transformers import PreTrainedTokenizerFast

    _, convert_gguf_tokenizer = _transformers_gguf()
    tokens, kwargs = _tokenizer_parts(meta)
    try:
        backend, extra = convert_gguf_tokenizer(meta.get("general.architecture"), tokens)
    except (ValueError, KeyError) as err:
        raise InputError(f"cannot build the GGUF tokenizer: {err}") from err
    return PreTrainedTokenizerFast(tokenizer_object=backend, **kwargs, **extra)


def read_gguf_tokenizer(path: str | Path):
    """`gguf_tokenizer` of the GGUF file at `path`."""
    return gguf_tokenizer(read_metadata(open_gguf(path)))


def permute_rows(weight: np.ndarray, num_heads: int) -> np.ndarray:
    """llama.cpp's Q/K row order from HF's (the inverse of `unpermute_rows`)."""
    rows = weight.shape[0]
    halves = weight.reshape(num_heads, 2, rows // num_heads // 2, *weight.shape[1:])
    return halves.swapaxes(1, 2).reshape(weight.shape)


def write_gguf(
    path: str | Path,
    config: dict[str, Any],
    tensors: dict[str, np.ndarray],
    tokenizer: dict[str, Any],
    qtype: gguf.GGMLQuantizationType = gguf.GGMLQuantizationType.F32,
) -> None:
    """Writes a LLaMA/Qwen2 HF checkpoint as a GGUF file, laid out as llama.cpp's converter does.

    Args:
      path: the `.gguf` file to write.
      config: HF `config.json` dict (model_type llama or qwen2; transformers-5 `rope_parameters` of type
        default, linear, yarn (metadata keys) or llama3 (a `rope_freqs.weight` tensor)).
      tensors: HF-named float arrays.
      tokenizer: `tokenizer.ggml.*` metadata without that prefix: "model", "tokens", and optionally
        "pre", "token_type", "merges", "bos_token_id", "eos_token_id", "padding_token_id"; and
        "chat_template".
      qtype: ggml type of the 2-D weights (rows whose length is not a multiple of its block stay F32).
    """
    arch = {v: k for k, v in ARCHITECTURES.items()}[config["model_type"]]
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads") or config["num_attention_heads"]
    rope = config.get("rope_parameters") or {}
    theta = float(rope.get("rope_theta", config.get("rope_theta", 10_000.0)))
    head_dim = config["hidden_size"] // heads
    writer = gguf.GGUFWriter(Path(path), arch)
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(theta)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    writer.add_rope_dimension_count(head_dim)
    kind = rope.get("rope_type", "default")
    if kind in ("linear", "yarn"):
        writer.add_rope_scaling_type(gguf.RopeScalingType(kind))
        writer.add_rope_scaling_factor(float(rope["factor"]))
        if kind == "yarn":
            writer.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))
    elif kind == "llama3":
        names = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
        factors = llama3_rope_factors(theta, head_dim, **{name: rope[name] for name in names})
        tensors = {**tensors, ROPE_FREQS: factors.astype(np.float32)}
    elif kind != "default":
        raise ValueError(f"write_gguf: rope_type {kind!r} has no GGUF form here")
    writer.add_tokenizer_model(tokenizer["model"])
    if "pre" in tokenizer:
        writer.add_tokenizer_pre(tokenizer["pre"])
    writer.add_token_list(tokenizer["tokens"])
    if "token_type" in tokenizer:
        writer.add_token_types(tokenizer["token_type"])
    if "merges" in tokenizer:
        writer.add_token_merges(tokenizer["merges"])
    for key in ("bos_token_id", "eos_token_id", "padding_token_id"):
        if key in tokenizer:
            getattr(writer, f"add_{key.replace('padding', 'pad')}")(tokenizer[key])
    if "chat_template" in tokenizer:
        writer.add_chat_template(tokenizer["chat_template"])
    to_gguf = {v: k for k, v in GLOBAL_TENSORS.items()} | {v: k for k, v in LAYER_TENSORS.items()}
    for name, array in tensors.items():
        if config.get("tie_word_embeddings") and name == "lm_head.weight":
            continue
        match = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", name)
        gguf_name = f"blk.{match[1]}.{to_gguf[match[2]]}" if match else to_gguf.get(name, name)
        array = np.asarray(array, dtype=np.float32)
        if arch in PERMUTED and ".q_proj." in name:
            array = permute_rows(array, heads)
        elif arch in PERMUTED and ".k_proj." in name:
            array = permute_rows(array, kv_heads)
        block = gguf.GGML_QUANT_SIZES[qtype][0]
        if array.ndim == 2 and qtype != gguf.GGMLQuantizationType.F32 and array.shape[1] % block == 0:
            writer.add_tensor(gguf_name, gguf.quants.quantize(array, qtype), raw_dtype=qtype)
        else:
            writer.add_tensor(gguf_name, array)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
