"""One entry point for local Hugging Face checkpoints: `load_pretrained(folder)` picks the loader by `model_type`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from penzai.models.transformer import model_parts

from jaxinterp.errors import InputError
from jaxinterp.hf import field, read_config
from jaxinterp.mech.models.gpt2 import load_gpt2
from jaxinterp.mech.models.gpt_neox import load_gpt_neox
from jaxinterp.mech.models.llamalike import MODEL_TYPES as LLAMALIKE_TYPES
from jaxinterp.mech.models.llamalike import load_llamalike

# config.json `model_type` -> loader(folder, dtype).
LOADERS: dict[str, Callable[..., model_parts.TransformerLM]] = {
    **dict.fromkeys(LLAMALIKE_TYPES, load_llamalike),
    "gpt_neox": load_gpt_neox,
    "gpt2": load_gpt2,
}


def load_pretrained(folder: str | Path, dtype: Any = np.float32) -> model_parts.TransformerLM:
    """Loads a local HF checkpoint folder (`config.json` + safetensors) into a penzai `TransformerLM`.

    Args:
      folder: checkpoint folder, single-file or sharded safetensors; no PyTorch needed.
      dtype: dtype of parameters and activations (default float32).

    Returns:
      Model mapping int tokens {batch, seq} to logits {batch, seq, vocabulary}.

    Raises:
      InputError: missing folder/file/tensor, wrong tensor shape, or an unsupported `model_type`.
    """
    model_type = field(read_config(folder), "model_type")
    if model_type not in LOADERS:
        raise InputError(
            f"config.json field model_type = {model_type!r} is not supported; supported: {', '.join(sorted(LOADERS))}"
        )
    return LOADERS[model_type](folder, dtype)
