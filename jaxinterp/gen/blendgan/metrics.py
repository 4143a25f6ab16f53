"""How much of each source a structure-texture fusion shows: fine-scale patch statistics (texture) and
a low-pass image (structure).

  * texture: the patch SWD (x 1e3, `gen.metrics.swd`: Karras's 7x7 descriptors of a Laplacian
    pyramid, each set normalised per colour channel, so blind to global colour shifts) of the fused
    image(s) to a source image at the finest Laplacian band (details of 2-4 px) and the mean over the
    two finest bands (`swd_fine`); lower = more like that image's textures;
  * structure: the MSE between the sources and the fused image after an antialiased downsampling by
    `LOWPASS_FACTOR` (`lowpass_mse`: layout and colour of regions; on [-1, 1] pixels), and the same
    after standardising each low-pass image per colour channel (`layout_mse`, 2 (1 - correlation):
    the layout alone, as blind to a new palette as the SWD is); lower = closer;
  * two shares in [0, 1] that sum both up: `texture_share` = d_s / (d_s + d_t) with the `swd_fine`
    distances d to the structure (s) and texture (t) image (0: the structure's fine patches, 1: the
    texture's), and `structure_share` = l_t / (l_s + l_t) with the `layout_mse` l (1: the
    structure's layout). A structure image scores about (0.2, 1), a texture image (0.8, 0) (the
    measured reconstructions), a good fusion high in both.

Decisions: the low-pass is a fixed factor of the finest size, not a pyramid level, so pyramids of
different depth are scored alike; SWD uses one key for every comparison (common random numbers), so
"to texture" and "to structure" differ by the images only. SWD values fall as more images are
compared (more descriptors), so compare scores computed on the same number of images.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from jaxinterp.gen.metrics.swd import sliced_wasserstein

LOWPASS_FACTOR = 4  # 43x64 -> 11x16 px: two octaves below the finest scale


def lowpass(images: Float[Array, "n h w c"], factor: int = LOWPASS_FACTOR) -> Float[Array, "n hl wl c"]:
    """Antialiased linear downsampling by `factor` (at least 1 px per side)."""
    n, h, w, c = images.shape
    shape = (n, max(1, round(h / factor)), max(1, round(w / factor)), c)
    return jax.image.resize(jnp.asarray(images, jnp.float32), shape, method="linear", antialias=True)


def lowpass_mse(images: Float[Array, "n h w c"], reference: Float[Array, "h w c"]) -> float:
    """Mean over `images` of the low-pass MSE to `reference`."""
    return float(jnp.mean((lowpass(images) - lowpass(jnp.asarray(reference)[None])) ** 2))


def layout_mse(images: Float[Array, "n h w c"], reference: Float[Array, "h w c"]) -> float:
    """`lowpass_mse` after standardising every low-pass image per colour channel (zero mean, unit
    std over its pixels): 2 (1 - Pearson correlation), blind to per-channel colour and contrast."""

    def standardise(x):
        x = lowpass(x)
        x = x - jnp.mean(x, axis=(1, 2), keepdims=True)
        return x * jax.lax.rsqrt(jnp.mean(x**2, axis=(1, 2), keepdims=True) + 1e-12)

    return float(jnp.mean((standardise(jnp.asarray(images)) - standardise(jnp.asarray(reference)[None])) ** 2))


def fine_swd(images: Float[Array, "n h w c"], reference: Float[Array, "h w c"], key: Array) -> dict[str, float]:
    """Patch SWD of `images` to `reference`: the finest band (`swd_finest`) and the two finest (`swd_fine`)."""
    levels = sliced_wasserstein(reference, images, key)
    bands = [v for name, v in levels.items() if name != "swd_mean"][:2]
    return {"swd_finest": bands[0], "swd_fine": float(np.mean(bands))}


def fusion_scores(
    fused: Float[Array, "n h w c"],
    structure: Float[Array, "h w c"],
    texture: Float[Array, "h w c"],
    key: Array,
) -> dict[str, float]:
    """Texture and structure distances of `fused` to both sources (see the module docstring)."""
    scores = {}
    for name, image in (("structure", structure), ("texture", texture)):
        for metric, value in fine_swd(fused, image, key).items():
            scores[f"{metric}_to_{name}"] = value
        scores[f"lowpass_mse_to_{name}"] = lowpass_mse(fused, image)
        scores[f"layout_mse_to_{name}"] = layout_mse(fused, image)
    texture = scores["swd_fine_to_structure"], scores["swd_fine_to_texture"]
    structure = scores["layout_mse_to_texture"], scores["layout_mse_to_structure"]
    scores["texture_share"] = texture[0] / max(sum(texture), 1e-12)
    scores["structure_share"] = structure[0] / max(sum(structure), 1e-12)
    return scores
