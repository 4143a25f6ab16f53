"""ASAPNet's generator: a low-resolution conv net predicts one small MLP per S x S cell; every pixel goes
through its cell's MLP (Rott Shaham et al., CVPR 2021, sec. 3; official tamarott/ASAPNet f27f202).

Two streams:

1. LR stream (`LowResStream`, the only convolutions). The label map, first shrunk by a fixed tent filter when
   S > learned_downsampling (`tent_downsample`, upstream's `MySeparableBilinearDownsample`: kernel
   [1, 3, ..., 2s-1, 2s-1, ..., 3, 1] / sum, reflection pad s/2, stride s), goes through Conv3x3(label_nc ->
   lr_width), log2(learned) stride-2 Conv3x3 (the last -> lr_max_width), lr_depth stride-1 Conv3x3 at
   lr_max_width, and a 1x1 conv to the MLP parameters of each cell: a [b, h/S, w/S, P] grid.
   As upstream (`get_nonspade_norm_layer(opt, 'instanceaffine')` wraps every 3x3 conv), each 3x3 conv has no
   bias and is followed by InstanceNorm (affine, eps 1e-5) and ReLU; the paper's text mentions the norm only
   in the blocks. Padding is zero (1 px) or, with `reflection_pad`, reflection.
2. HR stream (`pixelwise_mlp`, no convolutions). Input per pixel = labels + the sinusoidal coordinates of
   `encoding.py`; hr_depth linear layers, LeakyReLU(0.01) between them, tanh at the end. All pixels of a
   tile share their cell's MLP (= nearest upsampling of the parameter grid), so the MLP runs as one batched
   matmul per layer over tiles: [b, gh, gw, S*S, c_in] x [b, gh, gw, c_in, c_out]. No per-pixel weights are
   ever built at full resolution.

Flat parameter layout per cell (upstream's `_set_num_params`, so official checkpoints map one to one): for
each layer in order, c_out biases, then c_in * c_out weights in row-major (c_in, c_out) order. For facades
512 x 512 (13 labels, S = 32 -> 20 coordinate channels) that is 33*64+64 + 3*(64*64+64) + 64*3+3 = 14,851.

Speed decision: the coordinates repeat in every tile, so the generator passes the one shared S x S tile and
`pixelwise_mlp` broadcasts it next to the tiled labels; no full-resolution coordinate map is built in image
layout, and nothing is cached with a batch size. (Measured on 2 CPU cores: as fast as concatenating a
full-resolution map; splitting the first layer into a label matmul plus one shared coordinate matmul was
~1.4x slower, so we do not.)

Not implemented: upstream's Cityscapes instance-edge channel that only the LR stream sees (`lr_instance`);
every input channel here is a label channel that both streams see.

Initialisation: upstream's `init_weights('xavier', 0.02)`: xavier-normal with gain 0.02, zero biases,
InstanceNorm scales 1 and offsets 0 (PyTorch defaults; upstream's init skips InstanceNorm).
`make_generator` builds either this model or the SPADE baseline (`spade.py`).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from jaxinterp.errors import InputError
from jaxinterp.gen.asapnet.config import ASAPNetConfig, asapnet_config, spade_config
from jaxinterp.gen.asapnet.encoding import tile_encoding
from jaxinterp.gen.asapnet.spade import SPADEGenerator, xavier_init
from jaxinterp.gen.conv_algorithms import winograd_3x3_transformed, winograd_kernel

WINOGRAD = "winograd"  # variable collection of pre-transformed kernels (`prepare_inference`)

MLPParams = Sequence[tuple[Float[Array, "b gh gw cin cout"], Float[Array, "b gh gw cout"]]]


def tent_kernel(stride: int) -> Float[np.ndarray, " k"]:
    """Upstream's separable tent: [1, 3, ..., 2s-1, 2s-1, ..., 3, 1] / (2 s^2), length 2s."""
    ramp = np.arange(1, 2 * stride + 1, 2, dtype=np.float64)
    kernel = np.concatenate([ramp, ramp[::-1]])
    return (kernel / kernel.sum()).astype(np.float32)


