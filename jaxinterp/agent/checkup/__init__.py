"""A vision check-up for language models (Sharma, Rott Shaham et al., CVPR 2024), runnable offline.

Language models never see pixels here, yet they can draw: asked for "a bicycle", a model writes a matplotlib
program whose image shows one. This package measures that and uses it:

- `concepts`: the three concept groups (shapes, objects, scenes) as data;
- `drawer`: an offline drawer that writes real matplotlib programs from templates (randomised parameters),
  standing in for the model so everything runs with no API;
- `render`: runs drawing programs in `jaxinterp.agent.sandbox` (time / memory / file limits, no network),
  one to a PNG or thousands in batches;
- `llm`: the prompts, code extraction, text feedback, and `OfflineDrawer` (the drawer as a chat backend);
- `run`: `generate` (samples per concept) and `correct` (the text-feedback loop), with fidelity and diversity;
- `recognise` / `measures`: recognisers (an offline shape classifier, MAIA's subject, any CLIP-style pair of
  encoders) and the retrieval fidelity / pairwise-distance diversity computed from them;
- `ssl` / `probe` / `pretrain`: SimCLR on code-rendered images vs random noise, linear probe on real digits;
- `gallery`: one drawing per concept (the quickstart's section).

Run it with `jaxinterp checkup generate|correct|pretrain`.
"""
