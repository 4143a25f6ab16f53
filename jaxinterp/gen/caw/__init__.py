"""Catch-A-Waveform (Greshler, Rott Shaham, Michaeli, NeurIPS 2021): a generative model of raw audio learnt
from one short recording (SinGAN's multi-scale idea for 1-D waveforms).

config.py (paper/official defaults, modes and presets), scales.py (the pyramid of sample rates, noise
amplitudes, receptive field and padding, on-device resampling between scales), model.py (per-scale
generator and critic). The trainer and the applications (generation, bandwidth extension, inpainting,
denoising) come later and reuse SinGAN's pyramid trainer.
"""
