"""A stride-1 'VALID' 2-D convolution whose derivatives of every order are plain forward convolutions.

Why: WGAN-GP differentiates the critic twice (the gradient of a gradient norm). Left to itself, JAX
transposes the convolution's backward pass into convolutions whose kernel is the whole image
(`window=164x189, rhs_reversal`, dim labels `01fb_o01i->f01b`), and XLA's CPU backend runs those about
an order of magnitude slower than the forward pass: at SinGAN's scale 8 (172x197 px, 128 channels) the
critic's gradient-penalty step took 15 s, against 1.9 s with this module (JAX 0.10.2, 2 CPU cores).

How: two `custom_vjp` functions that call each other.
  * `conv2d_valid(x, w)`: the forward convolution (algorithm below). Its input gradient is the full correlation of
    the output gradient with the flipped, channel-transposed kernel, written as `conv2d_valid` of the
    zero-padded gradient; its kernel gradient is `kernel_gradient(x, dy)`.
  * `kernel_gradient(x, dy)`: the first-order kernel gradient (algorithm below). Its derivatives are
    again `conv2d_valid`s:
    d/dx <c, kernel_gradient(x, dy)> = conv2d_valid(pad(dy), flip(c)^T) and d/d(dy) = conv2d_valid(x, c).
Both are linear in each argument, so these rules are exact at every order.

Algorithms: on CPU each forward convolution and kernel gradient picks, by its static shapes, XLA's
convolution or a rewrite into matrix products (`conv_algorithms.py`); the rules below come from timing
all three on SinGAN's shapes (2 CPU cores, JAX 0.10.2; bench/README.md):
  * forward: Winograd F(2x2, 3x3) for 3x3 kernels with >= 16 input and output channels and at least
    2^23 output-pixel x channel x channel products (below that XLA's convolution is as fast); one
    product per kernel tap for >= 16 input but < 16 output channels (the 128 -> 3 tails: 14x faster);
    XLA otherwise (3 -> N heads, where XLA is fastest);
  * kernel gradient: through Winograd when both channel counts are >= 96 (172x197 px at 128 channels:
    83 vs 103 ms, 220x252: 126 vs 303 ms), XLA's otherwise (at 32 and 64 channels XLA's is faster).
Decision (unmeasured on GPU/TPU): there XLA's convolutions are used throughout (cuDNN picks its own
algorithms); the custom derivative rules apply on every backend, so the maths is the same everywhere.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from jaxinterp.gen.conv_algorithms import tap_products, winograd_3x3

_NHWC = ("NHWC", "HWIO", "NHWC")
_WINOGRAD_MIN_PRODUCTS = 2**23  # output pixels x c_in x c_out
_WINOGRAD_KERNEL_GRADIENT_MIN_CHANNELS = 96
_FEW_CHANNELS = 16


def forward_algorithm(x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> str:
    """'winograd', 'taps' or 'xla' for a VALID stride-1 convolution of these shapes (see module doc)."""
    if jax.default_backend() != "cpu":
        return "xla"
    kh, kw, c_in, c_out = w_shape
    out_pixels = (x_shape[1] - kh + 1) * (x_shape[2] - kw + 1)
    if c_in >= _FEW_CHANNELS and c_out < _FEW_CHANNELS:
        return "taps"
    if (kh, kw) == (3, 3) and min(c_in, c_out) >= _FEW_CHANNELS and out_pixels * c_in * c_out >= _WINOGRAD_MIN_PRODUCTS:
        return "winograd"
    return "xla"


def kernel_gradient_algorithm(x_shape: tuple[int, ...], dy_shape: tuple[int, ...], kh: int, kw: int) -> str:
    """'winograd' or 'xla' for the kernel gradient of these shapes (see module doc)."""
    if jax.default_backend() != "cpu" or (kh, kw) != (3, 3):
        return "xla"
    if min(x_shape[-1], dy_shape[-1]) >= _WINOGRAD_KERNEL_GRADIENT_MIN_CHANNELS:
        return "winograd"
    return "xla"


def _forward(x, w):
    algorithm = forward_algorithm(x.shape, w.shape)
    if algorithm == "winograd":
        return winograd_3x3(x, w)
    if algorithm == "taps":
        return tap_products(x, w)
    return _xla_conv(x, w)


def _xla_conv(x: Float[Array, "b h w i"], w: Float[Array, "kh kw i o"], precision=None) -> Float[Array, "b ho wo o"]:
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=_NHWC, precision=precision)


def _pad_for_transpose(dy: Float[Array, "b ho wo o"], kh: int, kw: int) -> Float[Array, "b h2 w2 o"]:
    return jnp.pad(dy, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))


def _transposed_kernel(w: Float[Array, "kh kw i o"]) -> Float[Array, "kh kw o i"]:
    return jnp.flip(w, (0, 1)).swapaxes(2, 3)


@jax.custom_vjp
def conv2d_valid(x: Float[Array, "b h w i"], w: Float[Array, "kh kw i o"]) -> Float[Array, "b ho wo o"]:
    """y[b, p, q, o] = sum_{di, dj, i} x[b, p + di, q + dj, i] * w[di, dj, i, o] (no padding, stride 1)."""
    return _forward(x, w)


def _conv_fwd(x, w):
    return _forward(x, w), (x, w)


def _conv_bwd(residuals, dy):
    x, w = residuals
    kh, kw = w.shape[:2]
    dx = conv2d_valid(_pad_for_transpose(dy, kh, kw), _transposed_kernel(w))
    return dx, kernel_gradient(x, dy, kh, kw)


conv2d_valid.defvjp(_conv_fwd, _conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def kernel_gradient(
    x: Float[Array, "b h w i"], dy: Float[Array, "b ho wo o"], kh: int, kw: int
) -> Float[Array, "kh kw i o"]:
    """d/dw <dy, conv2d_valid(x, w)>."""
    return _kernel_gradient(x, dy, kh, kw)


def _kernel_gradient(x, dy, kh, kw):
    """The transpose of the forward algorithm in w (XLA's own rule for 'xla')."""
    forward = winograd_3x3 if kernel_gradient_algorithm(x.shape, dy.shape, kh, kw) == "winograd" else _xla_conv
    w0 = jnp.zeros((kh, kw, x.shape[-1], dy.shape[-1]), jnp.result_type(x, dy))
    return jax.vjp(lambda w: forward(x, w), w0)[1](dy)[0]


def _kernel_gradient_fwd(x, dy, kh, kw):
    return _kernel_gradient(x, dy, kh, kw), (x, dy)


def _kernel_gradient_bwd(kh, kw, residuals, cotangent):
    x, dy = residuals
    dx = conv2d_valid(_pad_for_transpose(dy, kh, kw), _transposed_kernel(cotangent))
    return dx, conv2d_valid(x, cotangent)


kernel_gradient.defvjp(_kernel_gradient_fwd, _kernel_gradient_bwd)


def conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    precision=None,
    **kwargs,
):
    """Drop-in for `lax.conv_general_dilated` (flax's `nn.Conv(conv_general_dilated=...)`): the plain
    NHWC/HWIO stride-1 VALID case goes to `conv2d_valid`, anything else to `lax`."""
    plain = (
        lhs.ndim == 4
        and tuple(window_strides) == (1, 1)
        and (padding == "VALID" or tuple(map(tuple, padding)) == ((0, 0), (0, 0)))
        and all(d is None or tuple(d) == (1, 1) for d in (lhs_dilation, rhs_dilation))
        and feature_group_count == 1
        and precision is None
        and not kwargs
        and lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        == lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
    )
    if plain:
        return conv2d_valid(lhs, rhs)
    return lax.conv_general_dilated(
        lhs,
        rhs,
        window_strides,
        padding,
        lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count,
        precision=precision,
        **kwargs,
    )
