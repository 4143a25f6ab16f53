"""Procedural street scenes: paired label maps and the images they describe, with no download.

ASAPNet (and SPADE before it) learns label map -> image on Cityscapes, ADE20K and CMP Facades, which all
need a manual download. This module is the embedded default: each example is a street-facade scene laid out
from random rectangles and ellipses (sky, buildings with roofs, a grid of windows and a door, a pavement,
a road with vehicles, trees and poles), and an image rendered *from* that label map.

The rendering is chosen so that the translation is learnable but not a per-class constant:
- every class has a base colour plus a texture tied to image position (bricks, roof tiles, paving slabs,
  wood grain, sky gradient, glass reflections), which a pixelwise network with positional encoding
  (ASAPNet's HR stream) can model;
- smooth value noise (foliage, asphalt, clouds) and a per-image light gradient add variation a
  label map cannot predict, as in real photographs;
- a soft 3x3 blur at the end removes the hard label boundaries.

Decisions (no paper to follow): 10 classes (`CLASS_NAMES`); example `i` of seed `s` is drawn from
`numpy.random.default_rng([s, i])`, so `generate(n, ..., offset=k)` returns examples k..k+n-1 of one fixed
stream whatever `n` is (the TFDS builder uses this for disjoint train/test splits).
"""

from __future__ import annotations

import numpy as np
from jaxtyping import UInt8

CLASS_NAMES = ("sky", "building", "window", "door", "roof", "pavement", "road", "vegetation", "vehicle", "pole")
NUM_CLASSES = len(CLASS_NAMES)
SKY, BUILDING, WINDOW, DOOR, ROOF, PAVEMENT, ROAD, VEGETATION, VEHICLE, POLE = range(NUM_CLASSES)

# Palette for figures (colorize), Cityscapes-like colours where a class exists there.
PALETTE = np.array(
    [
        [70, 130, 180],  # sky
        [70, 70, 70],  # building
        [250, 170, 30],  # window
        [190, 153, 153],  # door
        [150, 40, 40],  # roof
        [244, 35, 232],  # pavement
        [128, 64, 128],  # road
        [107, 142, 35],  # vegetation
        [0, 0, 142],  # vehicle
        [153, 153, 153],  # pole
    ],
    dtype=np.uint8,
)

# Base colours of the rendered image (RGB in [0, 1]); a per-example jitter is added.
_BASE = np.array(
    [
        [0.55, 0.72, 0.92],  # sky
        [0.66, 0.38, 0.28],  # building (brick)
        [0.18, 0.26, 0.38],  # window glass
        [0.40, 0.24, 0.12],  # door (wood)
        [0.42, 0.16, 0.12],  # roof tiles
        [0.68, 0.66, 0.62],  # pavement
        [0.30, 0.30, 0.32],  # road
        [0.20, 0.45, 0.15],  # vegetation
        [0.70, 0.10, 0.10],  # vehicle paint
        [0.22, 0.22, 0.24],  # pole
    ],
    dtype=np.float32,
)


def colorize(labels: UInt8[np.ndarray, "*batch h w"]) -> UInt8[np.ndarray, "*batch h w 3"]:
    """Maps class indices to `PALETTE` colours (for figures); indices must be < NUM_CLASSES."""
    return PALETTE[np.asarray(labels)]


