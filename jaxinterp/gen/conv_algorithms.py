"""Stride-1 'VALID' convolutions built from matrix products, for XLA's CPU backend.

XLA's CPU convolution reaches 20-70 GFLOP/s on SinGAN's shapes, while its matrix product reaches
~200 GFLOP/s on the same 2 cores (JAX 0.10.2, AMD EPYC). Two rewrites turn most of a convolution into
large matrix products; both are exact up to float rounding (max abs error ~1e-5 at 128 channels, the
same as XLA's own).

`winograd_3x3`: Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016). Each 2x2 output tile is A^T [(G g G^T) * (B^T d B)] A
for the 4x4 input tile d and the 3x3 kernel g, i.e. 16 elementwise products per tile instead of 36
multiplies; over channels the 16 products become 16 matrix products (tiles x c_in) @ (c_in x c_out).
The input and output transforms are strided slices and additions that XLA fuses. Measured at 172x197
px, 128 -> 128 channels: 61 ms against XLA's 151 ms; 262x262, 32 -> 32: 7 ms against 58 ms.

`tap_products`: for few output channels (SinGAN's tails, 128 -> 3 or 1). Every kernel tap (di, dj)
is one product of the whole flattened image (h*w, c_in) @ (c_in, c_out); the output is the sum of the
nine products shifted by di*w + dj rows (a fused elementwise sum). Measured at 172x197 px,
128 -> 3: 4.6 ms against XLA's 65 ms.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

# F(2x2, 3x3) kernel transform G (4x3); the data transform B^T and output transform A^T are written
# out as additions below (`_data_transform`, `_output_transform`).
_WINOGRAD_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]], np.float32)


def _even_odd(x: Array, axis: int) -> tuple[Array, Array]:
    """Rows 0, 2, 4, ... and 1, 3, 5, ... of an axis of even length."""
    split = x.reshape(x.shape[:axis] + (x.shape[axis] // 2, 2) + x.shape[axis + 1 :])
    return lax.index_in_dim(split, 0, axis + 1, keepdims=False), lax.index_in_dim(split, 1, axis + 1, keepdims=False)


def _data_transform(x: Array, tiles: int, axis: int) -> tuple[Array, Array, Array, Array]:
    """B^T d along `axis` for every tile t (input rows 2t..2t+3): (d0 - d2, d1 + d2, d2 - d1, d1 - d3)."""
    even, odd = _even_odd(x, axis)
    e0, e1 = lax.slice_in_dim(even, 0, tiles, axis=axis), lax.slice_in_dim(even, 1, tiles + 1, axis=axis)
    o0, o1 = lax.slice_in_dim(odd, 0, tiles, axis=axis), lax.slice_in_dim(odd, 1, tiles + 1, axis=axis)
    return e0 - e1, o0 + e1, e1 - o0, o0 - o1


def _output_transform(m: list[Array]) -> tuple[Array, Array]:
    """A^T m along one axis: (m0 + m1 + m2, m1 - m2 - m3)."""
    return m[0] + m[1] + m[2], m[1] - m[2] - m[3]


_WINOGRAD_GG = np.einsum("ai,bj->abij", _WINOGRAD_G, _WINOGRAD_G).reshape(16, 9)
_BATCHED_PRODUCT_MAX_TILES = 4096


def winograd_kernel(w: Float[Array, "3 3 i o"]) -> Float[Array, "16 i o"]:
    """G g G^T for every (i, o): the 16 Winograd-domain taps, row-major over the 4x4 tile positions.

    One product (16 x 9) @ (9 x i*o); an einsum with G on both sides took 170 ms for a 3x3x1024x1024 kernel
    on 2 CPU cores, this 30 ms. A model that reuses its kernels (inference) can transform them once
    (`winograd_3x3_transformed`).
    """
    kh, kw, c_in, c_out = w.shape
    if (kh, kw) != (3, 3):
        raise ValueError(f"Winograd F(2x2, 3x3) needs a 3x3 kernel, got {kh}x{kw}")
    return (jnp.asarray(_WINOGRAD_GG, w.dtype) @ w.reshape(9, c_in * c_out)).reshape(16, c_in, c_out)


def winograd_3x3(x: Float[Array, "b h w i"], w: Float[Array, "3 3 i o"]) -> Float[Array, "b h-2 w-2 o"]:
    """3x3 'VALID' convolution (cross-correlation, as `lax.conv`) by Winograd F(2x2, 3x3)."""
    return winograd_3x3_transformed(x, winograd_kernel(w))


def winograd_3x3_transformed(x: Float[Array, "b h w i"], kernel: Float[Array, "16 i o"]) -> Float[Array, "b h-2 w-2 o"]:
    """`winograd_3x3` with the kernel already in the Winograd domain (`winograd_kernel`)."""
    b, h, wd, c_in = x.shape
    c_out = kernel.shape[-1]
    out_h, out_w = h - 2, wd - 2
    tiles_h, tiles_w = -(-out_h // 2), -(-out_w // 2)
    x = jnp.pad(x, ((0, 0), (0, 2 * tiles_h + 2 - h), (0, 2 * tiles_w + 2 - wd), (0, 0)))
    transformed = []  # 16 x (b, tiles_h, tiles_w, c_in), row-major over the 4x4 tile positions
    for rows in _data_transform(x, tiles_h, axis=1):
        transformed.extend(_data_transform(rows, tiles_w, axis=2))
    flat = [v.reshape(-1, c_in) for v in transformed]
    if len(flat[0]) <= _BATCHED_PRODUCT_MAX_TILES:
        # few tiles, wide channels (ASAPNet's 1024-channel blocks on a 16 x 32 grid): one batched product is
        # ~1.5x faster than 16 separate ones, and the stack is small.
        stacked = jnp.einsum("tnc,tco->tno", jnp.stack(flat), kernel)
        products = [stacked[t].reshape(b, tiles_h, tiles_w, c_out) for t in range(16)]
    else:
        # many tiles (SinGAN's images): 16 separate products; stacking the operands first costs a slow
        # concatenate on XLA:CPU.
        products = [(v @ kernel[t]).reshape(b, tiles_h, tiles_w, c_out) for t, v in enumerate(flat)]
    by_column = [_output_transform(products[j::4]) for j in range(4)]  # A^T over the tile rows
    top, bottom = ([col[r] for col in by_column] for r in (0, 1))
    quads = [_output_transform(top), _output_transform(bottom)]  # A^T over the tile columns
    out = jnp.stack([jnp.stack(quads[0], axis=3), jnp.stack(quads[1], axis=3)], axis=2)  # b th 2 tw 2 o
    return out.reshape(b, 2 * tiles_h, 2 * tiles_w, c_out)[:, :out_h, :out_w]


def tap_products(x: Float[Array, "b h w i"], w: Float[Array, "kh kw i o"]) -> Float[Array, "b ho wo o"]:
    """'VALID' convolution as one (b*h*w, i) @ (i, o) product per kernel tap, summed after shifting."""
    b, h, wd, c_in = x.shape
    kh, kw, _, c_out = w.shape
    out_h, out_w = h - kh + 1, wd - kw + 1
    flat = x.reshape(b * h * wd, c_in)
    rows = out_h * wd  # output rows in the flat layout; the last kw - 1 columns of each are cropped
    total = None
    for di in range(kh):
        for dj in range(kw):
            product = (flat @ w[di, dj]).reshape(b, h * wd, c_out)
            if dj:
                product = jnp.pad(product, ((0, 0), (0, dj), (0, 0)))
            shifted = lax.slice_in_dim(product, di * wd + dj, di * wd + dj + rows, axis=1)
            total = shifted if total is None else total + shifted
    return total.reshape(b, out_h, wd, c_out)[:, :, :out_w]
