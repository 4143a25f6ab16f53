"""MAIA (Rott Shaham et al., ICML 2024): a multimodal agent that explains vision units with experiments.

Offline pieces first: `render` (procedural scenes with exact concept masks; the offline text2image and editor),
`dataset` (the TFDS exemplar pool), `neurons` (synthetic mono / OR / AND neurons with exact ground truth),
`describer` (a NetDissect-style offline describer, the baseline).
"""
