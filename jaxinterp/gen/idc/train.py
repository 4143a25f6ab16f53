"""Training IDC on the visible part of one image: SinGAN's pyramid, networks and iteration, with masks,
on the shared coarse-to-fine trainer (`gen/pyramid_train`). This module is IDC's `Recipe`.

The hole's pixels are blanked (set to 0, mid-grey) before the pyramid is built, so nothing of what the
input file holds there reaches training. The first masked scale is upstream's `scale_to_start_masking`
(`masks.first_masked_scale`: scale 0 if < 25% of its critic windows touch the hole, else the first
scale where < 60% do or > 5000 are fully visible, else the finest). The scales below it train as plain
SinGAN on the image whose hole a Deep-Image-Prior net fitted to the visible pixels has filled
(`prefill.py`, kept in <run>/prefill.npy and .png). At each masked scale n (official NoaAlkobi/IDC):
  * the critic's real scores count only where its 11x11 window holds known pixels (`masks.score_mask`);
    the gradient penalty is restricted the same way (norms scaled by all / kept scores); the fake's
    scores count everywhere, so the generator is pushed to make every patch, the hole's included, look
    like a visible patch;
  * the critic's BatchNorm statistics on the real image (and the penalty's interpolates) are taken over
    the positions whose receptive field is all visible, layer by layer (`singan.model.Trunk`), so the
    hole never shifts how visible patches are scored; on fakes over every position;
  * the reconstruction loss reads known pixels only, through upstream's gradually dilated mask
    (`masks.reconstruction_weight`): the hole dilated by a disk of radius min(n, 5), blurred with
    sigma 5 px, scaled to [0, 1] and subtracted from 1, so visible pixels near the hole weigh less; the
    loss is sum(w^2 err^2) / (3 sum(w)) (upstream's MSE of w * rec vs w * real times area / sum(w)),
    with alpha = 10, raised to 100 on the finest floor(stop_scale / 3) (>= 1) scales;
  * noise_amp_n = 0.1 x RMSE(real, upsampled reconstruction) over known pixels;
  * masked scales train with upstream's masked schedule (`IDCConfig.masked_schedule`): Adam 5e-5 for G
    and D, 3000 iterations, the x0.1 drop set at 3500 (so never reached); unmasked scales keep SinGAN's
    5e-4, 2000 iterations, drop at 1600.
The iteration itself is SinGAN's (`singan.train.iteration`, which reads these masks from the scale data).

Decisions (gen.md marks IDC's details as code-read; these are where we differ or choose):
  * A hole that leaves a masked scale's critic no fully visible window is an input error naming the
    scale (upstream would train on an empty real loss).
  * The pre-fill's details (a fixed input code, a palette subset, the rendered output): `prefill.py`.
  * Inputs are zero-padded as in SinGAN; upstream IDC's default `pad_with_noise` draws larger noise
    maps instead.
  * Sampling (`complete.py`) dilates the hole by a fixed `hole_dilation` (5 px) at every scale and
    merges by the known map; upstream's `--diversity d` erodes by 8 - d and merges through a blurred
    dilated mask.
  * The reconstruction weight's schedule (gen.md only says "gradually dilated, sigma 5"), read from
    upstream: disk radius min(n, 5) at level n, the blur truncated at 4 sigma with edge-replicated
    borders (scipy's default in skimage's `gaussian`), min-max scaled over the whole level.
  * A pixel of a coarser level is known only if its resized known map is >= 0.999.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.data.images import load_mask, load_rgb
from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_train
from jaxinterp.gen.gan_losses import masked_mean
from jaxinterp.gen.idc import masks, prefill, store
from jaxinterp.gen.idc.config import IDCConfig
from jaxinterp.gen.pyramid import PyramidGeometry, build_pyramid
from jaxinterp.gen.singan import train as singan_train
from jaxinterp.gen.singan.sampling import draw_noise, random_prev


@dataclasses.dataclass(frozen=True)
class ScaleSpec(singan_train.ScaleSpec):
    """SinGAN's scale description plus the pyramid's size (it sets the finest scales' alpha) and whether
    the scale trains on the visible pixels only (masked) or, below the first masked scale, on the whole
    pre-filled image as plain SinGAN."""

    num_scales: int = 1
    masked: bool = True


def alpha_for(cfg: IDCConfig, scale: int, num_scales: int) -> float:
    """alpha_fine on the finest `cfg.fine_scales(num_scales)` scales, alpha below."""
    return cfg.alpha_fine if scale >= num_scales - cfg.fine_scales(num_scales) else cfg.alpha


def scale_data(cfg: IDCConfig, spec: ScaleSpec, real: dict, frozen: list[dict], key: jax.Array) -> dict:
    """SinGAN's fixed scale data (real, z_opt, rec_prev, noise_amp) from the known pixels, plus the
    masks and alpha that `singan.train.iteration` reads. `real`: {"image": (h, w, 3), "known": (h, w)}."""
    image = real["image"]
    if spec.masked:
        known = real["known"]
        rec_weight = masks.reconstruction_weight(known, spec.scale, cfg.rec_blur_sigma, cfg.rec_max_dilation)
    else:  # every pixel counts: SinGAN's critic, reconstruction and noise amplitude
        known = rec_weight = jnp.ones_like(real["known"])
    rf = masks.receptive_field(cfg.num_layer, cfg.kernel_size)
    data = {
        "real": image,
        "known": known,
        "score_mask": masks.score_mask(known, rf),
        "rec_weight": rec_weight,
        "alpha": jnp.asarray(alpha_for(cfg, spec.scale, spec.num_scales), jnp.float32),
    }
    if spec.scale == 0:
        return data | {
            "z_opt": draw_noise(key, 0, 1, spec.hw)[0],
            "rec_prev": jnp.zeros_like(image),
            "noise_amp": jnp.ones(()),
        }
    rec_prev = random_prev(cfg, frozen, spec.shapes, spec.scale_factor, key, reconstruct=True)[0]
    rmse = jnp.sqrt(masked_mean((image - rec_prev) ** 2, known[..., None]))
    return data | {"z_opt": jnp.zeros_like(image), "rec_prev": rec_prev, "noise_amp": cfg.noise_amp_init * rmse}


@dataclasses.dataclass(frozen=True)
class IDCRecipe(pyramid_train.ConfigRecipe):
    """IDC for the shared pyramid trainer: SinGAN's state and iteration, IDC's scale data."""

    metric_names = singan_train.METRIC_NAMES
    kept = ("z_opt", "noise_amp", "known")
    init_fn = staticmethod(singan_train.init_state)
    data_fn = staticmethod(scale_data)
    iteration_fn = staticmethod(singan_train.iteration)


def recipe_for(cfg: IDCConfig, masked: bool) -> IDCRecipe:
    """The recipe of masked scales (the masked schedule: `IDCConfig.masked_schedule`) or unmasked ones."""
    return IDCRecipe(cfg.masked_schedule() if masked else cfg)


def prepare(image_path: str, mask_path: str, cfg: IDCConfig) -> tuple[PyramidGeometry, list[dict], int]:
    """Reads and checks the image and mask; returns the geometry, each level's {"image", "known"} and
    the first masked scale (`masks.first_masked_scale`; the levels below it are not pre-filled yet).

    Raises:
      InputError: unreadable files, mismatched sizes, an empty or full mask, a too small image, or a
        hole that leaves the critic no window of visible pixels at some masked scale.
    """
    image = load_rgb(image_path)
    known = masks.known_from_mask(load_mask(mask_path), image.shape[:2], cfg.mask_threshold)
    geometry = singan_train.geometry_for(cfg, image.shape[:2])
    images = build_pyramid(image * known[..., None], geometry)
    knowns = masks.known_pyramid(known, geometry, cfg.known_threshold)
    rf = masks.receptive_field(cfg.num_layer, cfg.kernel_size)
    start = masks.first_masked_scale(knowns, rf)
    for n, k in enumerate(knowns[start:], start):
        if not np.any(np.asarray(masks.score_mask(jnp.asarray(k), rf))):
            h, w = geometry.shapes[n]
            raise InputError(
                f"the hole is too large: at scale {n} ({h}x{w} px) no {rf}x{rf} patch is fully visible, so "
                "the critic has nothing to learn from (use a smaller hole or a larger --min-size)"
            )
    reals = [{"image": np.asarray(i * k[..., None]), "known": k} for i, k in zip(images, knowns, strict=True)]
    return geometry, reals, start


def train(
    image_path: str,
    mask_path: str,
    out: str | Path,
    cfg: IDCConfig | None = None,
    *,
    resume: bool = False,
    show_progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Trains IDC on the visible part of `image_path` (the mask PNG is white in the hole); returns `out`.

    Raises:
      InputError: see `prepare`; an existing run in `out` without `resume`, or one from another config.
      NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint stays on disk).
    """
    cfg = cfg or IDCConfig()
    out = Path(out)
    geometry, reals, start = prepare(image_path, mask_path, cfg)

    def write(_) -> list[dict]:
        store.write_run_json(out, cfg, geometry, str(image_path), str(mask_path))
        filled = reals
        if start > 0:
            filled = prefill.fill_coarse(reals, start, geometry, cfg, out / "prefill.npy", show_progress)
        store.save_reals(out, filled)
        return filled

    # Unmasked scales 0..start-1, then the masked ones, each with its own schedule.
    stages = ((recipe_for(cfg, False), start), (recipe_for(cfg, True), geometry.num_scales))
    pyramid_train.train_run(
        "IDC",
        cfg,
        [out],
        check=lambda _: store.check_same_config(out, cfg, geometry),
        write=write,
        plan=lambda _: pyramid_train.Plan(stages, functools.partial(spec_for, geometry, start)),
        resume=resume,
        show_progress=show_progress,
        on_chunk=on_chunk,
    )
    return out


def spec_for(geometry: PyramidGeometry, start: int, n: int) -> ScaleSpec:
    """Scale n's spec; scales from `start` on are masked."""
    return ScaleSpec(n, geometry.shapes[: n + 1], geometry.scale_factor, geometry.num_scales, n >= start)
