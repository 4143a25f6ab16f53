"""Training BlendGAN: one SinGAN-style pyramid fitted to K images at once, conditioned at every scale
on a spatial image-identity map, as a `Recipe` for the shared coarse-to-fine trainer
(`gen/pyramid_train.py`: per-scale loop, compiled programs, checkpoints, resume, NaN stop).

Only the abstract of the paper is available (no public code), so the method below is our design:
  * Geometry: the pyramid is SinGAN's rule applied to the first image; every other image is resized
    (PIL bicubic) to the first image's size before its pyramid is built, so all K images share one
    geometry. (Aspect ratios of the others may change; crop them first to avoid that.)
  * Networks: SinGAN's G_n and D_n (5 conv layers, 3x3, BatchNorm, residual G) with the K-channel
    identity map concatenated to their inputs (G_n: concat(pad(amp * z + prev), pad_edge(m)); D_n:
    concat(image, m)) and modulating every normalisation layer (`model.py` says why the
    concatenation alone is erased by BatchNorm). Every frozen coarser scale gets the map too.
  * One iteration draws one image k uniformly; the map is image k's one-hot map everywhere (training
    maps are spatially constant: a patch GAN with 11 px receptive fields learns p(patch | identity)
    locally, which is what lets spatially varying and soft maps work at test time). The critic steps
    (3, WGAN-GP as SinGAN, GP over the image channels only) compare real_k with
    G_n(noise, prev ~ frozen pyramid under map k); the generator steps (3) minimise
    -D(G_n(...) | k) + alpha * mean_j ||G_n(rec input of image j | j) - real_j||^2, the
    reconstruction of every image j with its own fixed noise (z*_j at scale 0, zero above; SinGAN's
    reconstruction per image), so every identity stays anchored at every step.
  * Fusion-aware training (our addition, `cross_identity_prob`, 0 = off): with that probability an
    iteration runs the frozen scales below a switch level m (uniform in 1..n) under another image
    j's identity, so the adversarial branch of scale n learns to turn image j's coarse layout into
    image k's patches, which is what structure-texture fusion asks of it at test time (without it
    G_n under map k only ever sees image k's own coarse scales). Reconstruction is unchanged.
  * Noise amplitude per image and scale: 0.1 * RMSE(real_j, upsampled reconstruction of j) (SinGAN's
    rule per image); under a map it is mixed by the map's weights (`sampling.generator_input`).
  * Normalisation has no running averages (`model.py`), so frozen scales normalise as in training.
  * Everything else (optimisers, schedules, warm start, fold_in randomness) is
    SinGAN's (`singan/train.py`); upstream's re-drawn scale-0 reconstruction noise is not offered.
Several images make one model: the shared trainer's `models` axis holds this one model.

Measured (preset `fast`, builtin:coffee + builtin:chelsea, 3 scales up to 43x64 px, 300 iterations per
scale, 10.5 min on 2 busy CPU cores): reconstruction MSE of each image 0.007 under its own one-hot map
vs 0.31 to the other image; patch SWD (x1e3, 8 random samples per identity) of identity 0's samples
109 to coffee vs 158 to chelsea, identity 1's 217 vs 93 (the two reals are 239 apart); a left|right
meld is within MSE 0.004 of each image's reconstruction on its side.

Structure-texture fusion (`metrics.fusion_scores`, (texture share, structure share): the
reconstructions score (0.17-0.20, 0.99) as structure and (0.80-0.83, 0.00-0.02) as texture; each
pair below is coffee's structure + chelsea's texture / the reverse; same data, 300 iterations per
scale, 5-10 min per run on 2 CPU cores, one seed):
  * `fast` (coarsest level 25x38, 58% of the output's side), switch 1: (0.21, 0.99) / (0.31, 0.88),
    switch 2: (0.19, 0.99) / (0.25, 0.96): the fused image is the structure image (fresh noise at
    the texture scales instead of the reconstruction noise changes the shares by < 0.01);
  * the same with fusion-aware training (cross_identity_prob 0.5), switch 1: (0.27, 0.96) /
    (0.48, 0.68); melds and samples as good as without (meld MSE 0.008 / 0.006 vs 0.007 / 0.006,
    measured alike);
  * coarsest level 12x18 (min_size 12: 4 scales), switch 1: (0.55, 0.75) / (0.49, 0.46), switch 2:
    (0.27, 0.96) / (0.31, 0.81), switch 3: (0.20, 0.99) / (0.27, 0.93);
  * the `fusion` preset (that pyramid + fusion-aware training), switch 1: (0.71, 0.30) / (0.64,
    0.24), switch 2: (0.64, 0.51) / (0.59, 0.45), switch 3: (0.54, 0.63) / (0.37, 0.83); a second
    seed: (0.69, 0.33) / (0.68, 0.22), (0.58, 0.65) / (0.63, 0.37), (0.56, 0.57) / (0.45, 0.61). The
    texture arrives from finer switch scales, and switch 3 (only the finest scale under the
    texture's identity) is the cleanest picture (the cup drawn in fur). In raw numbers, coffee's
    structure + chelsea's texture: `fast`, switch 1: patch SWD (two finest bands, 8 images) 223 to
    the texture vs 60 to the structure, low-pass MSE 0.004 to the structure; `fusion`, switch 3: 133
    vs 156, low-pass MSE 0.10 to either (the colours come from the texture), layout MSE 1.1 to the
    structure vs 1.9 to the texture. Costs: samples separate as well (SWD 78 vs 206, 210 vs 78) but
    melds are looser (MSE 0.07 / 0.04 to the reconstructions on each side, 0.09 / 0.03 without
    fusion-aware training): a 12 px coarsest scale invents more layout.
So the lever is depth, how far below the output resolution the structure image stops; fusion-aware
training moves the useful switch towards the finest scale.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinterp.data.images import load_rgb, resize_uint8
from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_train
from jaxinterp.gen.blendgan import store
from jaxinterp.gen.blendgan.config import BlendGANConfig
from jaxinterp.gen.blendgan.identity import one_hot_maps
from jaxinterp.gen.blendgan.model import networks
from jaxinterp.gen.blendgan.sampling import frozen_prev, generator_input
from jaxinterp.gen.gan_losses import gradient_penalty, wgan_critic_loss, wgan_generator_loss
from jaxinterp.gen.pyramid import PyramidGeometry, build_pyramid
from jaxinterp.gen.singan.sampling import draw_noise
from jaxinterp.gen.singan.train import ScaleSpec, geometry_for, optimizers

METRIC_NAMES = ("d_loss", "gp", "g_adv", "rec_loss")


@dataclasses.dataclass(frozen=True)
class BlendSpec(ScaleSpec):
    """SinGAN's static scale description plus the number of training images K."""

    num_images: int = 2

    def maps(self, image: jax.Array, batch: int = 1) -> list[jax.Array]:
        """One-hot maps of `image` (traced index) at every level 0..scale."""
        return [one_hot_maps(jnp.full((batch,), image), self.num_images, hw) for hw in self.shapes]

    def cross_maps(self, image: jax.Array, key: jax.Array, prob: float) -> list[jax.Array]:
        """`maps(image)`, except that with probability `prob` the levels below a switch level m
        (uniform in 1..scale) carry another training image's identity (drawn uniformly)."""
        if self.scale == 0 or prob <= 0:
            return self.maps(image)
        k_use, k_other, k_switch = jax.random.split(key, 3)
        other = (image + jax.random.randint(k_other, (), 1, self.num_images)) % self.num_images
        switch = jnp.where(jax.random.bernoulli(k_use, prob), jax.random.randint(k_switch, (), 1, self.scale + 1), 0)
        return [
            one_hot_maps(jnp.where(level < switch, other, image)[None], self.num_images, hw)
            for level, hw in enumerate(self.shapes)
        ]


