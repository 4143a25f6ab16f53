"""The models that `jaxinterp.mech` takes apart: penzai transformers built from configs or HF checkpoints.

The split: this package builds and loads models, the rest of `jaxinterp.mech` holds the tools that take
them apart (patching, attribution, ablation, circuits, ...) and only needs the penzai model they return.

- `load.py`: `load_pretrained(folder)`, one entry point that picks the loader by `config.json` `model_type`;
- `llamalike.py` (llama, mistral, qwen2), `gpt_neox.py` (GPT-NeoX / Pythia), `gpt2.py` (GPT-2, built from
  penzai's layers since penzai has no GPT-2): each maps a HF config and its tensors to a penzai `TransformerLM`;
- `hf_params.py`: the penzai half of reading a checkpoint (named arrays, binding parameter slots);
- `hf_export.py`: the way back, a penzai LLaMA-like model written as a HF checkpoint folder.

Reading the folder itself (config.json, safetensors, tokenizer, activation names) is `jaxinterp.hf`, which
knows nothing of penzai so that other model families (the Flax CLIP of `jaxinterp.agent.checkup`) share it.
"""
