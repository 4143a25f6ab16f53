"""ASAPNet's sinusoidal pixel coordinates, the extra inputs of the pixel-wise MLPs.

For the periods f = S, S/2, ..., 2 (S = the cell size) and a pixel at column x and row y, the channels are, in
this order for each f, largest f first:

    cos(2 pi (x mod f) / f), sin(2 pi (x mod f) / f), cos(2 pi (y mod f) / f), sin(2 pi (y mod f) / f)

so 4 * log2(S) channels. This is the official `_get_coords(..., 'cosine')` (tamarott/ASAPNet
`models/networks/generator.py`): same periods, order [xcos, xsin, ycos, ysin] per period, zero phase at x = 0,
and the channels are appended after the label channels.

Every period divides S, so the encoding depends only on (x mod S, y mod S): all S x S cells see the same tile.
`tile_encoding` returns that one tile; the generator feeds it to the MLPs once per tile instead of building
and concatenating a full-resolution coordinate map (which upstream caches with the batch size baked in).
Values are computed in float64 with numpy and rounded once to float32: they are constants of the model.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Float


def periods(cell: int) -> list[int]:
    """S, S/2, ..., 2 for a power-of-two cell size S."""
    if cell < 2 or cell & (cell - 1):
        raise ValueError(f"the cell size must be a power of 2 >= 2, got {cell}")
    out = []
    f = cell
    while f > 1:
        out.append(f)
        f //= 2
    return out


def coordinate_encoding(height: int, width: int, cell: int) -> Float[np.ndarray, "h w c"]:
    """The 4 * log2(cell) coordinate channels of every pixel of a `height x width` image (float32)."""
    x = np.arange(width, dtype=np.float64)
    y = np.arange(height, dtype=np.float64)
    channels = []
    for f in periods(cell):
        ax = 2 * np.pi * np.remainder(x, f) / f
        ay = 2 * np.pi * np.remainder(y, f) / f
        for values, along_x in ((np.cos(ax), True), (np.sin(ax), True), (np.cos(ay), False), (np.sin(ay), False)):
            grid = values[None, :] if along_x else values[:, None]
            channels.append(np.broadcast_to(grid, (height, width)))
    return np.stack(channels, axis=-1).astype(np.float32)


def tile_encoding(cell: int) -> Float[np.ndarray, "cell cell c"]:
    """The encoding of one S x S cell, identical for every cell of an image whose sides are multiples of S."""
    return coordinate_encoding(cell, cell, cell)
