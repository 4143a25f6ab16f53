"""SinGAN's configuration, with the defaults of the paper and the official code (tamarott/SinGAN).

Every default below is upstream's `config.py` / `training.py` value unless marked as our decision.
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class SinGANConfig:
    """Hyper-parameters of one SinGAN pyramid."""

    # Pyramid (official adjust_scales2image).
    scale_factor_init: float = 0.75  # r0; re-solved so the coarsest level is exactly min_size.
    min_size: int = 25  # shorter side of the coarsest level (px).
    max_size: int = 250  # longer side of the finest level (px).
    # Networks (official models.py): 5 conv layers, 3x3, no padding -> 11x11 receptive field per scale.
    num_layer: int = 5
    kernel_size: int = 3
    nfc_init: int = 32  # channels at scales 0-3; doubled every 4 scales ...
    nfc_max: int = 128  # ... and capped here.
    channels_double_every: int = 4
    # Noise.
    noise_amp_init: float = 0.1  # noise_amp_n = 0.1 * RMSE(real_n, upsampled reconstruction).
    # Training (official training.py).
    niter: int = 2000  # iterations per scale.
    d_steps: int = 3
    g_steps: int = 3
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_milestone: int = 1600  # MultiStepLR milestone (in iterations) ...
    lr_gamma: float = 0.1  # ... and its factor.
    gp_weight: float = 0.1  # WGAN-GP lambda.
    alpha: float = 10.0  # reconstruction weight (100 for super-resolution).
    # Our decisions (see singan/train.py): upstream re-draws the coarsest reconstruction noise every
    # iteration (its issue #33); the paper fixes z*. False follows the paper.
    redraw_coarsest_rec_noise: bool = False
    # Engineering knobs (no effect on the maths).
    iters_per_call: int = 50  # iterations per progress/NaN check; one lax.scan call on GPU/TPU.
    checkpoint_every: int = 500  # iterations between in-scale checkpoints (a multiple of iters_per_call).
    seed: int = 0

    def channels(self, scale: int) -> int:
        """N = min(32 * 2^floor(n/4), 128) (official `train`)."""
        return min(self.nfc_init * 2 ** (scale // self.channels_double_every), self.nfc_max)

    @property
    def pad(self) -> int:
        """Zero padding of noise and image inputs: (k - 1) * num_layer / 2 = 5 px."""
        return (self.kernel_size - 1) * self.num_layer // 2

    def replace(self, **changes) -> SinGANConfig:
        return dataclasses.replace(self, **changes)

    def for_super_resolution(self, factor: float = 4.0) -> SinGANConfig:
        """Upstream SR.py's training settings: min_size 18, alpha 100 and r0 = factor^(-1/k),
        k = round(log(1/factor) / log(2^(-1/3))) (x4 -> k = 6, r0 ~= 0.794)."""
        k = max(1, round(math.log(1 / factor, math.pow(0.5, 1 / 3))))
        return dataclasses.replace(self, min_size=18, alpha=100.0, scale_factor_init=math.pow(factor, -1 / k))


PRESETS: dict[str, SinGANConfig] = {
    # The paper's settings.
    "paper": SinGANConfig(),
    # A CPU demo (quickstart): the paper's networks and pyramid rule with r0 = 0.6 and a 64 px finest
    # scale, so the pyramid has 3 scales (25, 40, 64 px), all below the channel doubling at scale 4,
    # and 200 iterations per scale: about 3 minutes on 2 CPU cores.
    "fast": SinGANConfig(max_size=64, scale_factor_init=0.6, niter=200, lr_milestone=160, checkpoint_every=100),
    # For tests: tiny and quick. One critic and one generator update per iteration (the paper: 3 and 3):
    # the unrolled step is what XLA compiles, and compiling dominates a tiny run (48 -> 31 s per run).
    "tiny": SinGANConfig(
        max_size=40,
        min_size=20,
        nfc_init=8,
        nfc_max=16,
        d_steps=1,
        g_steps=1,
        niter=20,
        lr_milestone=16,
        iters_per_call=10,
        checkpoint_every=10,
    ),
}
