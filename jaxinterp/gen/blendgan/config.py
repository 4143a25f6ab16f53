"""BlendGAN's configuration.

The paper's text beyond its abstract was not available and there is no public code (see
`/work/shared/references/gen.md`, section 5), so every default is SinGAN's (the official
tamarott/SinGAN values, `singan/config.py`): BlendGAN is described as an extension of single-image
pyramid GANs, and the abstract names no other setting.
"""

from __future__ import annotations

import dataclasses

from jaxinterp.errors import InputError
from jaxinterp.gen.singan.config import PRESETS as SINGAN_PRESETS
from jaxinterp.gen.singan.config import SinGANConfig


@dataclasses.dataclass(frozen=True)
class BlendGANConfig(SinGANConfig):
    """SinGAN's hyper-parameters (pyramid, networks, noise, optimiser, losses), unchanged.

    A class of its own so a run records which model it is and has its own presets. Decisions:
    `niter` stays SinGAN's 2000 per scale although each iteration fits only one of the K images
    adversarially (each image gets ~2000/K critic rounds), because the reconstruction term updates
    every image at every generator step; `alpha` weighs the mean of the K reconstruction errors, so
    K does not change the balance with the adversarial term (see train.py).
    """

    # Our decision (fusion-aware training, 0 = off): the probability that an iteration's frozen
    # coarser scales run under another image's identity, below a random switch scale, while scale n
    # learns image k's patches adversarially (see train.py).
    cross_identity_prob: float = 0.0
    # Engineering (no effect on the maths): unroll the critic and generator steps of an iteration
    # (faster on CPU, as SinGAN does) or keep them a loop (one copy to compile: the tiny preset, where
    # XLA's compilation, ~70 s on 2 busy cores for 2 scales, dwarfs the iterations).
    unroll_steps: bool = True

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.cross_identity_prob <= 1.0:
            raise InputError(f"cross_identity_prob must be in [0, 1], got {self.cross_identity_prob}")
        if self.redraw_coarsest_rec_noise:
            raise InputError("BlendGAN keeps each image's scale-0 reconstruction noise fixed (redraw is not supported)")


_FAST = SINGAN_PRESETS["fast"].derive(BlendGANConfig).with_niter(300)

PRESETS: dict[str, BlendGANConfig] = {
    # SinGAN's settings (the abstract gives no others): r0 0.75, 25 px coarsest side, 250 px finest,
    # 2000 iterations per scale, 32 channels (64 from scale 4). For builtin:coffee + builtin:chelsea
    # that is 8 scales, 25x38 ... 167x250 px (coarsest side 15% of the output's, room for fusion).
    # Not run here: scaling the `fast` run's finest scale (43x64 px, 32 channels, 300 iterations,
    # ~3 min on 2 CPU cores) by pixels (x15), channels (x4 in FLOPs) and iterations (x6.7) puts the
    # finest scale alone near a day on 2 CPU cores. What was run instead (train.py, "Measured"):
    # `fast` and `fusion`, the same networks and losses at 43x64 px with 300 iterations per scale.
    "paper": BlendGANConfig(),
    # A CPU demo: SinGAN's `fast` preset (3 scales, 25-64 px), 300 iterations per scale since the
    # iterations are shared between the images.
    "fast": _FAST,
    # A CPU preset for structure-texture fusion: `fast` with a coarsest level of 12 px (4 scales,
    # 12x18 ... 43x64 px for builtin:coffee), so the structure image can be left at a level 2-4x
    # coarser than the output, and fusion-aware training. Measured in train.py: it fuses where
    # `fast` returns the structure image, but melds are looser (its coarse scales invent more).
    "fusion": _FAST.replace(min_size=12, cross_identity_prob=0.5),
    # For tests: tiny and quick. r0 = 0.5 and 22-36 px give a 2-scale pyramid for builtin:coffee
    # (22x33, 24x36); compilation, not iterations, dominates its run time. SinGAN's tiny networks
    # (8-16 channels) with the paper's 3 critic and 3 generator steps per iteration, kept a loop.
    "tiny": SINGAN_PRESETS["tiny"].derive(
        BlendGANConfig,
        max_size=36,
        min_size=22,
        scale_factor_init=0.5,
        d_steps=3,
        g_steps=3,
        niter=40,
        lr_milestone=32,
        checkpoint_every=40,
        unroll_steps=False,
    ),
}
