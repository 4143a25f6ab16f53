"""BlendGAN's per-scale generator and patch critic: SinGAN's (`singan/model.py`: 5 VALID 3x3 convs,
BatchNorm, LeakyReLU(0.2), residual tanh generator, score-map critic) conditioned on the identity map.

The map enters twice:
  * concatenated to the input (K extra channels), as the task asks; on its own this does nothing
    useful: a spatially constant map adds a constant to every first-layer feature, which the
    batch-of-one BatchNorm (statistics over the image's pixels) subtracts again;
  * in every normalisation layer (our decision, not from the paper): SinGAN's BatchNorm (a batch of
    one image, statistics over its pixels) taken per identity region (`MapNorm`), followed by a
    per-pixel scale and shift mixed from per-image vectors by the map,
    x_hat * (m @ Gamma) + m @ Beta, Gamma, Beta of shape (K, channels) (class-conditional BatchNorm
    made spatial, as SPADE does with a label map). A one-hot map picks image k's own normalisation;
    soft maps interpolate it; the map is centre-cropped to each layer's (shrinking) size.
There are no running averages: frozen scales normalise like training (SinGAN's running averages
would pool all K identities). Gamma starts at N(1, 0.02) and Beta at 0 for every image, SinGAN's
BatchNorm initialisation.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from jaxinterp.gen.layers import Conv, normal_init


def centre_crop(x: Float[Array, "b H W c"], hw: tuple[int, int]) -> Float[Array, "b h w c"]:
    top, left = (x.shape[1] - hw[0]) // 2, (x.shape[2] - hw[1]) // 2
    return x[:, top : top + hw[0], left : left + hw[1]]


class MapNorm(nn.Module):
    """Region-wise normalisation, then x_hat * (m @ Gamma) + m @ Beta (the map m cropped to x's size).

    Each image k's mean and variance are taken over the pixels the map gives it (weighted by m_k),
    and every pixel is normalised by its map-mixed statistics. Under a spatially constant map this is
    exactly SinGAN's BatchNorm on a batch of one image in training mode; under a spatial map (meld)
    each region is normalised by its own statistics, as it was in training, instead of statistics
    pooled over all regions.
    """

    epsilon: float = 1e-5  # torch BatchNorm2d's default

    @nn.compact
    def __call__(self, x: Float[Array, "b h w c"], identity: Float[Array, "b H W k"]) -> Float[Array, "b h w c"]:
        m = centre_crop(identity, x.shape[1:3])
        weight = jnp.maximum(jnp.sum(m, axis=(1, 2)), 1e-6)[..., None]  # b k 1
        mean_k = jnp.einsum("bhwk,bhwc->bkc", m, x) / weight
        square_k = jnp.einsum("bhwk,bhwc->bkc", m, x**2) / weight
        mean = jnp.einsum("bhwk,bkc->bhwc", m, mean_k)
        var = jnp.maximum(jnp.einsum("bhwk,bkc->bhwc", m, square_k) - mean**2, 0.0)
        x_hat = (x - mean) * jax.lax.rsqrt(var + self.epsilon)
        shape = (identity.shape[-1], x.shape[-1])
        gamma = self.param("gamma", normal_init(1.0, 0.02), shape)
        beta = self.param("beta", nn.initializers.zeros, shape)
        return x_hat * (m @ gamma) + m @ beta


class CondTrunk(nn.Module):
    """num_layer - 1 blocks of Conv -> MapNorm -> LeakyReLU(0.2)."""

    channels: int
    num_layer: int
    kernel_size: int

    @nn.compact
    def __call__(self, x, identity):
        for _ in range(self.num_layer - 1):
            x = Conv(self.channels, self.kernel_size)(x)
            x = nn.leaky_relu(MapNorm()(x, identity), 0.2)
        return x


class CondGenerator(nn.Module):
    """G_n(concat(noisy, m), m, prev) = tanh(tail(trunk)) + crop(prev); inputs padded by the caller."""

    channels: int
    num_layer: int = 5
    kernel_size: int = 3

    @nn.compact
    def __call__(
        self,
        noisy_input: Float[Array, "b H W 3"],
        identity: Float[Array, "b H W k"],
        prev_padded: Float[Array, "b H W 3"],
    ) -> Float[Array, "b h w 3"]:
        x = jnp.concatenate([noisy_input, identity], axis=-1)
        x = CondTrunk(self.channels, self.num_layer, self.kernel_size)(x, identity)
        x = jnp.tanh(Conv(3, self.kernel_size)(x))
        return x + centre_crop(prev_padded, x.shape[1:3])


class CondCritic(nn.Module):
    """D_n(concat(image, m)) with map-conditioned normalisation: a map of patch scores."""

    channels: int
    num_layer: int = 5
    kernel_size: int = 3

    @nn.compact
    def __call__(self, image: Float[Array, "b h w 3"], identity: Float[Array, "b h w k"]) -> Float[Array, "b h' w' 1"]:
        x = jnp.concatenate([image, identity], axis=-1)
        x = CondTrunk(self.channels, self.num_layer, self.kernel_size)(x, identity)
        return Conv(1, self.kernel_size)(x)


def networks(cfg, scale: int) -> tuple[CondGenerator, CondCritic]:
    channels = cfg.channels(scale)
    return CondGenerator(channels, cfg.num_layer, cfg.kernel_size), CondCritic(channels, cfg.num_layer, cfg.kernel_size)