def init_state(cfg: BlendGANConfig, spec: BlendSpec, key: jax.Array, warm: dict | None) -> dict:
    """Fresh (or warm-started) G/D variables (inputs of 3 + K channels) and optimiser states."""
    if warm is not None:
        g_vars, d_vars = warm["g"], warm["d"]
    else:
        k_g, k_d = jax.random.split(key)
        h, w = spec.hw[0] + 2 * cfg.pad, spec.hw[1] + 2 * cfg.pad
        image, identity = jnp.zeros((1, h, w, 3)), jnp.zeros((1, h, w, spec.num_images))
        init_g, init_d = pyramid_train.jitted_initialisers(networks, cfg, spec.scale)
        g_vars = init_g(k_g, image, identity, image)
        d_vars = init_d(k_d, jnp.zeros((1, *spec.hw, 3)), jnp.zeros((1, *spec.hw, spec.num_images)))
    return pyramid_train.train_state(g_vars, d_vars, *optimizers(cfg))


def scale_data(cfg: BlendGANConfig, spec: BlendSpec, reals, frozen: list[dict], key: jax.Array) -> dict:
    """Fixed while scale n trains: the K reals, each image's z*, reconstruction input and noise amp."""
    num = spec.num_images
    if spec.scale == 0:
        return {
            "real": reals,
            "z_opt": draw_noise(key, 0, num, spec.hw),
            "rec_prev": jnp.zeros_like(reals),
            "noise_amp": jnp.ones((num,)),
        }
    maps = [one_hot_maps(jnp.arange(num), num, hw) for hw in spec.shapes]
    rec_prev = frozen_prev(cfg, frozen, spec.shapes, spec.scale_factor, maps, key, reconstruct=True)
    return {
        "real": reals,
        "z_opt": jnp.zeros_like(reals),
        "rec_prev": rec_prev,
        "noise_amp": cfg.noise_amp_init * jnp.sqrt(jnp.mean((reals - rec_prev) ** 2, axis=(1, 2, 3))),
    }


