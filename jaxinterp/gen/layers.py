"""Convolution blocks shared by the single-image GANs, with PyTorch-equivalent initialisers.

SinGAN's `ConvBlock` is Conv(k x k, stride 1, no padding) -> BatchNorm -> LeakyReLU(0.2); its
`weights_init` draws conv weights from N(0, 0.02) and BatchNorm scales from N(1, 0.02) with zero
offsets, and leaves conv biases at PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which we
reproduce (Flax would start them at zero).

BatchNorm runs on a batch of one image, so its statistics are taken over the spatial axes. PyTorch's
running-average momentum 0.1 is Flax's `momentum=0.9`. Frozen generators use the running averages
(`train=False`), as the official code does after `G.eval()`.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.gen.conv import conv_general_dilated


def normal_init(mean: float, stddev: float):
    """Initialiser N(mean, stddev^2)."""

    def init(key, shape, dtype=jnp.float32):
        return mean + stddev * jax.random.normal(key, shape, dtype)

    return init


def torch_bias_init(fan_in: int):
    """PyTorch's default conv bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Conv(nn.Module):
    """k x k 'VALID' convolution with SinGAN's initialisers; its derivatives of every order are plain
    convolutions (`gen/conv.py`), which keeps WGAN-GP's double backward fast on CPU."""

    features: int
    kernel_size: int = 3

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1] * self.kernel_size**2
        return nn.Conv(
            self.features,
            (self.kernel_size, self.kernel_size),
            padding="VALID",
            kernel_init=normal_init(0.0, 0.02),
            bias_init=torch_bias_init(fan_in),
            conv_general_dilated=conv_general_dilated,
        )(x)


def erode_valid(mask: Float[Array, "*b h w"], size: int) -> Float[Array, "*b h2 w2"]:
    """1 where a `size` x `size` VALID window of `mask` holds only 1s (h2 = h - size + 1): the outputs of an
    unpadded size x size convolution that see no masked-out input."""
    window = (1,) * (mask.ndim - 2) + (size, size)
    return jax.lax.reduce_window(mask, jnp.inf, jax.lax.min, window, (1,) * mask.ndim, "VALID")


class ConvBlock(nn.Module):
    """Conv -> BatchNorm -> LeakyReLU(0.2)."""

    features: int
    kernel_size: int = 3

    @nn.compact
    def __call__(self, x, train: bool, mask=None):
        """`mask` (b, h', w', 1) of the conv's output positions, 1 = in the BatchNorm statistics (IDC's
        masked critic); None = every position."""
        x = Conv(self.features, self.kernel_size)(x)
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=0.9,
            epsilon=1e-5,
            scale_init=normal_init(1.0, 0.02),
        )(x, mask=None if mask is None else mask.astype(bool))
        return nn.leaky_relu(x, 0.2)
