"""Read a local Hugging Face checkpoint folder without PyTorch or transformers' model classes.

What is generic about a HF folder lives here, so that every model family reads it the same way: the
penzai language models of `jaxinterp.mech.models` (LLaMA-like, GPT-NeoX, GPT-2) and the Flax CLIP of
`jaxinterp.agent.checkup` both use it. Nothing here knows penzai or any one architecture: turning the
arrays into a model's parameters is each model's loader's job.

- `config.json` (and any other JSON file of the folder) is read as a raw dict (`read_config`, `read_json`),
  fields are fetched with `field` so a missing one raises `InputError` naming it.
- Tensors come from `model.safetensors`, or from the shards a `model.safetensors.index.json` names in its
  `weight_map` (`read_tensors`); they are read with `safetensors.numpy` (bf16 arrives as
  `ml_dtypes.bfloat16`) and cast to one requested dtype. `take` fetches one and checks its shape.
- `ACTIVATIONS` is the one table of HF activation names (`hidden_act`, GPT-2's `activation_function`);
  `activation_fn` turns a name into its JAX function.
- `load_tokenizer` loads a transformers tokenizer class from the folder's tokenizer files (the tokenizers
  library does the work; no PyTorch), or, given a `.gguf` file (or a folder holding one), the tokenizer
  written in that file's metadata (`jaxinterp.gguf`).

`config.json` is read as a raw dict because its keys changed between transformers 4.x and 5.x:

| meaning | transformers 4.x | transformers 5.x |
|---|---|---|
| RoPE base | `rope_theta` (top level); GPT-NeoX `rotary_emb_base` | `rope_parameters["rope_theta"]` |
| RoPE scaling | `rope_scaling = {"type" or "rope_type": ...}` or null | `rope_parameters["rope_type"]` |
| rotary fraction (GPT-NeoX) | `rotary_pct` | `rope_parameters["partial_rotary_factor"]` |
| stored dtype | `torch_dtype` | `dtype` |

`rope_settings` accepts both forms and returns a `RopeSettings`: the RoPE type with the fields it uses and
transformers 5.25's defaults filled in. As in transformers, a non-empty 4.x `rope_scaling` replaces
`rope_parameters`, and a top-level `original_max_position_embeddings` wins over the RoPE dict's. The types are
plain RoPE ("default", or no scaling) and the four that today's checkpoints use: "linear" (positions divided by
`factor`), "dynamic" (NTK: the base grows once a sequence outruns `max_position_embeddings`), "llama3" (Llama
3.1/3.2: long wavelengths divided by `factor`, short ones kept, a smooth band between) and "yarn" (the same idea
with YaRN's ramp, plus an attention scale). Another type (longrope, ...) or a missing field the type needs
raises `InputError` naming the field; `jaxinterp.mech.models.rope` computes the frequencies. The stored dtype
key is not needed: each safetensors tensor carries its own dtype.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from jaxinterp.errors import InputError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# Either a fast tokenizer's `tokenizer.json`, or a byte-level BPE vocabulary with its merges.
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"))
_MISSING = object()

# HF activation name -> its form: the JAX function it names is `_FORMS[form]`. As in transformers' `ACT2FN`,
# "gelu" is the exact (erf) GELU, "gelu_new" / "gelu_fast" / "gelu_pytorch_tanh" its tanh approximation, and
# "quick_gelu" OpenAI CLIP's sigmoid approximation. The forms' names are penzai's where penzai has the form
# ("gelu_exact", "gelu_approx", "relu", "silu"), so a penzai config can take the form as it is.
ACTIVATIONS = {
    "gelu": "gelu_exact",
    "gelu_new": "gelu_approx",
    "gelu_fast": "gelu_approx",
    "gelu_pytorch_tanh": "gelu_approx",
    "quick_gelu": "quick_gelu",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
    "tanh": "tanh",
}
_FORMS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "gelu_exact": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_approx": functools.partial(jax.nn.gelu, approximate=True),
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "tanh": jnp.tanh,
}


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
    """The JAX function of the HF activation `name` (a key of `ACTIVATIONS`); `InputError` for another name."""
    if name not in ACTIVATIONS:
        raise InputError(f"activation {name!r} is not supported ({', '.join(sorted(ACTIVATIONS))})")
    return _FORMS[ACTIVATIONS[name]]


def checkpoint_folder(folder: str | Path) -> Path:
    """`folder` as a Path; `InputError` when it is not an existing folder."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"checkpoint folder {str(path)!r} does not exist or is not a folder")
    return path


