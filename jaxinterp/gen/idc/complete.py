"""Diverse completions of the hole from a trained IDC pyramid, and how to measure them.

Sampling (official IDC, via gen.md): at every scale the noise outside the (dilated) hole is the
reconstruction noise (z_opt at the coarsest scale, zero above), inside it fresh Gaussian noise, so the
visible region follows its reconstruction and the hole gets a new sample each time; SinGAN's frozen
generators (`singan.sampling.run_pyramid`) run coarse to fine; finally the visible pixels are taken from
the image itself (merge by the known map).

Measures (no learned weights):
  * `hole_diversity`: SinGAN's diversity restricted to the hole: the mean over hole pixels (and
    channels) of the per-pixel std across completions, divided by the std of the visible pixels.
    0 = all completions equal.
  * `hole_patch_distance`: fidelity to the visible region: for every p x p patch of a completion that
    overlaps the hole, the distance (RMS over its values, [-1, 1] units) to its nearest fully visible
    patch of the image; the mean over patches and completions. Low = the hole is made of the image's
    own patches. Read it next to the same number for a flat fill with the visible mean colour
    (`flat_fill_patch_distance`), a completion that invents nothing, and, when the input file still
    holds pixels in the hole (a synthetic hole), for those (`original_patch_distance`).

Measured (fast preset, builtin:chelsea at 43x64 / 33x49 / 25x38, the hole rows 37.5-62.5% x columns
25-45% = 6.1% of the finest level, 8 completions; one training run each on 2 busy CPU cores, sample
seeds 0 / 1 / 2 of it):

  version                                           hole_diversity     hole_patch_distance    wall
  every scale masked, SinGAN's schedule (fbfefac)   0.40 / 0.43 / 0.38  0.161 / 0.161 / 0.160  1.9 min
  + masked critic BatchNorm, dilated reconstruction 0.47 / 0.47 / 0.44  0.166 / 0.166 / 0.165  8.2 min*
    mask, masked schedule (5e-5, 300 it.) everywhere
  + DIP pre-fill of scale 0, which then trains as   0.49 / 0.44 / 0.39  0.164 / 0.161 / 0.160  6.3 min*
    plain SinGAN (200 it. at 5e-4); scales 1-2 masked

At this size the changes move both numbers by about the spread between sample seeds; the fast preset's
300 iterations at upstream's 5e-5 leave the masked scales under-trained.

References on the same hole: the photo's own hole pixels 0.177, a flat fill 0.146 (smooth fur at
64 px: flat patches have close visible neighbours, so this reference is low on smooth images).
(* the cores were shared with 2-3 other jobs; iterations: 600 before, 900 and 901 + 301 pre-fill.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.gen.idc import masks
from jaxinterp.gen.idc.config import IDCConfig
from jaxinterp.gen.idc.store import TrainedIDC
from jaxinterp.gen.singan.sampling import draw_noise, run_pyramid


def completion_noises(
    cfg: IDCConfig, scales: list[dict], knowns: list[Array], key: Array, num: int
) -> list[Float[Array, "b h w 3"]]:
    """Per scale: reconstruction noise outside the dilated hole, fresh noise inside."""
    noises = []
    for n, (k, scale, known) in enumerate(zip(jax.random.split(key, len(scales)), scales, knowns, strict=True)):
        hole = masks.dilate_hole(known, cfg.hole_dilation)[None, ..., None]
        fresh = draw_noise(k, n, num, known.shape)
        base = jnp.broadcast_to(scale["z_opt"], fresh.shape)
        noises.append(hole * fresh + (1.0 - hole) * base)
    return noises


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _complete(cfg: IDCConfig, shapes: tuple, scale_factor: float, num: int, scales, knowns, finest, key):
    generated = run_pyramid(
        cfg,
        scales,
        list(range(len(shapes))),
        shapes,
        scale_factor,
        completion_noises(cfg, scales, knowns, key, num),
        jnp.zeros((num, *shapes[0], 3)),
    )
    known = knowns[-1][None, ..., None]
    return known * finest + (1.0 - known) * generated


def complete(model: TrainedIDC, key: Array, num: int) -> Float[np.ndarray, "n h w 3"]:
    """`num` completions of the finest level (visible pixels copied from the image); one compiled
    program per (pyramid, num)."""
    scales = [{"g": s["g"], "z_opt": s["z_opt"], "noise_amp": s["noise_amp"]} for s in model.scales]
    geometry = model.geometry
    args = (scales, [jnp.asarray(k) for k in model.knowns], jnp.asarray(model.reals[-1]), key)
    return np.asarray(_complete(model.config, geometry.shapes, geometry.scale_factor, num, *args))


def hole_diversity(
    completions: Float[np.ndarray, "n h w 3"], image: Float[np.ndarray, "h w 3"], known: Float[np.ndarray, "h w"]
) -> float:
    """Mean per-pixel std across completions inside the hole / std of the visible pixels."""
    hole = np.asarray(known) < 0.5
    spread = np.std(np.asarray(completions), axis=0)[hole]
    return float(np.mean(spread) / np.std(np.asarray(image)[~hole]))


def _patches(image: np.ndarray, p: int) -> np.ndarray:
    """All p x p patches, (h - p + 1) x (w - p + 1) x p*p*c."""
    windows = np.lib.stride_tricks.sliding_window_view(image, (p, p), axis=(0, 1))  # h' w' c p p
    return windows.reshape(*windows.shape[:2], -1)


@jax.jit
def _nearest_rms(queries: Float[Array, "q d"], pool: Float[Array, "m d"]) -> Float[Array, " q"]:
    squared = jnp.sum(queries**2, 1)[:, None] + jnp.sum(pool**2, 1)[None] - 2.0 * queries @ pool.T
    return jnp.sqrt(jnp.maximum(jnp.min(squared, axis=1), 0.0) / queries.shape[1])


def hole_patch_distance(
    completions: Float[np.ndarray, "n h w 3"],
    image: Float[np.ndarray, "h w 3"],
    known: Float[np.ndarray, "h w"],
    patch: int = 7,
    max_patches: int = 4096,
    seed: int = 0,
) -> float:
    """Mean RMS distance of the completions' hole-overlapping patches to their nearest visible patch.

    At most `max_patches` query patches and `max_patches` visible patches are used (a seeded subset).
    """
    rng = np.random.default_rng(seed)
    visible = _patches(np.asarray(known, np.float32)[..., None], patch).min(axis=-1) >= 1.0
    touches_hole = ~visible
    pool = _patches(np.asarray(image, np.float32), patch)[visible]
    queries = np.concatenate([_patches(np.asarray(c, np.float32), patch)[touches_hole] for c in completions])
    if len(pool) == 0 or len(queries) == 0:
        raise ValueError("no fully visible patch or no patch touching the hole")
    if len(pool) > max_patches:
        pool = pool[rng.choice(len(pool), max_patches, replace=False)]
    if len(queries) > max_patches:
        queries = queries[rng.choice(len(queries), max_patches, replace=False)]
    return float(jnp.mean(_nearest_rms(jnp.asarray(queries), jnp.asarray(pool))))


def flat_fill(image: Float[np.ndarray, "h w 3"], known: Float[np.ndarray, "h w"]) -> Float[np.ndarray, "h w 3"]:
    """The image with its hole filled by the mean visible colour (the reference completion)."""
    hole = np.asarray(known) < 0.5
    mean = np.asarray(image)[~hole].mean(axis=0)
    return np.where(hole[..., None], mean, image)


def measure(
    completions: np.ndarray, model: TrainedIDC, original: np.ndarray | None = None, patch: int = 7
) -> dict[str, float]:
    """Diversity and fidelity of completions of `model`'s finest level (see the module docstring).

    `original`: the finest level of the input as given (its hole holds the file's own pixels, e.g. the
    ground truth of a synthetic hole); adds the same patch distance for it as a reference.
    """
    image, known = model.reals[-1], model.knowns[-1]
    result = {
        "hole_diversity": hole_diversity(completions, image, known),
        "hole_patch_distance": hole_patch_distance(completions, image, known, patch),
        "flat_fill_patch_distance": hole_patch_distance(flat_fill(image, known)[None], image, known, patch),
        "hole_fraction": float(np.mean(np.asarray(known) < 0.5)),
    }
    if original is not None:
        result["original_patch_distance"] = hole_patch_distance(np.asarray(original)[None], image, known, patch)
    return result


def contact_sheet(
    image: Float[np.ndarray, "h w 3"], known: Float[np.ndarray, "h w"], completions: np.ndarray, columns: int = 4
) -> Float[np.ndarray, "H W 3"]:
    """The masked input (hole in white) followed by the completions, in a grid with 2 px gaps."""
    masked = np.where(np.asarray(known)[..., None] > 0.5, image, 1.0)
    tiles = [masked, *np.asarray(completions)]
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    h, w = masked.shape[:2]
    sheet = np.ones((rows * (h + 2) - 2, columns * (w + 2) - 2, 3), np.float32)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * (h + 2) : r * (h + 2) + h, c * (w + 2) : c * (w + 2) + w] = tile
    return sheet