def tent_downsample(x: Float[Array, "b h w c"], stride: int) -> Float[Array, "b h/s w/s c"]:
    """Reflection-pad s/2, filter with the tent along x then y, keep every s-th sample (s even, s | h, w).

    The 2s-tap window of output i covers padded samples [i s, i s + 2s): blocks i and i+1 of length s, so each
    axis is two small contractions of a reshaped array rather than a depthwise convolution.
    """
    pad = stride // 2
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    kernel = jnp.asarray(tent_kernel(stride))
    first, second = kernel[:stride], kernel[stride:]
    b, hp, wp, c = x.shape
    x = x.reshape(b, hp, wp // stride, stride, c)  # along x (width) first, as upstream
    x = jnp.einsum("bhnsc,s->bhnc", x[:, :, :-1], first) + jnp.einsum("bhnsc,s->bhnc", x[:, :, 1:], second)
    x = x.reshape(b, hp // stride, stride, -1, c)
    return jnp.einsum("bnswc,s->bnwc", x[:, :-1], first) + jnp.einsum("bnswc,s->bnwc", x[:, 1:], second)


class _Conv3x3(nn.Module):
    """3x3 convolution without bias on an already padded input ('VALID'), parameter "kernel" [3, 3, i, o]
    as `nn.Conv`'s. With a "winograd" variable (from `prepare_inference`) a stride-1 conv runs Winograd
    F(2x2, 3x3) on that pre-transformed kernel."""

    features: int
    stride: int
    init_gain: float

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", xavier_init(self.init_gain), (3, 3, x.shape[-1], self.features))
        if self.stride == 1 and self.has_variable(WINOGRAD, "kernel"):
            return winograd_3x3_transformed(x, self.get_variable(WINOGRAD, "kernel"))
        dims = ("NHWC", "HWIO", "NHWC")
        return lax.conv_general_dilated(x, kernel, (self.stride,) * 2, "VALID", dimension_numbers=dims)


class _ConvNormReLU(nn.Module):
    """Conv3x3 (no bias) -> InstanceNorm (affine) -> ReLU, upstream's `norm_layer(Conv2d(...))` + ReLU."""

    features: int
    stride: int
    reflection_pad: bool
    init_gain: float

    @nn.compact
    def __call__(self, x):
        x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect" if self.reflection_pad else "constant")
        # upstream deletes the bias before a norm
        x = _Conv3x3(self.features, self.stride, self.init_gain, name="Conv_0")(x)
        return nn.relu(nn.InstanceNorm(epsilon=1e-5)(x))


class LowResStream(nn.Module):
    """The conv net that predicts every cell's flat MLP parameters from the (pre-downsampled) label map."""

    cfg: ASAPNetConfig

    @nn.compact
    def __call__(self, x: Float[Array, "b hl wl c"]) -> Float[Array, "b gh gw p"]:
        cfg = self.cfg
        block = dict(reflection_pad=cfg.reflection_pad, init_gain=cfg.init_gain)
        x = _ConvNormReLU(cfg.lr_width, 1, **block)(x)
        num_strided = cfg.learned_factor.bit_length() - 1
        for i in range(num_strided):
            x = _ConvNormReLU(cfg.lr_max_width if i == num_strided - 1 else cfg.lr_width, 2, **block)(x)
        for _ in range(cfg.lr_depth):
            x = _ConvNormReLU(cfg.lr_max_width, 1, **block)(x)
        return nn.Conv(cfg.num_mlp_params, (1, 1), kernel_init=xavier_init(cfg.init_gain))(x)


def split_mlp_params(flat: Float[Array, "b gh gw p"], channels: Sequence[int]) -> MLPParams:
    """Cuts the flat per-cell vector into [(weights [b gh gw c_in c_out], biases [b gh gw c_out]), ...]."""
    expected = sum(ci * co + co for ci, co in zip(channels[:-1], channels[1:], strict=True))
    if flat.shape[-1] != expected:
        raise ValueError(f"expected {expected} parameters per cell for MLP widths {tuple(channels)}, got {flat.shape}")
    lead = flat.shape[:-1]
    layers, start = [], 0
    for ci, co in zip(channels[:-1], channels[1:], strict=True):
        bias = flat[..., start : start + co]
        start += co
        weight = flat[..., start : start + ci * co].reshape(*lead, ci, co)
        start += ci * co
        layers.append((weight, bias))
    return layers


def pixelwise_mlp(
    params_per_cell: MLPParams,
    features: Float[Array, "b h w c"],
    cell: int,
    tile_features: Float[Array, "cell cell e"] | None = None,
) -> Float[Array, "b h w cout"]:
    """Runs each S x S tile of `features` through its own MLP (LeakyReLU(0.01) between layers, tanh out).

    Args:
      params_per_cell: per layer, weights [b, h/S, w/S, c_in, c_out] and biases [b, h/S, w/S, c_out].
      features: per-pixel inputs; h and w multiples of `cell`.
      cell: the tile size S.
      tile_features: optional extra inputs shared by every tile (the coordinate encoding), appended after
        `features`' channels: the first layer's c_in is then c + e.
    """
    b, h, w, c = features.shape
    gh, gw = h // cell, w // cell
    if gh * cell != h or gw * cell != w:
        raise ValueError(f"image {h}x{w} is not a whole number of {cell}x{cell} cells")
    first_w = params_per_cell[0][0]
    extra = 0 if tile_features is None else tile_features.shape[-1]
    if first_w.shape[:3] != (b, gh, gw) or first_w.shape[3] != c + extra:
        raise ValueError(f"first-layer weights {first_w.shape} do not fit {b}x{gh}x{gw} cells of {c}+{extra} inputs")
    x = features.reshape(b, gh, cell, gw, cell, c).transpose(0, 1, 3, 2, 4, 5).reshape(b, gh, gw, cell * cell, c)
    if extra:
        shared = jnp.asarray(tile_features, x.dtype).reshape(cell * cell, extra)
        x = jnp.concatenate([x, jnp.broadcast_to(shared, (b, gh, gw, cell * cell, extra))], axis=-1)
    last = len(params_per_cell) - 1
    for i, (weight, bias) in enumerate(params_per_cell):
        y = jnp.einsum("bijpc,bijcd->bijpd", x, weight) + bias[..., None, :]
        x = jnp.tanh(y) if i == last else nn.leaky_relu(y, 0.01)
    out = x.shape[-1]
    return x.reshape(b, gh, gw, cell, cell, out).transpose(0, 1, 3, 2, 4, 5).reshape(b, h, w, out)


class ASAPNetGenerator(nn.Module):
    """Label map -> RGB in [-1, 1]. `predict_params` returns the per-cell MLPs (the LR stream alone)."""

    cfg: ASAPNetConfig

    def setup(self):
        self.lr_stream = LowResStream(self.cfg)

    def _check(self, labels) -> None:
        cfg = self.cfg
        _, h, w, c = labels.shape
        if c != cfg.label_nc:
            raise InputError(f"ASAPNet expects {cfg.label_nc} label channels, got {c}")
        if h % cfg.downsampling or w % cfg.downsampling:
            raise InputError(f"ASAPNet with S={cfg.downsampling} needs sides that are multiples of S, got {h}x{w}")

    def predict_params(self, labels: Float[Array, "b h w label_nc"]) -> MLPParams:
        """Per-cell MLP weights and biases, each [b, h/S, w/S, ...] (see `split_mlp_params`)."""
        self._check(labels)
        low = labels if self.cfg.fixed_factor == 1 else tent_downsample(labels, self.cfg.fixed_factor)
        return split_mlp_params(self.lr_stream(low), self.cfg.mlp_channels)

    def __call__(self, labels: Float[Array, "b h w label_nc"]) -> Float[Array, "b h w 3"]:
        params = self.predict_params(labels)
        return pixelwise_mlp(params, labels, self.cfg.downsampling, tile_encoding(self.cfg.downsampling))


def prepare_inference(variables: dict, min_channels: int = 256) -> dict:
    """`variables` plus a "winograd" collection holding the Winograd-domain form of every 3x3 kernel with at
    least `min_channels` input and output channels (ASAPNet's lr_depth blocks), on CPU only.

    Speed decision: at inference the kernels never change, so transforming them once (instead of in every
    call, `conv_algorithms.winograd_kernel`) makes Winograd F(2x2, 3x3) pay: a 1024 -> 1024 conv on the
    16 x 32 grid takes ~33 ms against ~80 ms for XLA's convolution (2 CPU cores). `apply` with the result
    gives the same images up to float rounding (~1e-5); training ignores the collection (pass plain
    variables). On GPU/TPU the variables are returned unchanged: cuDNN/XLA pick their own algorithms there.
    """
    if jax.default_backend() != "cpu":
        return variables
    flat = flax.traverse_util.flatten_dict(dict(variables["params"]))
    chosen = {
        path: winograd_kernel(kernel)
        for path, kernel in flat.items()
        if path[-1] == "kernel"
        and kernel.ndim == 4
        and kernel.shape[:2] == (3, 3)
        and min(kernel.shape[2:]) >= min_channels
    }
    if not chosen:
        return variables
    return {**variables, WINOGRAD: flax.traverse_util.unflatten_dict(chosen)}


def make_generator(kind: str, label_nc: int, height: int, width: int, **overrides) -> nn.Module:
    """`ASAPNetGenerator` ("asapnet") or `SPADEGenerator` ("spade") for `height x width` label maps;
    `overrides` replace config fields. Raises `InputError` (a ValueError) on an unknown kind or bad sizes."""
    if kind == "asapnet":
        return ASAPNetGenerator(asapnet_config(label_nc, height, width, **overrides))
    if kind == "spade":
        return SPADEGenerator(spade_config(label_nc, height, width, **overrides))
    raise InputError(f"unknown generator kind {kind!r}; choose 'asapnet' or 'spade'")
