"""Read a local Hugging Face checkpoint folder (config + safetensors) without PyTorch or transformers.

A folder holds `config.json` and either `model.safetensors` or a sharded
`model.safetensors.index.json` whose `weight_map` names the shard file of every tensor. Tensors are read
with `safetensors.numpy` (bf16 arrives as `ml_dtypes.bfloat16`) and cast to one requested dtype.

`config.json` is read as a raw dict because its keys changed between transformers 4.x and 5.x:

| meaning | transformers 4.x | transformers 5.x |
|---|---|---|
| RoPE base | `rope_theta` (top level); GPT-NeoX `rotary_emb_base` | `rope_parameters["rope_theta"]` |
| RoPE scaling | `rope_scaling = {"type" or "rope_type": ...}` or null | `rope_parameters["rope_type"]` |
| rotary fraction (GPT-NeoX) | `rotary_pct` | `rope_parameters["partial_rotary_factor"]` |
| stored dtype | `torch_dtype` | `dtype` |

`rope_settings` accepts both forms (5.x first). The stored dtype key is not needed: each safetensors
tensor carries its own dtype. Only plain RoPE (`rope_type` "default", or no scaling) is supported; any other
type (linear, dynamic, llama3, yarn, ...) raises `InputError` naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from penzai import pz
from safetensors import SafetensorError
from safetensors.numpy import load_file

from jaxinterp.errors import InputError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
_MISSING = object()


def _folder(folder: str | Path) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"checkpoint folder {str(path)!r} does not exist or is not a folder")
    return path


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"checkpoint file {str(path)!r} is missing")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read {str(path)!r} as JSON: {err}") from err


def read_config(folder: str | Path) -> dict[str, Any]:
    """Returns the raw `config.json` of a checkpoint folder as a dict (no transformers config class)."""
    return _read_json(_folder(folder) / CONFIG_FILE)


def field(config: dict[str, Any], name: str, default: Any = _MISSING, source: str = CONFIG_FILE) -> Any:
    """Returns `config[name]`, or `default`; raises `InputError` naming the field if absent and no default."""
    value = config.get(name, default)
    if value is _MISSING:
        raise InputError(f"{source} lacks the required field {name!r}")
    return value


def rope_settings(config: dict[str, Any]) -> tuple[float, float]:
    """Returns `(rope_theta, partial_rotary_factor)` from a transformers-4 or transformers-5 config dict.

    Raises:
      InputError: for a RoPE scaling type other than "default", naming the field that sets it.
    """
    params = config.get("rope_parameters") or {}
    legacy = config.get("rope_scaling") or {}
    for where, spec in (("rope_parameters", params), ("rope_scaling", legacy)):
        rope_type = spec.get("rope_type", spec.get("type", "default"))
        if rope_type != "default":
            raise InputError(
                f"{CONFIG_FILE} field {where}.rope_type = {rope_type!r} is not supported (only plain RoPE, 'default')"
            )
    theta = params.get("rope_theta", config.get("rope_theta", config.get("rotary_emb_base", 10_000.0)))
    fraction = params.get("partial_rotary_factor", config.get("partial_rotary_factor", config.get("rotary_pct", 1.0)))
    return float(theta), float(fraction)


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
    path, dtype = _folder(folder), np.dtype(dtype)
    if (path / WEIGHTS_FILE).is_file():
        return _load(path / WEIGHTS_FILE, dtype)
    if not (path / INDEX_FILE).is_file():
        raise InputError(f"checkpoint folder {str(path)!r} has neither {WEIGHTS_FILE!r} nor {INDEX_FILE!r}")
    weight_map = field(_read_json(path / INDEX_FILE), "weight_map", source=INDEX_FILE)
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


def named(array: np.ndarray, axes: dict[str, int]) -> pz.nx.NamedArray:
    """Reshapes a flat HF array to the sizes of `axes` (in their order) and tags it with their names."""
    return pz.nx.wrap(jnp.asarray(array).reshape(tuple(axes.values()))).tag(*axes)


def bind_parameters(model_def: pz.nn.Layer, values: dict[str, pz.nx.NamedArray], prefix: str = "transformer"):
    """Fills every parameter slot of an unbound penzai model; slot `f"{prefix}/{key}"` gets `values[key]`."""
    params = [pz.Parameter(value=value, label=f"{prefix}/{key}") for key, value in values.items()]
    model = pz.bind_variables(model_def, params)
    pz.nn.assert_no_parameter_slots(model)
    return model


def embedding_values(
    tensors: dict[str, np.ndarray], config: dict, embed_name: str, head_name: str, vocab: int, width: int
) -> dict[str, pz.nx.NamedArray]:
    """The token embedding and the logits head (tied to the embedding when the config says so and the
    checkpoint has no separate head), as penzai's `embedder.embeddings` / `lm_head.weights` values."""
    embed = take(tensors, embed_name, (vocab, width))
    tied = field(config, "tie_word_embeddings", False) and head_name not in tensors
    head = embed if tied else take(tensors, head_name, (vocab, width))
    axes = {"vocabulary": vocab, "embedding": width}
    return {"embedder.embeddings": named(embed, axes), "lm_head.weights": named(head, axes)}
