"""Hugging Face checkpoint arrays -> penzai parameters: the penzai half of reading a checkpoint.

`jaxinterp.hf` reads a folder into plain numpy arrays under their HF names; the loaders of this package
(`llamalike.py`, `gpt_neox.py`, `gpt2.py`) map those names to penzai parameter labels with the helpers
here: `named` gives a flat HF array penzai's named axes, `bind_parameters` fills an unbound model's
parameter slots, and `embedding_values` handles the token embedding and the (possibly tied) logits head.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.hf import field, take


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
