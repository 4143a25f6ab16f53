"""Catch-A-Waveform's per-scale generator and critic (official `models/CAW.py`, `models/GeneralBlocks.py`).

Layout: signals are NLC, `(batch, time, channels)`, mono audio has one channel.

Both nets share a trunk of dilated 1-D ConvBlocks: weight-normed Conv1d (kernel 9, no padding, dilation
d) -> BatchNorm -> LeakyReLU(0.2), with d = 1 for the head and 2, 4, .., 64 for the six body blocks.
* Generator tail: a weight-normed Conv1d (kernel 9, dilation 128, no BatchNorm, no activation) -> gated
  unit tanh(WNConv_k9 'SAME') * sigmoid(WNConv_k9 'SAME') -> WNConv 1x1 to one channel -> the fixed
  pre-emphasis filter y[0] = x[0], y[t] = x[t] - 0.97 x[t-1] -> plus the centre-cropped signal from the
  coarser scale, so each scale learns a residual. The caller feeds `pad(noise * amp + prev)` and
  `pad(prev)` with `scales.padding(cfg)` (1020) zeros per side; the VALID stack removes
  (k - 1) * sum(dilations) = 2040 samples, so the output has the unpadded length.
* Critic tail: a weight-normed Conv1d (kernel 9, dilation 128) to one channel -> pre-emphasis: a score
  per position, 2040 samples shorter than its (unpadded) input.

Convolutions are `gen/conv1d.conv1d_valid` (matrix products per kernel tap on CPU, derivatives of every
order as such convolutions: the critic is differentiated twice by the gradient penalty).

Weight norm (torch.nn.utils.weight_norm, dim 0): w = g * v / ||v||, the norm taken per output channel
over (kernel taps, input channels). We keep `v` (kernel, in, out) and `g` (out,) as parameters and form
w in the forward pass. Initialisation: upstream's `weights_init` writes N(0, 0.02) into `conv.weight`,
but under the weight-norm hook that tensor is recomputed from (g, v) at every forward pass, so the write
has no effect; the effective init is PyTorch's default Conv1d init, v and bias ~ U(+-1/sqrt(fan_in)) with
g = ||v|| (so w = v at init). BatchNorm scales are N(1, 0.02), offsets 0 (`weights_init`).

BatchNorm runs on one example, so its statistics are over time. PyTorch's momentum 0.1 is Flax's 0.9.
Differences from torch: Flax updates the running variance with the biased batch variance (torch uses the
unbiased one, a factor n / (n - 1) with n >= 2000 samples); we use the two-pass variance
(`use_fast_variance=False`) because one-pass E[x^2] - E[x]^2 loses float32 precision over long signals.

Masked BatchNorm (inpainting, critic only): upstream excludes from each block's statistics every output
whose window touches the hole, i.e. for a hole [a, b] at the block input it drops outputs
[a - (k-1)d, b]. `propagate_mask` computes that rule (a contiguous window of span (k-1)d + 1, as upstream,
even where dilation would skip a short hole). Upstream leaves the dropped positions un-normalised while we
normalise them with the masked statistics; those positions only reach critic outputs that upstream
discards from every loss (`score_mask`), so the losses and their gradients are the same.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Bool, Float

from jaxinterp.gen.caw.config import CAWConfig
from jaxinterp.gen.conv1d import conv1d_valid
from jaxinterp.gen.layers import normal_init, torch_bias_init


def weight_norm(v: Float[Array, "k i o"], g: Float[Array, " o"]) -> Float[Array, "k i o"]:
    """w = g * v / ||v||, the norm per output channel (torch's weight_norm with dim=0; no epsilon)."""
    return g * v / jnp.sqrt(jnp.sum(v**2, axis=(0, 1)))


def pre_emphasis(x: Float[Array, "b t c"], alpha: float = 0.97) -> Float[Array, "b t c"]:
    """y[0] = x[0], y[t] = x[t] - alpha * x[t-1] along time (upstream `PreEmphasisFilter`)."""
    return jnp.concatenate([x[:, :1], x[:, 1:] - alpha * x[:, :-1]], axis=1)


def propagate_mask(mask: Bool[Array, "b t"], kernel_size: int, dilation: int) -> Bool[Array, "b t2"]:
    """Validity of a VALID conv's outputs: output i is valid iff inputs i .. i + (k-1)d are all valid.

    t2 = t - (k-1)d. A hole [a, b] becomes [a - (k-1)d, b] (upstream `ConvBlock.mask_out`).
    """
    span = (kernel_size - 1) * dilation + 1
    out = lax.reduce_window(mask.astype(jnp.float32), jnp.float32(1.0), lax.min, (1, span), (1, 1), "VALID")
    return out > 0.5


def score_mask(mask: Bool[Array, "b t"], num_layers: int, filter_size: int) -> Bool[Array, "b t2"]:
    """Which critic scores do not depend on a masked input sample (the ones upstream keeps in the losses).

    Propagates `mask` (True = valid input sample) through the critic's `num_layers` dilated convolutions,
    then through the pre-emphasis (score t also reads position t - 1), like upstream's
    `not_valid_idx_start/end` = [a - 2040, b + 1] for a hole [a, b].
    """
    for i in range(num_layers):
        mask = propagate_mask(mask, filter_size, 2**i)
    return jnp.concatenate([mask[:, :1], mask[:, 1:] & mask[:, :-1]], axis=1)


class WNConv1D(nn.Module):
    """Weight-normed 1-D convolution (upstream `NormConv1d`), stride 1, with PyTorch's default init."""

    features: int
    kernel_size: int
    dilation: int = 1
    padding: str = "VALID"  # or "SAME" (upstream padding (k - 1) / 2 with dilation 1)

    @nn.compact
    def __call__(self, x: Float[Array, "b t i"]) -> Float[Array, "b t2 o"]:
        fan_in = x.shape[-1] * self.kernel_size
        # PyTorch's kaiming_uniform(a=sqrt(5)) for the weight and its default bias share the bound 1/sqrt(fan_in).
        v = self.param("v", torch_bias_init(fan_in), (self.kernel_size, x.shape[-1], self.features))
        g = self.param("g", lambda _key: jnp.sqrt(jnp.sum(v**2, axis=(0, 1))))
        bias = self.param("bias", torch_bias_init(fan_in), (self.features,))
        if self.padding == "SAME":
            total = (self.kernel_size - 1) * self.dilation
            x = jnp.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
        return conv1d_valid(x, weight_norm(v, g), self.dilation) + bias


class ConvBlock1D(nn.Module):
    """WNConv1D(kernel, VALID, dilation) -> BatchNorm (optionally masked) -> LeakyReLU(0.2)."""

    features: int
    kernel_size: int = 9
    dilation: int = 1

    @nn.compact
    def __call__(
        self, x: Float[Array, "b t i"], train: bool, mask: Bool[Array, "b t2"] | None = None
    ) -> Float[Array, "b t2 o"]:
        """`mask` marks the outputs (length t2 = t - (k-1)d) that enter the BatchNorm statistics."""
        x = WNConv1D(self.features, self.kernel_size, self.dilation, name="conv")(x)
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=0.9,
            epsilon=1e-5,
            scale_init=normal_init(1.0, 0.02),
            use_fast_variance=False,
            name="norm",
        )(x, mask=None if mask is None else mask[..., None])
        return nn.leaky_relu(x, 0.2)


