"""The SPADE generator (Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization",
CVPR 2019; NVlabs/SPADE `SPADEGenerator`), ASAPNet's main speed and quality baseline.

SPADE normalisation: x is normalised without parameters, then modulated per pixel by maps computed from the
label map resized (nearest) to x's size: shared Conv3x3(label_nc -> 128) + ReLU, then Conv3x3(128 -> C) for
gamma and for beta; out = norm(x) * (1 + gamma) + beta.
Residual block (`SPADEResBlock`, fin -> fout, fmiddle = min(fin, fout)): twice SPADE -> LeakyReLU(0.2) ->
Conv3x3; the shortcut is SPADE -> Conv1x1 (no bias) when fin != fout, identity otherwise.
Generator with num_upsampling_layers='normal' and no VAE: the label map resized to h/32 x w/32 ->
Conv3x3(label_nc -> 16 ngf) -> head 16->16 -> x2 -> two middle blocks 16->16 -> (x2, block) for 16->8, 8->4,
4->2, 2->1 (in units of ngf) -> LeakyReLU(0.2) -> Conv3x3(ngf -> 3) -> tanh. Upsampling is nearest x2.

Decisions where we depart from upstream's defaults (norm_G = 'spectralspadesyncbatch3x3'):
- Param-free norm = instance norm (eps 1e-5, upstream's 'spadeinstance3x3' option), not synchronised batch
  norm. The generator then stays a pure function of (params, labels), with no batch statistics to carry and
  no train/eval switch, and a batch of one behaves like any other. At inference batch norm would use running
  averages (a fixed affine map), so our SPADE pays one mean/variance reduction per SPADE layer more than a
  batch-norm SPADE: small next to its convolutions, but it errs against the baseline in speed comparisons.
- No spectral norm. At inference it is only a fixed rescaling of each trained weight, so it does not change
  the cost being compared; training without it differs from upstream (the D keeps its own choice).
- Nearest resizing follows PyTorch's `F.interpolate(mode='nearest')` (source index floor(i * in / out)), so
  the latent grid samples the top-left pixel of each 32 x 32 block, as upstream does.
- gamma and beta come from one Conv3x3(128 -> 2C) split in two; each half is initialised like upstream's
  separate convolution (xavier-normal, gain 0.02, fan_out C), so the maths and the initial distribution match.
Initialisation: upstream `init_weights('xavier', 0.02)`: xavier-normal with gain 0.02, zero biases.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.errors import InputError
from jaxinterp.gen.asapnet.config import SPADEConfig


def xavier_init(gain: float):
    """PyTorch's `xavier_normal_(w, gain)`: N(0, gain^2 * 2 / (fan_in + fan_out)), untruncated."""
    return nn.initializers.variance_scaling(gain**2, "fan_avg", "normal")


