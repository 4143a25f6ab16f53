"""IDC's configuration: SinGAN's networks, pyramid and losses (it is a SinGAN fork) with IDC's changes.

Defaults are the official NoaAlkobi/IDC code (`4698e11`, read via /work/shared/references/gen.md) unless
marked as our decision. IDC is a `SinGANConfig` with more fields, so SinGAN's generator, critic, sampling
and training iteration take it unchanged.
"""

from __future__ import annotations

import dataclasses

from jaxinterp.cli_options import option
from jaxinterp.errors import InputError
from jaxinterp.gen.singan.config import PRESETS as SINGAN_PRESETS
from jaxinterp.gen.singan.config import SinGANConfig, at_least


@dataclasses.dataclass(frozen=True)
class IDCConfig(SinGANConfig):
    """Hyper-parameters of one IDC pyramid (SinGAN's fields plus the ones below)."""

    max_size: int = option(256, "longer side of the finest scale (paper: 256)")  # IDC's (SinGAN: 250)
    niter: int = option(2000, "iterations per unmasked scale (paper: 2000; masked scales get 1.5x, paper 3000)")
    alpha_fine: float = 100.0  # reconstruction weight of the finest floor(num_scales / 3) (>= 1) scales.
    mask_threshold: float = 0.5  # mask PNG value above which a pixel is in the hole (white = hole).
    # Our decision: a pixel of a coarser level is known only if every input pixel it blends is known
    # (its resized known-map is >= this), so no hole colour leaks into the critic's real patches.
    known_threshold: float = 0.999
    # Sampling: fresh noise inside the hole dilated by this many pixels at every scale (upstream dilates
    # the hole; the radius is our decision: the generator's half receptive field, 5 px).
    hole_dilation: int = 5
    # Reconstruction weight (upstream `dilate_mask` in train_single_scale): the hole dilated by a disk of
    # radius min(scale, rec_max_dilation), blurred with a Gaussian of this sigma (px); see masks.py.
    rec_blur_sigma: float = 5.0
    rec_max_dilation: int = 5

    # Masked scales' schedule (upstream main loop: opt.lr = opt.lr_mask, opt.niter = opt.niter_mask,
    # opt.decrease_LR = 3500; G and D alike). The drop at 3500 comes after the 3000th iteration, so on
    # masked scales the rate never drops. Scales below the first masked one keep SinGAN's schedule.
    niter_masked: int = 3000  # upstream --niter_mask
    lr_masked: float = 5e-5  # upstream --lr_mask
    lr_milestone_masked: int = 3500

    # Deep-Image-Prior pre-fill of the scales below the first masked one (upstream calc_init_inpaint).
    dip_iters: int = 1001
    dip_lr: float = 1e-3  # Adam, default betas
    dip_channels: int = 128  # every level of the skip net
    dip_reg_noise: float = 0.03  # std of the fresh noise added to the fixed input code
    dip_colour_weight: float = 0.05  # weight of the nearest-visible-colour loss on hole pixels

    # Iteration counts that `with_niter` scales with `niter` (SinGAN's drop and the masked scales').
    schedule_fields = ("lr_milestone", "niter_masked", "lr_milestone_masked")

    def __post_init__(self):
        super().__post_init__()
        at_least(self, 1, "niter_masked", "lr_milestone_masked", "dip_iters", "dip_channels")
        at_least(self, 0, "hole_dilation", "rec_max_dilation", "rec_blur_sigma")
        for name in ("mask_threshold", "known_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be in (0, 1], got {getattr(self, name)}")

    def masked_schedule(self) -> IDCConfig:
        """This config with the masked scales' iterations, learning rates and drop in SinGAN's fields."""
        return self.replace(
            niter=self.niter_masked, lr_g=self.lr_masked, lr_d=self.lr_masked, lr_milestone=self.lr_milestone_masked
        )

    def fine_scales(self, num_scales: int) -> int:
        """How many of the finest scales use `alpha_fine`: floor(stop_scale / 3), at least 1."""
        return max(1, (num_scales - 1) // 3)


PRESETS: dict[str, IDCConfig] = {
    # IDC's settings (see train.py for what differs).
    "paper": IDCConfig(),
    # A CPU demo, SinGAN's fast preset (64 px finest level, r0 = 0.6: 3 scales, 200 iterations per scale)
    # with 300 per masked scale and 301 pre-fill iterations (the paper's 2000 / 3000 / 1001 scaled by ~1/10)
    # and the paper's learning rates.
    "fast": SINGAN_PRESETS["fast"].derive(IDCConfig, niter_masked=300, lr_milestone_masked=350, dip_iters=301),
    # For tests: tiny and quick (a 40 px test image gives 2 levels, 24 and 32 px); one critic and one
    # generator step per iteration (as SinGAN's tiny preset), which makes each scale's program ~3x faster to
    # compile.
    "tiny": SINGAN_PRESETS["tiny"].derive(
        IDCConfig,
        max_size=32,
        min_size=24,
        scale_factor_init=0.6,
        nfc_max=8,
        niter=6,
        niter_masked=9,
        lr_milestone=1000,  # no drop: the tests' loss check runs this scale-0 program for longer
        lr_milestone_masked=1000,
        iters_per_call=3,
        checkpoint_every=3,
        hole_dilation=2,
        dip_iters=6,
        dip_channels=8,
    ),
}
