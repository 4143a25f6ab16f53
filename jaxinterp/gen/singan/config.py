"""SinGAN's configuration, with the defaults of the paper and the official code (tamarott/SinGAN).

Every default below is upstream's `config.py` / `training.py` value unless marked as our decision.
"""

from __future__ import annotations

import dataclasses
import math

from jaxinterp.cli_options import option
from jaxinterp.errors import InputError


@dataclasses.dataclass(frozen=True)
class SinGANConfig:
    """Hyper-parameters of one SinGAN pyramid."""

    # Pyramid (official adjust_scales2image).
    scale_factor_init: float = 0.75  # r0; re-solved so the coarsest level is exactly min_size.
    min_size: int = option(25, "shorter side of the coarsest scale (paper: 25)")  # px
    max_size: int = option(250, "longer side of the finest scale (paper: 250)")  # px
    # Networks (official models.py): 5 conv layers, 3x3, no padding -> 11x11 receptive field per scale.
    num_layer: int = 5
    kernel_size: int = 3
    nfc_init: int = 32  # channels at scales 0-3; doubled every 4 scales ...
    nfc_max: int = 128  # ... and capped here.
    channels_double_every: int = 4
    # Noise.
    noise_amp_init: float = 0.1  # noise_amp_n = 0.1 * RMSE(real_n, upsampled reconstruction).
    # Training (official training.py).
    niter: int = option(2000, "iterations per scale (paper: 2000)")
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
    seed: int = option(0, "random seed")

    # Fields counted in iterations of a scale, which `with_niter` rescales with `niter`.
    schedule_fields = ("lr_milestone",)

    def __post_init__(self):
        """Raises `InputError` for settings no pyramid can use."""
        at_least(self, 1, "min_size", "num_layer", "kernel_size", "nfc_init", "nfc_max", "channels_double_every")
        at_least(self, 1, "niter", "d_steps", "g_steps", "iters_per_call", "checkpoint_every")
        at_least(self, 0, "lr_milestone", "noise_amp_init", "gp_weight", "alpha")
        if self.max_size < self.min_size:
            raise InputError(f"max_size ({self.max_size}) must be at least min_size ({self.min_size})")
        if not 0.0 < self.scale_factor_init < 1.0:
            raise InputError(f"scale_factor_init must be between 0 and 1, got {self.scale_factor_init}")
        if self.kernel_size % 2 == 0:
            raise InputError(f"kernel_size must be odd, got {self.kernel_size}")
        if self.checkpoint_every % self.iters_per_call:
            raise InputError("checkpoint_every must be a multiple of iters_per_call")

    def channels(self, scale: int) -> int:
        """N = min(32 * 2^floor(n/4), 128) (official `train`)."""
        return min(self.nfc_init * 2 ** (scale // self.channels_double_every), self.nfc_max)

    @property
    def pad(self) -> int:
        """Zero padding of noise and image inputs: (k - 1) * num_layer / 2 = 5 px."""
        return (self.kernel_size - 1) * self.num_layer // 2

    def replace(self, **changes) -> SinGANConfig:
        return dataclasses.replace(self, **changes)

    def with_niter(self, niter: int) -> SinGANConfig:
        """`niter` iterations per scale, the other iteration counts of the schedule (`schedule_fields`: the
        learning-rate drop, IDC's masked-scale counts) scaled by the same factor (at least 1)."""
        if niter < 1:
            raise InputError(f"niter must be at least 1, got {niter}")
        scaled = {name: max(1, round(getattr(self, name) * niter / self.niter)) for name in self.schedule_fields}
        return self.replace(niter=niter, **scaled)

    def derive(self, cls: type, **changes):
        """These settings as a `cls`, a subclass with more fields (at their defaults unless in `changes`)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return cls(**{**values, **changes})

    def for_super_resolution(self, factor: float = 4.0) -> SinGANConfig:
        """Upstream SR.py's training settings: min_size 18, alpha 100 and r0 = factor^(-1/k),
        k = round(log(1/factor) / log(2^(-1/3))) (x4 -> k = 6, r0 ~= 0.794)."""
        if not factor > 1.0:
            raise InputError(f"the super-resolution factor must be above 1, got {factor}")
        k = max(1, round(math.log(1 / factor, math.pow(0.5, 1 / 3))))
        return dataclasses.replace(self, min_size=18, alpha=100.0, scale_factor_init=math.pow(factor, -1 / k))


def at_least(cfg, minimum: float, *names: str) -> None:
    """Raises `InputError` naming the first of `cfg`'s fields `names` below `minimum`."""
    for name in names:
        if getattr(cfg, name) < minimum:
            raise InputError(f"{name} must be at least {minimum}, got {getattr(cfg, name)}")


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