def _split_xavier_init(gain: float, parts: int):
    """Xavier init of a conv whose outputs are `parts` convolutions side by side, each with its own fan_out."""
    base = xavier_init(gain)

    def init(key, shape, dtype=jnp.float32):
        keys = jax.random.split(key, parts)
        part_shape = (*shape[:-1], shape[-1] // parts)
        return jnp.concatenate([base(k, part_shape, dtype) for k in keys], axis=-1)

    return init


def nearest_resize(x: Float[Array, "b h w c"], size: tuple[int, int]) -> Float[Array, "b H W c"]:
    """PyTorch's nearest resize: output pixel i reads input pixel floor(i * in / out), per axis."""
    _, h, w, _ = x.shape
    oh, ow = size
    if (oh, ow) == (h, w):
        return x
    if h % oh == 0 and w % ow == 0:  # integer shrink: a strided slice, no gather
        return x[:, :: h // oh, :: w // ow]
    rows = (np.arange(oh) * h) // oh
    cols = (np.arange(ow) * w) // ow
    return x[:, rows][:, :, cols]


def upsample2(x: Float[Array, "b h w c"]) -> Float[Array, "b 2h 2w c"]:
    """Nearest x2 upsampling (upstream's `nn.Upsample(scale_factor=2)`)."""
    b, h, w, c = x.shape
    return jnp.broadcast_to(x[:, :, None, :, None], (b, h, 2, w, 2, c)).reshape(b, 2 * h, 2 * w, c)


def _conv(features: int, kernel_size: int, kernel_init, name: str) -> nn.Conv:
    """k x k convolution with upstream's zero padding k // 2 and a zero-initialised bias."""
    pad = kernel_size // 2
    return nn.Conv(features, (kernel_size,) * 2, padding=((pad, pad), (pad, pad)), kernel_init=kernel_init, name=name)


class SPADENorm(nn.Module):
    """norm(x) * (1 + gamma(labels)) + beta(labels), with a parameter-free instance norm."""

    features: int
    hidden: int = 128
    kernel_size: int = 3
    init_gain: float = 0.02

    @nn.compact
    def __call__(self, x: Float[Array, "b h w c"], labels: Float[Array, "b H W l"]) -> Float[Array, "b h w c"]:
        normalized = nn.InstanceNorm(epsilon=1e-5, use_scale=False, use_bias=False)(x)
        seg = nearest_resize(labels, x.shape[1:3])
        actv = nn.relu(_conv(self.hidden, self.kernel_size, xavier_init(self.init_gain), "shared")(seg))
        gamma_beta = _conv(2 * self.features, self.kernel_size, _split_xavier_init(self.init_gain, 2), "gamma_beta")(
            actv
        )
        gamma, beta = jnp.split(gamma_beta, 2, axis=-1)
        return normalized * (1 + gamma) + beta


class SPADEResBlock(nn.Module):
    """SPADE residual block fin -> fout (upstream `SPADEResnetBlock`)."""

    fin: int
    fout: int
    cfg: SPADEConfig

    @nn.compact
    def __call__(self, x: Float[Array, "b h w fin"], labels: Float[Array, "b H W l"]) -> Float[Array, "b h w fout"]:
        cfg = self.cfg
        fmiddle = min(self.fin, self.fout)
        norm = dict(hidden=cfg.spade_hidden, kernel_size=cfg.kernel_size, init_gain=cfg.init_gain)
        if self.fin != self.fout:
            shortcut = SPADENorm(self.fin, **norm, name="norm_s")(x, labels)
            shortcut = nn.Conv(
                self.fout, (1, 1), use_bias=False, kernel_init=xavier_init(cfg.init_gain), name="conv_s"
            )(shortcut)
        else:
            shortcut = x
        dx = SPADENorm(self.fin, **norm, name="norm_0")(x, labels)
        dx = _conv(fmiddle, 3, xavier_init(cfg.init_gain), "conv_0")(nn.leaky_relu(dx, 0.2))
        dx = SPADENorm(fmiddle, **norm, name="norm_1")(dx, labels)
        dx = _conv(self.fout, 3, xavier_init(cfg.init_gain), "conv_1")(nn.leaky_relu(dx, 0.2))
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """Label map -> RGB in [-1, 1]; h and w must be multiples of 32."""

    cfg: SPADEConfig

    @nn.compact
    def __call__(self, labels: Float[Array, "b h w label_nc"]) -> Float[Array, "b h w 3"]:
        cfg = self.cfg
        _, h, w, c = labels.shape
        f = cfg.latent_factor
        if c != cfg.label_nc:
            raise InputError(f"SPADE expects {cfg.label_nc} label channels, got {c}")
        if h % f or w % f or h < f or w < f:
            raise InputError(f"SPADE needs sides that are multiples of {f}, got {h}x{w}")
        nf = cfg.ngf
        x = nearest_resize(labels, (h // f, w // f))
        x = _conv(16 * nf, 3, xavier_init(cfg.init_gain), "fc")(x)
        x = SPADEResBlock(16 * nf, 16 * nf, cfg, name="head_0")(x, labels)
        x = upsample2(x)
        x = SPADEResBlock(16 * nf, 16 * nf, cfg, name="G_middle_0")(x, labels)
        x = SPADEResBlock(16 * nf, 16 * nf, cfg, name="G_middle_1")(x, labels)
        for i, (fin, fout) in enumerate(((16, 8), (8, 4), (4, 2), (2, 1))):
            x = upsample2(x)
            x = SPADEResBlock(fin * nf, fout * nf, cfg, name=f"up_{i}")(x, labels)
        x = _conv(cfg.output_nc, 3, xavier_init(cfg.init_gain), "conv_img")(nn.leaky_relu(x, 0.2))
        return jnp.tanh(x)
