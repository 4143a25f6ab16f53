"""Multi-scale sliced Wasserstein distance (SWD) between the patches of a real image and of fakes.

Method (Karras et al. 2018, "Progressive Growing of GANs", and their code,
`progressive_growing_of_gans/metrics/sliced_wasserstein.py`):

1. Build a Laplacian pyramid of every image: Gaussian levels are made by blurring with the 5x5
   binomial kernel [1, 4, 6, 4, 1]^2 / 256 (mirror borders) and keeping every second pixel
   (`cv2.pyrDown`); each Laplacian level is a Gaussian level minus the next one upsampled back
   (zero insertion, the same kernel x 4). The last level is the coarsest Gaussian level itself.
   Levels are added while the shorter side is at least 16 px (Karras: 1024 ... 16).
2. From every level, sample 7x7 neighbourhoods at random positions; each flattened patch
   (7 * 7 * c values) is one "descriptor".
3. Normalise each colour channel of a descriptor set to zero mean and unit std (over descriptors
   and the 7x7 positions).
4. The sliced Wasserstein distance between two equally large descriptor sets is the mean, over
   random unit directions, of the 1-D Wasserstein-1 distance of their projections: sort both
   projections and average the absolute differences. Karras's code draws 4 repeats x 128
   directions (512 projections in all), averages, and reports the value x 1e3 per level plus the
   mean over levels. Fine levels measure texture/noise, coarse levels colour and layout.

Adaptation to single-image GANs (decisions):

* One real image against `n` fakes. Each fake contributes `descriptors_per_image` patches per
  level; the real image is sampled `n` times as often, so both sets have the same size and the
  sorted projections pair one to one (an exact empirical W1 in 1-D).
* Positions come from a JAX PRNG key (reproducible) and are shared: descriptor `j` of fake `i`
  and the real image's `(i, j)` descriptor use the same uniform draw, mapped onto each image's
  own valid range (common random numbers). A fake identical to the real image therefore scores
  exactly 0, and comparisons between models with the same key have less sampling noise. Fakes
  may have another size than the real image (SinGAN samples at other aspect ratios); the number
  of levels is then set by the smaller image, and a level is named after the real image's size.
* Normalisation: `normalize="separate"` (default, Karras) normalises the real and the fake set
  each with its own per-channel statistics, which makes the metric blind to global colour and
  contrast shifts (per channel, affinely), exactly as Karras's SWD is;
  `normalize="real"` uses the real set's statistics for both and so also sees such shifts.
  Either way the value range of the input ([-1, 1] here, uint8 in Karras) does not matter,
  because the pyramid is linear and the descriptors are standardised.
* Defaults are Karras's: 7x7 patches, 128 descriptors per image, 4 x 128 directions, levels down
  to 16 px. Reading the numbers: changing the key moves the result by ~1% (50 fakes of 128 px),
  but an image is never at 0 from *another* image of the same kind, because one real image holds
  few patches at coarse levels (a 16 px level has 10 x 10 positions). For 50 other realisations of
  a random texture we measured ~25 at 128 px and ~160 at 16 px (mean ~67). So compare models with
  the same key, number of fakes and `descriptors_per_image` (more descriptors lower the fine-level
  floor: ~15 at 512 per image), not against 0.
* Everything after input checks is one jitted JAX function (pyramid, sampling, projections,
  sorting); shapes and hyper-parameters are static, so each new image size compiles once.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from jaxinterp.errors import InputError

_BINOMIAL = (1.0 / 16, 4.0 / 16, 6.0 / 16, 4.0 / 16, 1.0 / 16)
_STD_FLOOR = 1e-6  # a descriptor channel with a smaller std (a flat level) is only centred


def _blur(x: Float[Array, "n h w c"], gain: float) -> Float[Array, "n h w c"]:
    """Correlates with the 5x5 binomial kernel x `gain`, mirror borders (scipy "mirror", cv2 REFLECT_101).

    Written as shifted slices along each axis: on CPU this is ~10x faster than XLA's depthwise conv.
    """
    h, w = x.shape[1:3]
    padded = jnp.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    rows = sum(t * padded[:, k : k + h] for k, t in enumerate(_BINOMIAL))
    return sum(gain * t * rows[:, :, k : k + w] for k, t in enumerate(_BINOMIAL))


def pyr_down(x: Float[Array, "n h w c"]) -> Float[Array, "n h2 w2 c"]:
    """Blurs with the 5x5 binomial kernel and keeps even pixels: (h, w) -> (ceil(h/2), ceil(w/2))."""
    return _blur(x, 1.0)[:, ::2, ::2, :]


def pyr_up(x: Float[Array, "n h w c"], out_hw: tuple[int, int]) -> Float[Array, "n H W c"]:
    """Inverse of `pyr_down` up to blur: zero insertion into `out_hw`, then the kernel x 4.

    `out_hw` must satisfy ceil(H / 2) == h and ceil(W / 2) == w; odd sizes are handled by inserting
    directly into the target grid (Karras only handles even sizes).
    """
    n, _, _, c = x.shape
    sparse = jnp.zeros((n, out_hw[0], out_hw[1], c), x.dtype).at[:, ::2, ::2, :].set(x)
    return _blur(sparse, 4.0)


def level_sizes(hw: tuple[int, int], min_size: int = 16) -> list[tuple[int, int]]:
    """Sizes of the pyramid levels, finest first, while the shorter side stays >= `min_size`."""
    sizes = [tuple(hw)]
    while True:
        h, w = sizes[-1]
        nxt = (math.ceil(h / 2), math.ceil(w / 2))
        if min(nxt) < min_size:
            return sizes
        sizes.append(nxt)


def laplacian_pyramid(images: Float[Array, "n h w c"], num_levels: int) -> list[Float[Array, "n hi wi c"]]:
    """Laplacian pyramid, finest band first; the last entry is the coarsest Gaussian level."""
    gaussians = [images]
    for _ in range(num_levels - 1):
        gaussians.append(pyr_down(gaussians[-1]))
    bands = [g - pyr_up(nxt, g.shape[1:3]) for g, nxt in zip(gaussians[:-1], gaussians[1:], strict=True)]
    return [*bands, gaussians[-1]]


def sample_descriptors(
    level: Float[Array, "m h w c"],
    uniforms: Float[Array, "n k 2"],
    patch_size: int,
) -> Float[Array, "nk p p c"]:
    """Cuts `patch_size`^2 patches whose top-left corners are `uniforms` scaled to the valid range.

    Row `i` of `uniforms` reads image `i` of `level`, or image 0 when `level` holds one image (the
    real one), so the same draws give the same relative positions in the real image and the fakes.
    """
    m, h, w, _ = level.shape
    n, k, _ = uniforms.shape
    # min(): float32 rounding can turn u * n into n for u just below 1.
    top = jnp.minimum(jnp.floor(uniforms[..., 0] * (h - patch_size + 1)), h - patch_size).astype(jnp.int32)
    left = jnp.minimum(jnp.floor(uniforms[..., 1] * (w - patch_size + 1)), w - patch_size).astype(jnp.int32)
    offsets = jnp.arange(patch_size)
    rows = (top[..., None] + offsets)[:, :, :, None]  # n k p 1
    cols = (left[..., None] + offsets)[:, :, None, :]  # n k 1 p
    image = (jnp.arange(n) if m > 1 else jnp.zeros(n, jnp.int32))[:, None, None, None]
    patches = level[image, rows, cols]  # n k p p c
    return patches.reshape(n * k, patch_size, patch_size, level.shape[-1])


def _standardise(desc: Float[Array, "N p p c"], stats_from: Float[Array, "N p p c"]) -> Float[Array, "N d"]:
    mean = jnp.mean(stats_from, axis=(0, 1, 2))
    std = jnp.std(stats_from, axis=(0, 1, 2))
    std = jnp.where(std > _STD_FLOOR, std, 1.0)
    return ((desc - mean) / std).reshape(desc.shape[0], -1)


def sliced_wasserstein_1d(
    a: Float[Array, "N d"], b: Float[Array, "N d"], key: PRNGKeyArray, num_repeats: int, dirs_per_repeat: int
) -> Float[Array, ""]:
    """Mean over random unit directions of the W1 distance between the projected sets."""

    def one_repeat(k):
        dirs = jax.random.normal(k, (a.shape[1], dirs_per_repeat), a.dtype)
        dirs = dirs / jnp.linalg.norm(dirs, axis=0, keepdims=True)
        hi = jax.lax.Precision.HIGHEST
        pa = jnp.sort(jnp.matmul(a, dirs, precision=hi), axis=0)
        pb = jnp.sort(jnp.matmul(b, dirs, precision=hi), axis=0)
        return jnp.mean(jnp.abs(pa - pb))

    return jnp.mean(jax.lax.map(one_repeat, jax.random.split(key, num_repeats)))


@functools.partial(
    jax.jit,
    static_argnames=(
        "num_levels",
        "patch_size",
        "descriptors_per_image",
        "num_repeats",
        "dirs_per_repeat",
        "normalize",
    ),
)
def _swd_per_level(
    real: Float[Array, "1 h w c"],
    fakes: Float[Array, "n H W c"],
    key: PRNGKeyArray,
    *,
    num_levels: int,
    patch_size: int,
    descriptors_per_image: int,
    num_repeats: int,
    dirs_per_repeat: int,
    normalize: str,
) -> Float[Array, " levels"]:
    if real.shape[1:] == fakes.shape[1:]:  # one pyramid for both: half the code to compile
        both = laplacian_pyramid(jnp.concatenate([real, fakes]), num_levels)
        real_pyr, fake_pyr = [lvl[:1] for lvl in both], [lvl[1:] for lvl in both]
    else:
        real_pyr = laplacian_pyramid(real, num_levels)
        fake_pyr = laplacian_pyramid(fakes, num_levels)
    pos_key, dir_key = jax.random.split(key)
    n = fakes.shape[0]
    real_sets, fake_sets = [], []
    for index, (real_level, fake_level) in enumerate(zip(real_pyr, fake_pyr, strict=True)):
        uniforms = jax.random.uniform(jax.random.fold_in(pos_key, index), (n, descriptors_per_image, 2))
        real_desc = sample_descriptors(real_level, uniforms, patch_size)
        fake_desc = sample_descriptors(fake_level, uniforms, patch_size)
        real_sets.append(_standardise(real_desc, real_desc))
        fake_sets.append(_standardise(fake_desc, real_desc if normalize == "real" else fake_desc))
    # Every level has n * descriptors_per_image descriptors of one length, so one compiled body
    # serves all levels.
    level_keys = jax.random.split(dir_key, num_levels)
    values = jax.lax.map(
        lambda args: sliced_wasserstein_1d(*args, num_repeats, dirs_per_repeat),
        (jnp.stack(real_sets), jnp.stack(fake_sets), level_keys),
    )
    return 1e3 * values


def sliced_wasserstein(
    real: Float[Array, "h w c"],
    fakes: Float[Array, "n H W c"],
    key: PRNGKeyArray,
    *,
    patch_size: int = 7,
    descriptors_per_image: int = 128,
    num_repeats: int = 4,
    dirs_per_repeat: int = 128,
    min_size: int = 16,
    normalize: str = "separate",
) -> dict[str, float]:
    """Multi-scale SWD (x 1e3) between the patches of one real image and of a set of fakes.

    Args:
      real: the training image, values in [-1, 1] (any affine range gives the same result).
      fakes: generated samples, all of one size (which may differ from the real image's).
      key: PRNG key for patch positions and projection directions; same key, same result.
      patch_size: side of the square descriptors (Karras: 7).
      descriptors_per_image: patches drawn per fake and level; the real image gives `n` times as many.
      num_repeats: groups of random directions (Karras: 4).
      dirs_per_repeat: directions per group (Karras: 128; 4 x 128 = 512 projections).
      min_size: the coarsest level is the last one whose shorter side is >= this (Karras: 16).
      normalize: "separate" (Karras: each set by its own per-channel mean/std) or "real" (both
        sets by the real descriptors' statistics, sensitive to global colour shifts).

    Returns:
      `{"swd_{h}x{w}": value, ...}` per level, finest first, named by the real image's level size,
      and `"swd_mean"`, their average. Lower is better; 0 means identical sampled patches.

    Raises:
      InputError: wrong ranks or channel counts, fewer than one fake, images smaller than
        `max(min_size, patch_size)`, or an unknown `normalize`.
    """
    real = jnp.asarray(real, jnp.float32)
    fakes = jnp.asarray(fakes, jnp.float32)
    if real.ndim != 3 or fakes.ndim != 4:
        raise InputError(f"expected real 'h w c' and fakes 'n h w c', got shapes {real.shape} and {fakes.shape}")
    if fakes.shape[0] < 1 or real.shape[-1] != fakes.shape[-1]:
        raise InputError(f"need >= 1 fake with the real image's channels; got {fakes.shape} vs {real.shape}")
    if normalize not in ("separate", "real"):
        raise InputError(f"normalize must be 'separate' or 'real', got {normalize!r}")
    floor = max(min_size, patch_size, 3)  # 3: the mirror padding needs it
    smallest = min(*real.shape[:2], *fakes.shape[1:3])
    if smallest < floor:
        raise InputError(f"images must be at least {floor} px on each side, got {smallest}")
    real_sizes = level_sizes(real.shape[:2], floor)
    num_levels = min(len(real_sizes), len(level_sizes(fakes.shape[1:3], floor)))
    per_level = _swd_per_level(
        real[None],
        fakes,
        key,
        num_levels=num_levels,
        patch_size=patch_size,
        descriptors_per_image=descriptors_per_image,
        num_repeats=num_repeats,
        dirs_per_repeat=dirs_per_repeat,
        normalize=normalize,
    )
    per_level = np.asarray(per_level, np.float64)
    result = {f"swd_{h}x{w}": float(v) for (h, w), v in zip(real_sizes[:num_levels], per_level, strict=True)}
    result["swd_mean"] = float(per_level.mean())
    return result
