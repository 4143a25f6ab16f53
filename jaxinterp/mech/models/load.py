"""One entry point for local checkpoints: `load_pretrained(path)` reads a Hugging Face folder (the loader is
picked by `config.json`'s `model_type`) or a GGUF file (a `.gguf` path, or a folder whose only checkpoint is
one `.gguf` and no `config.json`; see `jaxinterp.gguf`), which becomes the same config dict and HF-named
tensors and goes through the same LLaMA-like builder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from penzai.models.transformer import model_parts

from jaxinterp.errors import InputError
from jaxinterp.gguf import gguf_config, gguf_file, open_gguf, read_gguf, read_metadata
from jaxinterp.hf import field, read_config
from jaxinterp.mech.models.gpt2 import load_gpt2
from jaxinterp.mech.models.gpt_neox import load_gpt_neox
from jaxinterp.mech.models.llamalike import MODEL_TYPES as LLAMALIKE_TYPES
from jaxinterp.mech.models.llamalike import llamalike_from_tensors, load_llamalike

# config.json `model_type` -> loader(folder, dtype).
LOADERS: dict[str, Callable[..., model_parts.TransformerLM]] = {
    **dict.fromkeys(LLAMALIKE_TYPES, load_llamalike),
    "gpt_neox": load_gpt_neox,
    "gpt2": load_gpt2,
}


def load_pretrained(folder: str | Path, dtype: Any = np.float32) -> model_parts.TransformerLM:
    """Loads a local checkpoint into a penzai `TransformerLM`, without PyTorch.

    Args:
      folder: HF checkpoint folder (`config.json` + single-file or sharded safetensors), a `.gguf` file, or
        a folder holding one `.gguf` and no `config.json` (quantised tensors are dequantised).
      dtype: dtype of parameters and activations (default float32).

    Returns:
      Model mapping int tokens {batch, seq} to logits {batch, seq, vocabulary}.

    Raises:
      InputError: missing folder/file/tensor, wrong tensor shape, an unsupported `model_type` or GGUF
        architecture / tensor type, or a truncated GGUF file.
    """
    path = gguf_file(folder)
    if path is not None:
        config, tensors = read_gguf(path, dtype)
        return llamalike_from_tensors(config, tensors, dtype)
    model_type = field(read_config(folder), "model_type")
    if model_type not in LOADERS:
        raise InputError(
            f"config.json field model_type = {model_type!r} is not supported; supported: {', '.join(sorted(LOADERS))}"
        )
    return LOADERS[model_type](folder, dtype)


def checkpoint_config(path: str | Path) -> dict[str, Any]:
    """The `config.json` dict of a checkpoint: the folder's file, or the one a GGUF file's metadata describes.

    For a GGUF file, the EOS/BOS/pad ids come from its tokenizer metadata (`eos_token_id`, ...).
    """
    gguf_path = gguf_file(path)
    if gguf_path is None:
        return read_config(path)
    reader = open_gguf(gguf_path)
    return gguf_config(reader, read_metadata(reader))
