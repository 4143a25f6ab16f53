"""Mechanistic interpretability of transformers, read as models then tools.

`models/` builds and loads the penzai transformers (HF checkpoints, GPT-2, the LLaMA-like export); the
modules here are the tools that take them apart: patching and path patching, attribution, ablation,
circuits (DCM, CMAP), the synthetic tasks and training that make small models to study.
"""
