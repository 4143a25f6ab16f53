"""GGUF file -> Hugging Face checkpoint folder, so that tools that read only HF folders (transformers,
`load_pretrained`'s safetensors path) can use a llama.cpp checkpoint.

The folder holds what transformers 5 writes for a float32 model: `config.json` (the dict `jaxinterp.gguf`
builds from the metadata, plus `transformers_version`), `model.safetensors` (every tensor dequantised to
float32, Q/K rows in HF order; no `lm_head.weight` when the embeddings are tied, as `save_pretrained`
does), and the tokenizer's files from its `save_pretrained` (`tokenizer.json`, `tokenizer_config.json`, and
the chat template). Decided: the weights stay float32, not re-quantised: quantisation is not lossless to
repeat, and the folder is for analysis, where float32 is what the models run in.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.numpy import save_file

from jaxinterp.errors import InputError
from jaxinterp.gguf import gguf_config, gguf_file, gguf_tokenizer, hf_tensors, open_gguf, read_metadata


def convert_gguf(path: str | Path, out: str | Path) -> Path:
    """Writes the HF folder of a GGUF checkpoint.

    Args:
      path: a `.gguf` file, or a folder holding one (and no `config.json`).
      out: output folder; created if absent; its `config.json`, `model.safetensors` and tokenizer files are
        overwritten.

    Returns:
      `out` as a Path.

    Raises:
      InputError: not a GGUF file, a truncated file, or an architecture / tensor type that is not supported.
    """
    source = gguf_file(path)
    if source is None:
        raise InputError(f"{path} is not a .gguf file nor a folder holding one")
    reader = open_gguf(source)
    meta = read_metadata(reader)
    config = gguf_config(reader, meta)
    tensors = hf_tensors(reader, config)
    tokenizer = gguf_tokenizer(meta)  # before writing anything, so a bad file leaves no half folder
    if config["tie_word_embeddings"]:
        tensors.pop("lm_head.weight", None)
    import transformers  # only for its version number; already imported by the tokenizer

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {**config, "transformers_version": transformers.__version__}
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    tokenizer.save_pretrained(out)
    return out