def read_json(path: str | Path) -> dict[str, Any]:
    """One JSON file of a checkpoint folder as a dict; `InputError` when it is missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"checkpoint file {str(path)!r} is missing")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read {str(path)!r} as JSON: {err}") from err


def read_config(folder: str | Path) -> dict[str, Any]:
    """Returns the raw `config.json` of a checkpoint folder as a dict (no transformers config class)."""
    return read_json(checkpoint_folder(folder) / CONFIG_FILE)


def field(config: dict[str, Any], name: str, default: Any = _MISSING, source: str = CONFIG_FILE) -> Any:
    """Returns `config[name]`, or `default`; raises `InputError` naming the field if absent and no default."""
    value = config.get(name, default)
    if value is _MISSING:
        raise InputError(f"{source} lacks the required field {name!r}")
    return value


ROPE_TYPES = ("default", "dynamic", "linear", "llama3", "yarn")


@dataclasses.dataclass(frozen=True)
class RopeSettings:
    """RoPE as a `config.json` sets it, with transformers 5.25's defaults filled in (`modeling_rope_utils`).

    Only the fields of `rope_type` are set; the others stay None, so two configs give equal settings exactly
    when they give the same RoPE. `jaxinterp.mech.models.rope` turns the settings into inverse frequencies.

    Attributes:
      theta: base wavelength (`rope_theta`).
      fraction: share of each head's dimensions that rotate (`partial_rotary_factor`).
      rope_type: one of `ROPE_TYPES`.
      factor: context-extension factor (every type but "default"; for yarn a null factor is
        `max_position_embeddings / original_max_position_embeddings`, as in transformers).
      max_position_embeddings: dynamic only: the length beyond which the base grows.
      original_max_position_embeddings: llama3 and yarn: the pretraining context length.
      low_freq_factor: llama3: wavelengths above `original / low_freq_factor` are divided by `factor`.
      high_freq_factor: llama3: wavelengths below `original / high_freq_factor` are kept.
      beta_fast: yarn: rotations that bound the kept (extrapolated) band (null or 0 -> 32).
      beta_slow: yarn: rotations that bound the interpolated band (null or 0 -> 1).
      attention_factor: yarn: the cos/sin scale if given; else computed from `factor`, `mscale`, `mscale_all_dim`.
      mscale: yarn: numerator weight of that computed scale (used only with `mscale_all_dim`).
      mscale_all_dim: yarn: its denominator weight.
      truncate: yarn: round the correction range outwards to whole dimensions (default true).
    """

    theta: float = 10_000.0
    fraction: float = 1.0
    rope_type: str = "default"
    factor: float | None = None
    max_position_embeddings: int | None = None
    original_max_position_embeddings: int | None = None
    low_freq_factor: float | None = None
    high_freq_factor: float | None = None
    beta_fast: float | None = None
    beta_slow: float | None = None
    attention_factor: float | None = None
    mscale: float | None = None
    mscale_all_dim: float | None = None
    truncate: bool | None = None


def _rope_number(spec: dict[str, Any], key: str, where: str, rope_type: str, required: bool = True) -> float | None:
    """`spec[key]` as a float (None when absent or null and not `required`); `InputError` naming the field."""
    value = spec.get(key)
    if value is None:
        if required:
            raise InputError(f"{CONFIG_FILE} field {where}.rope_type = {rope_type!r} needs a number in {where}.{key}")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{CONFIG_FILE} field {where}.{key} = {value!r} is not a number")
    return float(value)


def rope_settings(config: dict[str, Any]) -> RopeSettings:
    """The RoPE of a transformers-4 or transformers-5 config dict.

    As in transformers, a non-empty 4.x `rope_scaling` replaces `rope_parameters`; `rope_theta`,
    `partial_rotary_factor` and (llama3, yarn) `original_max_position_embeddings` fall back to top-level fields,
    and a top-level `original_max_position_embeddings` wins over the RoPE dict's (transformers' Phi-3 rule,
    which it applies to every model).

    Raises:
      InputError: a `rope_type` outside `ROPE_TYPES`, or a missing or non-numeric field it needs, naming it.
    """
    legacy = config.get("rope_scaling") or {}
    spec, where = (legacy, "rope_scaling") if legacy else (config.get("rope_parameters") or {}, "rope_parameters")
    rope_type = spec.get("rope_type", spec.get("type", "default"))
    if rope_type not in ROPE_TYPES:
        raise InputError(
            f"{CONFIG_FILE} field {where}.rope_type = {rope_type!r} is not supported ({', '.join(ROPE_TYPES)})"
        )
    theta = spec.get("rope_theta", config.get("rope_theta", config.get("rotary_emb_base", 10_000.0)))
    fraction = spec.get("partial_rotary_factor", config.get("partial_rotary_factor", config.get("rotary_pct", 1.0)))
    settings = RopeSettings(theta=float(theta), fraction=float(fraction), rope_type=rope_type)
    if rope_type == "default":
        return settings

    def number(key: str, required: bool = True) -> float | None:
        return _rope_number(spec, key, where, rope_type, required)

    if rope_type in ("linear", "dynamic"):
        settings = dataclasses.replace(settings, factor=number("factor"))
        if rope_type == "dynamic":
            length = int(field(config, "max_position_embeddings"))
            settings = dataclasses.replace(settings, max_position_embeddings=length)
        return settings
    top = config.get("original_max_position_embeddings")
    original = top or spec.get("original_max_position_embeddings") or field(config, "max_position_embeddings")
    settings = dataclasses.replace(settings, original_max_position_embeddings=int(original))
    if rope_type == "llama3":
        return dataclasses.replace(
            settings,
            factor=number("factor"),
            low_freq_factor=number("low_freq_factor"),
            high_freq_factor=number("high_freq_factor"),
        )
    if "factor" not in spec:  # transformers refuses a yarn config without the key, but reads null as "derive it"
        number("factor")
    factor = number("factor", required=False)
    return dataclasses.replace(
        settings,
        factor=factor if factor is not None else field(config, "max_position_embeddings") / int(original),
        beta_fast=number("beta_fast", required=False) or 32.0,
        beta_slow=number("beta_slow", required=False) or 1.0,
        attention_factor=number("attention_factor", required=False),
        mscale=number("mscale", required=False),
        mscale_all_dim=number("mscale_all_dim", required=False),
        truncate=bool(spec.get("truncate", True)),
    )


def _load(path: Path, dtype: np.dtype) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise InputError(f"checkpoint file {str(path)!r} is missing")
    try:
        tensors = load_file(path)
    except (OSError, SafetensorError) as err:
        raise InputError(f"cannot read {str(path)!r} as safetensors: {err}") from err
    return {name: np.asarray(array).astype(dtype) for name, array in tensors.items()}


def read_tensors(folder: str | Path, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """Reads every tensor of a single-file or sharded safetensors checkpoint, cast to `dtype`.

    Args:
      folder: checkpoint folder with `model.safetensors` or `model.safetensors.index.json` + shards.
      dtype: numpy-compatible dtype for all tensors (e.g. `np.float32`, `jnp.bfloat16`).

    Returns:
      HF tensor name -> array, shapes as stored (PyTorch `[out, in]` for linear weights).
    """
    path, dtype = checkpoint_folder(folder), np.dtype(dtype)
    if (path / WEIGHTS_FILE).is_file():
        return _load(path / WEIGHTS_FILE, dtype)
    if not (path / INDEX_FILE).is_file():
        raise InputError(f"checkpoint folder {str(path)!r} has neither {WEIGHTS_FILE!r} nor {INDEX_FILE!r}")
    weight_map = field(read_json(path / INDEX_FILE), "weight_map", source=INDEX_FILE)
    tensors: dict[str, np.ndarray] = {}
    for shard in sorted(set(weight_map.values())):
        tensors.update(_load(path / shard, dtype))
    return tensors


def take(tensors: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Returns `tensors[name]` after checking it exists and has `shape`; else `InputError` naming it."""
    if name not in tensors:
        raise InputError(f"checkpoint tensor {name!r} is missing")
    array = tensors[name]
    if array.shape != tuple(shape):
        raise InputError(f"checkpoint tensor {name!r} has shape {array.shape}, expected {tuple(shape)}")
    return array


