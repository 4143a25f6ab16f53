"""A stride-1 'VALID' dilated 1-D convolution whose derivatives of every order are forward or
filter-gradient convolutions (the 1-D counterpart of `conv.py`, for Catch-A-Waveform's nets).

Why: WGAN-GP differentiates the critic twice. Left to itself, JAX transposes the convolution's backward
pass into convolutions whose kernel spans the whole signal (the kernel gradient), and XLA's CPU backend
runs those far slower than the forward pass: at CAW's finest scale (16 kHz x 4 s, 96 channels, kernel 9,
dilations to 128) one training iteration took 208 s with plain `lax.conv_general_dilated`, and 47 s with
this module (2 busy CPU cores, JAX 0.10.2, bench/caw.py).

How: `conv1d_valid(x, w, d)` is XLA's dilated convolution. Its custom derivatives:
  * input gradient: the full correlation of the output gradient with the tap-reversed, channel-transposed
    kernel = `conv1d_valid` of the gradient zero-padded by (k-1)d on both sides;
  * kernel gradient `kernel_gradient(x, dy, d)`: XLA's own filter-gradient convolution (the transpose of
    the forward pass in w), whose derivatives are NOT left to XLA but given as forward convolutions:
    `conv1d_valid(pad(dy), reversed(c)^T)` (in x) and `conv1d_valid(x, c)` (in dy). The second-order
    terms were the slow ones; at first order XLA's filter gradient is fine.
Both functions are linear in each argument, so the rules are exact at every order.

Measured (2 CPU cores shared with other jobs, CPU seconds, JAX 0.10.2): one kernel gradient at 64000
samples x 96 channels took 0.14-0.15 s as XLA's filter-gradient convolution against 0.35 s as one matrix
product per tap (an earlier version of this module); the forward convolution 0.11-0.12 s. A whole CAW
iteration at the finest scale: 26.6-26.9 CPU s against 31.4-37.9 with per-tap products.
(Forward passes as per-tap products were tried too: faster than XLA at the finest scale's size but
slower at small sizes and with minutes of compile time, so XLA's convolution stays.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

_NWC = ("NWC", "WIO", "NWC")


def _forward(x: Array, w: Array, dilation: int) -> Array:
    return lax.conv_general_dilated(x, w, (1,), "VALID", rhs_dilation=(dilation,), dimension_numbers=_NWC)


def _input_gradient(dy: Array, w: Array, dilation: int) -> Array:
    """d<dy, conv(x, w)>/dx: the full correlation, as a VALID convolution of the padded gradient."""
    pad = (w.shape[0] - 1) * dilation
    padded = jnp.pad(dy, ((0, 0), (pad, pad), (0, 0)))
    return conv1d_valid(padded, jnp.swapaxes(w[::-1], 1, 2), dilation)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv1d_valid(x: Float[Array, "b t i"], w: Float[Array, "k i o"], dilation: int) -> Float[Array, "b t2 o"]:
    """y[:, s] = sum_j x[:, s + j * dilation] @ w[j], s < t - (k - 1) * dilation."""
    return _forward(x, w, dilation)


def _conv_fwd(x, w, dilation):
    return _forward(x, w, dilation), (x, w)


def _conv_bwd(dilation, residuals, dy):
    x, w = residuals
    return _input_gradient(dy, w, dilation), kernel_gradient(x, dy, dilation)


conv1d_valid.defvjp(_conv_fwd, _conv_bwd)


def _kernel_gradient(x: Array, dy: Array, dilation: int, k: int) -> Array:
    """XLA's own filter-gradient convolution (the transpose of the forward pass in w)."""
    zeros = jnp.zeros((k, x.shape[-1], dy.shape[-1]), x.dtype)
    return jax.linear_transpose(lambda w: _forward(x, w, dilation), zeros)(dy)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def kernel_gradient(x: Float[Array, "b t i"], dy: Float[Array, "b t2 o"], dilation: int) -> Float[Array, "k i o"]:
    """d<dy, conv1d_valid(x, w)>/dw, with k = (t - t2) / dilation + 1 taps."""
    return _kernel_gradient(x, dy, dilation, (x.shape[1] - dy.shape[1]) // dilation + 1)


def _kg_fwd(x, dy, dilation):
    return kernel_gradient(x, dy, dilation), (x, dy)


def _kg_bwd(dilation, residuals, c):
    x, dy = residuals
    return _input_gradient(dy, c, dilation), conv1d_valid(x, c, dilation)


kernel_gradient.defvjp(_kg_fwd, _kg_bwd)
