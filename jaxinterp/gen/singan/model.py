"""SinGAN's per-scale generator and patch critic (official `models.py`).

Both are fully convolutional with the same trunk: a head ConvBlock(3 -> N), `num_layer - 2` body
ConvBlocks(N -> N) and a tail conv. The generator's tail is Conv(N -> 3) + tanh, added to the
(centre-cropped) upsampled image from the coarser scale, so each scale learns a residual. The critic's
tail is Conv(N -> 1) with no activation: a map of patch scores.

Neither pads its convolutions: callers zero-pad the generator's inputs by `cfg.pad` (5 px), so the
generator's output has the unpadded size and the critic's score map is 10 px smaller than its input.

Masked critic (IDC): given a known map, every BatchNorm normalises with statistics over the positions
whose receptive field holds only known pixels (upstream IDC's `WDiscriminatorMask`), so the hole's
content cannot shift the statistics that the visible patches' scores are computed with.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.gen.layers import Conv, ConvBlock, erode_valid


class Trunk(nn.Module):
    """Head + body ConvBlocks."""

    channels: int
    num_layer: int
    kernel_size: int

    @nn.compact
    def __call__(self, x, train: bool, known=None):
        """`known` (b, h, w): 1 = visible input pixel; each block's BatchNorm statistics then cover only the
        positions whose receptive field is all visible (IDC's masked critic)."""
        for _ in range(self.num_layer - 1):
            if known is not None:
                known = erode_valid(known, self.kernel_size)
            x = ConvBlock(self.channels, self.kernel_size)(x, train, None if known is None else known[..., None])
        return x


class Generator(nn.Module):
    """G_n(z_padded, prev_padded) = tanh(tail(trunk(z_padded))) + crop(prev_padded)."""

    channels: int
    num_layer: int = 5
    kernel_size: int = 3
    out_channels: int = 3

    @nn.compact
    def __call__(
        self, noisy_input: Float[Array, "b H W c"], prev_padded: Float[Array, "b H W c"], train: bool
    ) -> Float[Array, "b h w c"]:
        x = Trunk(self.channels, self.num_layer, self.kernel_size)(noisy_input, train)
        x = jnp.tanh(Conv(self.out_channels, self.kernel_size)(x))
        crop_h = (prev_padded.shape[1] - x.shape[1]) // 2
        crop_w = (prev_padded.shape[2] - x.shape[2]) // 2
        return x + prev_padded[:, crop_h : crop_h + x.shape[1], crop_w : crop_w + x.shape[2]]


class Critic(nn.Module):
    """Markovian patch critic D_n: image -> score map (no activation)."""

    channels: int
    num_layer: int = 5
    kernel_size: int = 3

    @nn.compact
    def __call__(
        self, image: Float[Array, "b h w c"], train: bool = True, known: Float[Array, "b h w"] | None = None
    ) -> Float[Array, "b h' w' 1"]:
        """`known` restricts the BatchNorm statistics to positions that see only known pixels (`Trunk`)."""
        x = Trunk(self.channels, self.num_layer, self.kernel_size)(image, train, known)
        return Conv(1, self.kernel_size)(x)
