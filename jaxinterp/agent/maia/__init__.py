"""MAIA (Rott Shaham et al., ICML 2024): a multimodal agent that explains vision units with experiments.

Pieces, each usable alone:
- `render`: procedural scenes (shapes, colours, textures, objects, backgrounds) with exact concept masks; the
  offline text2image and editor, and the prompt parser;
- `dataset`: the TFDS exemplar pool of rendered scenes with their concept maps;
- `neurons`: synthetic mono / OR / AND neurons with exact ground truth;
- `describer`: the offline NetDissect-style describer (the embedded default and the baseline row);
- `predictive`: MAIA's predictive evaluation; `benchmark`: the synthetic-neuron benchmark;
- `subject` / `pretrained`: small CNN / ViT subjects trained in-repo, or a user's Flax model from a folder;
- `system` / `tools` / `images`: MAIA's `System` and `Tools` (exemplars, text2image, edit_images, describe /
  summarize, display, save_experiment_log) with procedural or HTTP image generation;
- `prompts` / `runner` / `agent`: the API prompt generated from the code, the sandboxed experiment runner and the
  v1 / v2 interpretation loop; `run` / `cli`: `jaxinterp maia describe|benchmark|train`.
"""
