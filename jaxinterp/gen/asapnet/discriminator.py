"""SPADE's multi-scale PatchGAN discriminator, which ASAPNet trains against unchanged.

Official code (tamarott/ASAPNet `models/networks/discriminator.py` at f27f202, from NVlabs/SPADE):
`num_D=2` PatchGANs see the same input, concat(one-hot labels, image); the second sees it average-pooled by
3x3 windows, stride 2, padding 1, `count_include_pad=False`. Each PatchGAN (`n_layers_D=4`) is

  conv 4x4 s2 (ndf)                                   -> LeakyReLU(0.2)   [no norm, with bias]
  conv 4x4 s2 (2 ndf), ..., last of these with s1     -> SN + InstanceNorm -> LeakyReLU(0.2)
  conv 4x4 s1 -> 1 channel                            [no norm, with bias]

with channels doubling up to `ndf_max=512`, zero padding 2 on every conv (so each grows the map by one
pixel at stride 1), and "spectralinstance" norm: spectral norm on the conv weight, no conv bias (the
instance norm would cancel it), InstanceNorm without affine parameters, eps 1e-5. Weights start
xavier-normal with gain 0.02, biases at 0 (`init_type=xavier`, `init_variance=0.02`). Every block's output
is returned: the first n_layers_D are the features for feature matching, the last is the patch score map.

Spectral norm, pure-functionally: `flax.linen.SpectralNorm` keeps each weight's power-iteration vector `u`
(and the last sigma) in a separate variable collection, "spectral", which the train state carries next to
the D parameters. Like torch's `spectral_norm` in training mode, every forward pass runs one power
iteration, normalises the weight by the new sigma (gradients flow through sigma, not through u), and
writes u back (`update_stats=True`). Torch stores u in the output space and v in the input space of the
(out, in*k*k) matrix; Flax keeps u in the output space of the transposed (k*k*in, out) matrix, which is the
same power iteration. Decision: the pool after the last discriminator, which upstream computes and
discards, is skipped.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax.numpy as jnp
from jaxtyping import Array, Float

SPECTRAL = "spectral"  # variable collection holding the power-iteration state
Preds = tuple[tuple[Array, ...], ...]  # per discriminator: n_layers_D features, then the score map


def xavier_normal(gain: float):
    """torch.nn.init.xavier_normal_: N(0, gain^2 * 2 / (fan_in + fan_out)), untruncated."""
    return nn.initializers.variance_scaling(gain**2, "fan_avg", "normal")


def downsample(x: Float[Array, "b h w c"]) -> Float[Array, "b h2 w2 c"]:
    """3x3 average pool, stride 2, padding 1, borders averaged over the valid pixels only."""
    return nn.avg_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)), count_include_pad=False)


class PatchDiscriminator(nn.Module):
    """SPADE's `NLayerDiscriminator`; returns the output of every block (features..., score map)."""

    n_layers: int = 4  # --n_layers_D (ASAPNet's default; SPADE's is 3)
    ndf: int = 64  # --ndf
    ndf_max: int = 512  # --ndf_max
    init_gain: float = 0.02  # --init_variance (xavier gain)

    @nn.compact
    def __call__(self, x: Float[Array, "b h w c"], update_stats: bool = True) -> tuple[Array, ...]:
        conv = functools.partial(
            nn.Conv, kernel_size=(4, 4), padding=((2, 2), (2, 2)), kernel_init=xavier_normal(self.init_gain)
        )
        x = nn.leaky_relu(conv(self.ndf, strides=2)(x), 0.2)
        outputs = [x]
        width = self.ndf
        for n in range(1, self.n_layers):
            width = min(2 * width, self.ndf_max)
            stride = 1 if n == self.n_layers - 1 else 2
            layer = conv(width, strides=stride, use_bias=False)
            x = nn.SpectralNorm(layer, collection_name=SPECTRAL)(x, update_stats=update_stats)
            x = nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)(x)
            x = nn.leaky_relu(x, 0.2)
            outputs.append(x)
        outputs.append(conv(1, strides=1)(x))
        return tuple(outputs)


class MultiscaleDiscriminator(nn.Module):
    """`num_d` PatchGANs on concat(labels, image), each on a 2x coarser copy than the one before."""

    num_d: int = 2  # --num_D
    n_layers: int = 4
    ndf: int = 64
    ndf_max: int = 512
    init_gain: float = 0.02

    @nn.compact
    def __call__(
        self, labels: Float[Array, "b h w k"], image: Float[Array, "b h w 3"], update_stats: bool = True
    ) -> Preds:
        x = jnp.concatenate([labels, image], axis=-1)
        preds = []
        for i in range(self.num_d):
            if i:
                x = downsample(x)
            d = PatchDiscriminator(self.n_layers, self.ndf, self.ndf_max, self.init_gain, name=f"d{i}")
            preds.append(d(x, update_stats))
        return tuple(preds)


def discriminate(
    disc: MultiscaleDiscriminator,
    params,
    spectral,
    labels: Float[Array, "b h w k"],
    fake: Float[Array, "b h w 3"],
    real: Float[Array, "b h w 3"],
) -> tuple[Preds, Preds, dict]:
    """Scores fake and real in one forward pass (official `discriminate`: one batch [fake; real], hence one
    power-iteration update per call); returns (fake preds, real preds, updated spectral state)."""
    both_labels = jnp.concatenate([labels, labels], axis=0)
    both = jnp.concatenate([fake, real], axis=0)
    preds, updates = disc.apply(
        {"params": params, SPECTRAL: spectral}, both_labels, both, update_stats=True, mutable=[SPECTRAL]
    )
    b = fake.shape[0]
    fake_preds = tuple(tuple(p[:b] for p in per_d) for per_d in preds)
    real_preds = tuple(tuple(p[b:] for p in per_d) for per_d in preds)
    return fake_preds, real_preds, updates[SPECTRAL]