def load_tokenizer(folder: str | Path, kind: str = "AutoTokenizer"):
    """transformers' tokenizer class `kind` (e.g. "CLIPTokenizer") loaded from the folder's tokenizer files,
    or the fast tokenizer of a GGUF file's metadata (`folder` a `.gguf` file, or a folder holding one and no
    `config.json`; see `jaxinterp.gguf`).

    Raises:
      InputError: the folder has none of `TOKENIZER_FILES`, transformers cannot load them, or `kind` is
        not a generic fast tokenizer for a GGUF file.
    """
    import transformers  # only here: reading configs and tensors does not need it

    from jaxinterp.gguf import gguf_file, read_gguf_tokenizer  # only here: it imports the gguf package

    gguf_path = gguf_file(folder)
    if gguf_path is not None:
        if kind not in ("AutoTokenizer", "PreTrainedTokenizerFast"):
            raise InputError(f"a GGUF file gives a PreTrainedTokenizerFast, not a {kind}")
        return read_gguf_tokenizer(gguf_path)
    path = Path(folder)
    if not any(all((path / name).is_file() for name in files) for files in TOKENIZER_FILES):
        raise InputError(f"{path} has no tokenizer files for {kind} (tokenizer.json, or vocab.json and merges.txt)")
    try:
        return getattr(transformers, kind).from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot load the {kind} tokenizer in {path}: {err}") from err
