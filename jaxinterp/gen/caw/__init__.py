"""Catch-A-Waveform (Greshler, Rott Shaham, Michaeli, NeurIPS 2021): a generative model of raw audio learnt
from one short recording (SinGAN's multi-scale idea for 1-D waveforms).

config.py (paper/official defaults, modes and presets), scales.py (the pyramid of sample rates, noise
amplitudes, receptive field and padding, on-device resampling between scales), model.py (per-scale
generator and critic), train.py (the recipe for the shared coarse-to-fine trainer `gen/pyramid_train.py`),
store.py, sampling.py, apps.py (generation of any duration, inpainting, bandwidth extension, denoising),
cli.py (`jaxinterp caw ...`), demo.py (the quickstart section).
"""
