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
  library does the work; no PyTorch).

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
    """transformers' tokenizer class `kind` (e.g. "CLIPTokenizer") loaded from the folder's tokenizer files.

    Raises:
      InputError: the folder has none of `TOKENIZER_FILES`, or transformers cannot load them.
    """
    import transformers  # only here: reading configs and tensors does not need it

    path = Path(folder)
    if not any(all((path / name).is_file() for name in files) for files in TOKENIZER_FILES):
        raise InputError(f"{path} has no tokenizer files for {kind} (tokenizer.json, or vocab.json and merges.txt)")
    try:
        return getattr(transformers, kind).from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"cannot load the {kind} tokenizer in {path}: {err}") from err