def iteration(cfg: BlendGANConfig, spec: BlendSpec, state: dict, data: dict, frozen: list[dict], model_key):
    """One iteration for one image drawn at random (critic steps, then generator steps)."""
    generator, critic = networks(cfg, spec.scale)
    tx_g, tx_d = optimizers(cfg)
    key = jax.random.fold_in(model_key, state["step"])
    k_image, k_noise, k_critic = jax.random.split(key, 3)
    image = jax.random.randint(k_image, (), 0, spec.num_images)
    maps = spec.cross_maps(image, jax.random.fold_in(k_image, 1), cfg.cross_identity_prob)
    identity, amps = maps[-1], data["noise_amp"]
    real = data["real"][image][None]
    noise = draw_noise(k_noise, spec.scale, 1, spec.hw)

    def score(d_params, x, m):
        return critic.apply({"params": d_params}, x, m)

    def generate(g_params, z, prev, m):
        return generator.apply({"params": g_params}, *generator_input(cfg, z, prev, m, amps))

    g_params, g_opt = state["g"]["params"], state["g_opt"]
    d_params, d_opt = state["d"]["params"], state["d_opt"]

    def critic_step(carry, k):
        d_params, d_opt, _ = carry
        k_prev, k_gp = jax.random.split(k)
        prev = frozen_prev(cfg, frozen, spec.shapes, spec.scale_factor, maps[: spec.scale] + [identity], k_prev)
        fake = jax.lax.stop_gradient(generate(g_params, noise, prev, identity))

        def critic_loss(p):
            gp = gradient_penalty(lambda x: score(p, x, identity), real, fake, k_gp, cfg.gp_weight)
            return wgan_critic_loss(score(p, real, identity), score(p, fake, identity)) + gp, gp

        (d_loss, gp), grads = jax.value_and_grad(critic_loss, has_aux=True)(d_params)
        updates, d_opt = tx_d.update(grads, d_opt, d_params)
        return (optax.apply_updates(d_params, updates), d_opt, prev), (d_loss, gp)

    # Unrolled scans by default: XLA's CPU backend runs convolutions inside loops several times slower.
    (d_params, d_opt, prev), (d_losses, gps) = jax.lax.scan(
        critic_step,
        (d_params, d_opt, jnp.zeros_like(real)),
        jax.random.split(k_critic, cfg.d_steps),
        unroll=cfg.unroll_steps,
    )
    # Every image's reconstruction in one batch: the normalisation is per sample, so nothing mixes.
    own_maps = one_hot_maps(jnp.arange(spec.num_images), spec.num_images, spec.hw)

    def generator_step(carry, _):
        g_params, g_opt = carry

        def generator_loss(p):
            adv = wgan_generator_loss(score(d_params, generate(p, noise, prev, identity), identity))
            rec = generate(p, data["z_opt"], data["rec_prev"], own_maps)
            rec_loss = cfg.alpha * jnp.mean((rec - data["real"]) ** 2)
            return adv + rec_loss, (adv, rec_loss)

        (_, (adv, rec_loss)), grads = jax.value_and_grad(generator_loss, has_aux=True)(g_params)
        updates, g_opt = tx_g.update(grads, g_opt, g_params)
        return (optax.apply_updates(g_params, updates), g_opt), (adv, rec_loss)

    (g_params, g_opt), (advs, rec_losses) = jax.lax.scan(
        generator_step, (g_params, g_opt), None, length=cfg.g_steps, unroll=cfg.unroll_steps
    )
    new_state = {
        "g": {"params": g_params},
        "d": {"params": d_params},
        "g_opt": g_opt,
        "d_opt": d_opt,
        "step": state["step"] + 1,
    }
    metrics = (d_losses[-1], gps[-1], advs[-1], rec_losses[-1])
    return new_state, dict(zip(METRIC_NAMES, metrics, strict=True))