class Trunk(nn.Module):
    """Head (dilation 1) + body blocks (dilations 2 .. 2^(num_layers-2)); propagates an optional mask."""

    channels: int
    num_layers: int
    filter_size: int

    @nn.compact
    def __call__(self, x, train: bool, mask=None):
        for i in range(self.num_layers - 1):
            if mask is not None:
                mask = propagate_mask(mask, self.filter_size, 2**i)
            name = "head" if i == 0 else f"body{i}"
            x = ConvBlock1D(self.channels, self.filter_size, 2**i, name=name)(x, train, mask)
        return x, mask


class _Net(nn.Module):
    """Fields shared by the generator and the critic of one scale."""

    channels: int
    num_layers: int = 8
    filter_size: int = 9
    pre_emphasis: float = 0.97


class Generator(_Net):
    """G_n(pad(z * amp + prev), pad(prev)) = pre_emphasis(gated_tail(trunk(.))) + crop(pad(prev)).

    Sows intermediates "features" (the dilated stack's output), "gated" and "residual" (the pre-emphasised
    output before the skip connection) into the "intermediates" collection.
    """

    @nn.compact
    def __call__(
        self, noisy_input: Float[Array, "b T 1"], prev_padded: Float[Array, "b T 1"], train: bool
    ) -> Float[Array, "b t 1"]:
        """t = T - (filter_size - 1) * (2^num_layers - 1); `prev_padded` is centre-cropped to t."""
        x, _ = Trunk(self.channels, self.num_layers, self.filter_size, name="trunk")(noisy_input, train)
        x = WNConv1D(self.channels, self.filter_size, 2 ** (self.num_layers - 1), name="tail")(x)
        self.sow("intermediates", "features", x)
        filt = jnp.tanh(WNConv1D(self.channels, self.filter_size, padding="SAME", name="filter")(x))
        gate = jax.nn.sigmoid(WNConv1D(self.channels, self.filter_size, padding="SAME", name="gate")(x))
        self.sow("intermediates", "gated", filt * gate)
        y = pre_emphasis(WNConv1D(1, 1, name="out")(filt * gate), self.pre_emphasis)
        self.sow("intermediates", "residual", y)
        start = (prev_padded.shape[1] - y.shape[1]) // 2
        return y + prev_padded[:, start : start + y.shape[1]]


class Discriminator(_Net):
    """Critic D_n: signal -> a score per position (no activation), after the fixed pre-emphasis."""

    @nn.compact
    def __call__(
        self, signal: Float[Array, "b t 1"], train: bool = True, mask: Bool[Array, "b t"] | None = None
    ) -> Float[Array, "b t2 1"]:
        """t2 = t - (filter_size - 1) * (2^num_layers - 1).

        `mask` (inpainting; True = valid sample) restricts every BatchNorm's statistics to the positions
        whose window avoids the hole. Which scores to keep in the losses is `score_mask(mask, ...)`.
        """
        x, _ = Trunk(self.channels, self.num_layers, self.filter_size, name="trunk")(signal, train, mask)
        x = WNConv1D(1, self.filter_size, 2 ** (self.num_layers - 1), name="tail")(x)
        return pre_emphasis(x, self.pre_emphasis)


def generator(cfg: CAWConfig, scale: int) -> Generator:
    """The generator of pyramid level `scale` (0 = coarsest) for a `CAWConfig`."""
    return Generator(cfg.channels(scale), cfg.num_layers, cfg.filter_size, cfg.pre_emphasis)


def discriminator(cfg: CAWConfig, scale: int) -> Discriminator:
    """The critic of pyramid level `scale` (0 = coarsest) for a `CAWConfig`."""
    return Discriminator(cfg.channels(scale), cfg.num_layers, cfg.filter_size, cfg.pre_emphasis)
