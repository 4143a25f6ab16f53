"""Single-example generative models (SinGAN first; ASAPNet, Catch-A-Waveform, IDC, BlendGAN later).

Shared pieces live once here: `resize` (MATLAB-style bicubic), `pyramid` (multi-scale geometry),
`layers` (conv blocks and the paper's initialisers) and `gan_losses` (WGAN-GP).
"""
