"""IDC, internal diverse image completion (Alkobi, Rott Shaham, Michaeli 2022): a SinGAN pyramid trained on
the visible part of one image, sampled with fresh noise inside the hole.

config.py (IDCConfig, presets), masks.py (mask pyramid, critic-score mask, reconstruction weight, first
masked scale), prefill.py (Deep-Image-Prior pre-fill of the coarse scales), train.py (the Recipe on the
shared `gen/pyramid_train`), complete.py (completions + metrics), store.py (runs on disk), cli.py,
demo.py (the quickstart section).
"""