def _value_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a random grid with spacing `cell` px, bilinearly interpolated to h x w."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.random((gh, gw), dtype=np.float32)
    y = np.arange(h, dtype=np.float32) / cell
    x = np.arange(w, dtype=np.float32) / cell
    y0, x0 = y.astype(np.int64), x.astype(np.int64)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)  # smoothstep: no visible grid lines
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def _layout(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Draws one label map [h, w] uint8 by painting shapes back to front."""
    yy, xx = np.mgrid[0:h, 0:w]
    labels = np.full((h, w), SKY, np.uint8)
    street = int(h * rng.uniform(0.62, 0.74))  # building bottom / pavement top
    kerb = street + max(2, int(h * rng.uniform(0.04, 0.08)))

    # Buildings side by side, each with a roof, a window grid and a door.
    cuts = np.sort(rng.uniform(0.15, 0.85, size=rng.integers(1, 4)))
    edges = np.concatenate([[0], (cuts * w).astype(int), [w]])
    for x0, x1 in zip(edges[:-1], edges[1:], strict=True):
        if x1 - x0 < 4:
            continue
        top = int(h * rng.uniform(0.1, 0.4))
        labels[top:street, x0:x1] = BUILDING
        roof_h = int(h * rng.uniform(0.03, 0.12))
        if rng.random() < 0.6:  # pitched roof: a triangle above the building
            mid, half = (x0 + x1) / 2, (x1 - x0) / 2
            inside = (yy < top) & (yy >= top - roof_h) & (np.abs(xx - mid) <= half * (1 - (top - yy) / (roof_h + 1)))
        else:  # flat roof band on the top of the building
            inside = (yy >= top) & (yy < top + max(1, roof_h // 2)) & (xx >= x0) & (xx < x1)
        labels[inside] = ROOF
        rows, cols = rng.integers(2, 6), max(1, int((x1 - x0) / (w * rng.uniform(0.06, 0.12))))
        body = top + roof_h // 2 + 1
        cell_h, cell_w = (street - body) / (rows + 0.5), (x1 - x0) / cols
        win_h, win_w = cell_h * rng.uniform(0.4, 0.65), cell_w * rng.uniform(0.35, 0.6)
        in_rows = ((yy - body) % cell_h < win_h) & (yy >= body) & (yy < body + rows * cell_h - (cell_h - win_h))
        offset = (cell_w - win_w) / 2
        in_cols = ((xx - x0 - offset) % cell_w < win_w) & (xx >= x0 + offset) & (xx < x1)
        labels[in_rows & in_cols & (labels == BUILDING)] = WINDOW
        door_w = max(2, int(cell_w * rng.uniform(0.3, 0.5)))
        door_x = int(rng.uniform(x0, max(x0 + 1, x1 - door_w)))
        door_top = street - max(2, int((street - top) * rng.uniform(0.15, 0.25)))
        labels[door_top:street, door_x : door_x + door_w] = DOOR

    labels[street:kerb] = PAVEMENT
    labels[kerb:] = ROAD
    # Poles on the pavement, trees in front of the buildings, vehicles on the road.
    for _ in range(rng.integers(0, 3)):
        px, pw = int(rng.uniform(0, w)), max(1, w // 128)
        labels[int(h * rng.uniform(0.25, 0.45)) : kerb, px : px + pw] = POLE
    for _ in range(rng.integers(0, 4)):
        cx, cy = rng.uniform(0, w), street - h * rng.uniform(0.05, 0.15)
        rx, ry = w * rng.uniform(0.04, 0.1), h * rng.uniform(0.06, 0.14)
        labels[((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1] = VEGETATION
    for _ in range(rng.integers(0, 4)):
        cx, cy = rng.uniform(0, w), rng.uniform(kerb + 0.05 * h, h)
        rx, ry = w * rng.uniform(0.06, 0.14), h * rng.uniform(0.05, 0.09)
        body = (np.abs(xx - cx) / rx) ** 4 + (np.abs(yy - cy) / ry) ** 4 <= 1  # rounded box
        cabin = ((xx - cx) / (0.55 * rx)) ** 2 + ((yy - (cy - ry)) / (0.8 * ry)) ** 2 <= 1
        labels[body | (cabin & (yy < cy))] = VEHICLE
    return labels


def render(labels: UInt8[np.ndarray, "h w"], rng: np.random.Generator) -> UInt8[np.ndarray, "h w 3"]:
    """Renders the image described by a label map of `CLASS_NAMES` indices.

    The random draws do not depend on the labels, so with the same `rng` state a changed label region
    changes the image only there (and one pixel around it, the blur).
    """
    h, w = labels.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    s = max(h, 64) / 256.0  # texture scale: bricks keep their look at any resolution
    base = np.clip(_BASE + rng.normal(0, 0.04, _BASE.shape).astype(np.float32), 0, 1)
    image = base[labels]  # [h, w, 3]
    shade = np.zeros((h, w), np.float32)  # added brightness, per class texture

    def where(c: int) -> np.ndarray:
        return labels == c

    fine = _value_noise(rng, h, w, max(2, int(3 * s))) - 0.5
    coarse = _value_noise(rng, h, w, max(4, int(24 * s))) - 0.5
    brick_h, brick_w = 6 * s, 14 * s
    row = np.floor(yy / brick_h)
    mortar = ((yy % brick_h) < max(1.0, s)) | (((xx + (row % 2) * brick_w / 2) % brick_w) < max(1.0, s))
    shade += where(BUILDING) * (np.where(mortar, 0.18, 0.0) + 0.08 * fine)
    tile = ((yy % (5 * s)) / (5 * s)) * 0.25 - 0.12
    shade += where(ROOF) * tile
    shade += where(WINDOW) * (0.18 * np.sin((xx + yy) * 0.35 / s) + 0.1 * (yy % (20 * s)) / (20 * s))
    shade += where(DOOR) * (0.08 * np.sin(xx * 1.7 / s) + 0.05 * fine)
    slab = ((yy % (10 * s)) < max(1.0, s)) | ((xx % (16 * s)) < max(1.0, s))
    shade += where(PAVEMENT) * np.where(slab, -0.15, 0.0)
    shade += where(ROAD) * (0.12 * fine + 0.1 * (yy / h - 0.8))
    shade += where(VEGETATION) * (0.35 * fine + 0.25 * coarse)
    shade += where(SKY) * (0.25 * (yy / h) + 0.2 * np.maximum(coarse, 0))
    shade += where(POLE) * 0.06 * np.sin(xx * 2.0 / s)
    image = image + shade[..., None]

    # Vehicles: one paint colour per image, shaded light at the top and dark at the bottom.
    paint = rng.random(3).astype(np.float32)
    car = where(VEHICLE)
    car_shade = 0.25 * np.cos(yy * 0.5 / s)
    image[car] = np.clip(paint * 0.8 + car_shade[car][:, None], 0, 1)

    light = 0.85 + 0.3 * (xx / w if rng.random() < 0.5 else 1 - xx / w)  # sun from the left or right
    image = image * light[..., None] + rng.normal(0, 0.015, image.shape).astype(np.float32)
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")  # soft edges: 3x3 box blur
    image = sum(padded[dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def generate(
    n: int, height: int, width: int, seed: int, offset: int = 0
) -> tuple[UInt8[np.ndarray, "n h w"], UInt8[np.ndarray, "n h w 3"]]:
    """Generates `n` paired examples (label maps, images), deterministic from `seed`.

    Example `i` is `offset + i` of the stream of `seed`, independent of `n`. Labels are class indices in
    [0, NUM_CLASSES); images are RGB uint8.
    """
    if n < 0 or height < 8 or width < 8:
        raise ValueError(f"need n >= 0 and a size of at least 8x8, got n={n}, {height}x{width}")
    labels = np.empty((n, height, width), np.uint8)
    images = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        rng = np.random.default_rng([seed, offset + i])
        labels[i] = _layout(rng, height, width)
        images[i] = render(labels[i], rng)
    return labels, images