@dataclasses.dataclass(frozen=True)
class BlendGANRecipe(pyramid_train.ConfigRecipe):
    """BlendGAN for the shared pyramid trainer (`pyramid_train.Recipe`)."""

    metric_names = METRIC_NAMES
    kept = ("z_opt", "noise_amp")
    init_fn = staticmethod(init_state)
    data_fn = staticmethod(scale_data)
    iteration_fn = staticmethod(iteration)


def spec_for(geometry: PyramidGeometry, num_images: int, n: int) -> BlendSpec:
    return BlendSpec(n, geometry.shapes[: n + 1], geometry.scale_factor, num_images)


def shared_pyramid(cfg: BlendGANConfig, images: Sequence[str]) -> tuple[PyramidGeometry, list[np.ndarray]]:
    """The common geometry (from the first image) and the (K, h, w, 3) real stack of every level.

    Raises:
      InputError: fewer than two images, an unreadable image, or a first image too small.
    """
    if len(images) < 2:
        raise InputError(f"BlendGAN needs at least 2 training images, got {len(images)}")
    loaded = [load_rgb(path) for path in images]
    geometry = geometry_for(cfg, loaded[0].shape[:2])
    resized = [im if im.shape[:2] == geometry.input_hw else resize_uint8(im, geometry.input_hw) for im in loaded]
    pyramids = [build_pyramid(im, geometry) for im in resized]
    reals = [np.stack([np.asarray(p[n]) for p in pyramids]) for n in range(geometry.num_scales)]
    return geometry, reals


def train(
    images: Sequence[str],
    out: str | Path,
    cfg: BlendGANConfig | None = None,
    *,
    resume: bool = False,
    show_progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> Path:
    """Trains one BlendGAN on all `images` (paths or `builtin:<name>`); returns the run folder `out`.

    Raises:
      InputError: fewer than two images, unreadable/invalid images, or a run from another config in `out`.
      NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint stays on disk).
    """
    cfg = cfg or BlendGANConfig()
    geometry, reals = shared_pyramid(cfg, images)
    run_dir = Path(out)

    def write(_) -> list[np.ndarray]:
        store.write_run_json(run_dir, cfg, geometry, images)
        store.save_reals(run_dir, reals)
        return reals

    pyramid_train.train_run(
        f"BlendGAN ({len(images)} images)",
        cfg,
        [run_dir],
        check=lambda _: store.check_same_run(run_dir, cfg, geometry, images),
        write=write,
        plan=lambda _: pyramid_train.Plan(
            ((BlendGANRecipe(cfg), geometry.num_scales),), functools.partial(spec_for, geometry, len(images))
        ),
        resume=resume,
        show_progress=show_progress,
        on_chunk=on_chunk,
    )
    return run_dir
