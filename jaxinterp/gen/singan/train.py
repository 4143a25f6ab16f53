"""Training a SinGAN pyramid, coarse to fine, one jit-compiled program per scale.

One training iteration at scale n (official `train_single_scale`), compiled whole:
  * draw the iteration's noise map z (grayscale at scale 0);
  * 3 critic steps, each with a fresh random sample `prev` from the frozen scales 0..n-1 (run inside
    the same program, upsampled on device), the fake G_n(pad(amp*z + prev), pad(prev)), and the WGAN-GP
    loss -D(real) + D(fake) + 0.1 * GP;
  * 3 generator steps on -D(G_n(...)) + alpha * ||G_n(pad(amp*z_opt + rec_prev), pad(rec_prev)) - real||^2,
    where rec_prev is the upsampled reconstruction from the coarser scales (fixed for the scale) and
    z_opt the reconstruction noise (zero above scale 0).
On GPU/TPU `lax.scan` fuses `iters_per_call` iterations into one call; on CPU each iteration is one
call (`pyramid_train.iterations_per_call`). A leading `models` axis trains several images of the same pyramid
geometry at once, sharded over a device mesh.

Decisions, where the paper and the official code leave a choice:
  * G steps recompute the fake with the current G (the clean reading). Upstream reuses the graph of the
    last critic step's fake, which only ran on torch <= 1.4 (its issue #101).
  * The scale-0 reconstruction noise z* is drawn once and fixed (the paper). Upstream re-draws it every
    iteration (its issue #33); `SinGANConfig.redraw_coarsest_rec_noise=True` does that instead.
  * The critic's BatchNorm always runs in training mode (upstream never uses its running averages), so
    we do not track them. The generator's running averages are tracked through every forward pass in
    training mode, as upstream does, and used once the scale is frozen.
  * Adam's learning rates drop by 10x after iteration 1600 (MultiStepLR), counted in optimiser updates.
  * Weights of G_n and D_n start from G_{n-1}, D_{n-1} when their channel counts match (upstream).

Masks (IDC, `gen/idc/`, reuses this iteration): when the scale data holds "score_mask" (critic scores
whose window sees only known pixels) and "known" (known pixels), real scores and the gradient penalty
count only kept scores (penalty norms scaled by all / kept, as `gan_losses`), fake scores stay
unmasked, and the reconstruction loss is a mean over known pixels (or weighted by data["rec_weight"],
`reconstruction_loss`), times data["alpha"]. The
critic's BatchNorm statistics on the real image and on the penalty's interpolates are taken over the
positions that see only known pixels (`model.Trunk`); on fakes over every position.
  * Iteration i draws its randomness from fold_in(key(seed, scale, model), i), so any split into calls,
    and any interrupt + resume, replays the same numbers.

Checkpoints: every finished scale goes to `<run>/scales/NN` (never retrained by `--resume`); inside a
scale the state is saved to `<out>/progress/` every `checkpoint_every` iterations and on Ctrl-C.
The per-scale loop, the compiled programs, checkpoints, resume, the non-finite-loss stop and the run
folders' set-up are the shared `gen/pyramid_train.py`; this module is SinGAN's `Recipe` for it (state,
scale data, iteration) and its run folder (run.json, reals).
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
from jaxtyping import Array, Float

from jaxinterp.checkpoint import StepCheckpoints
from jaxinterp.data.images import load_rgb, save_png
from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_train
from jaxinterp.gen.gan_losses import gradient_penalty, masked_mean, wgan_critic_loss, wgan_generator_loss
from jaxinterp.gen.pyramid import PyramidGeometry, build_pyramid, singan_geometry
from jaxinterp.gen.pyramid_train import Member, stack, unstack
from jaxinterp.gen.singan import store
from jaxinterp.gen.singan.config import SinGANConfig
from jaxinterp.gen.singan.model import Critic, Generator
from jaxinterp.gen.singan.sampling import draw_noise, pad_hw, random_prev

METRIC_NAMES = ("d_loss", "gp", "g_adv", "rec_loss")


@dataclasses.dataclass(frozen=True)
class ScaleSpec:
    """Static description of the scale being trained (hashable: it keys the compiled programs)."""

    scale: int
    shapes: tuple[tuple[int, int], ...]  # pyramid shapes 0..scale
    scale_factor: float

    @property
    def hw(self) -> tuple[int, int]:
        return self.shapes[self.scale]


def geometry_for(cfg: SinGANConfig, input_hw: tuple[int, int]) -> PyramidGeometry:
    return singan_geometry(
        input_hw, min_size=cfg.min_size, max_size=cfg.max_size, scale_factor_init=cfg.scale_factor_init
    )


def optimizers(cfg: SinGANConfig) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Adam(5e-4, betas (0.5, 0.999)) for G and D, x0.1 after `lr_milestone` iterations."""

    def adam(lr: float, steps_per_iter: int) -> optax.GradientTransformation:
        schedule = optax.piecewise_constant_schedule(lr, {cfg.lr_milestone * steps_per_iter: cfg.lr_gamma})
        return optax.adam(schedule, b1=cfg.beta1, b2=cfg.beta2, eps=1e-8)

    return adam(cfg.lr_g, cfg.g_steps), adam(cfg.lr_d, cfg.d_steps)


def networks(cfg: SinGANConfig, scale: int) -> tuple[Generator, Critic]:
    channels = cfg.channels(scale)
    return Generator(channels, cfg.num_layer, cfg.kernel_size), Critic(channels, cfg.num_layer, cfg.kernel_size)


def init_state(cfg: SinGANConfig, spec: ScaleSpec, key: jax.Array, warm: dict | None) -> dict:
    """Fresh (or warm-started) G/D variables and optimiser states for one model at one scale."""
    if warm is not None:
        g_vars, d_vars = warm["g"], warm["d"]
    else:
        k_g, k_d = jax.random.split(key)
        padded = jnp.zeros((1, spec.hw[0] + 2 * cfg.pad, spec.hw[1] + 2 * cfg.pad, 3))
        # Jitted: one compiled program instead of every layer's ops dispatched (and compiled) one by one.
        init_g, init_d = pyramid_train.jitted_initialisers(networks, cfg, spec.scale, train=False)
        g_vars = init_g(k_g, padded, padded)
        d_vars = init_d(k_d, jnp.zeros((1, *spec.hw, 3)))
    return pyramid_train.train_state(g_vars, d_vars, *optimizers(cfg))


def nearest_colour(image: Float[Array, "*b h w 3"], centres: Float[Array, "k 3"]) -> Float[Array, "*b h w 3"]:
    """Every pixel replaced by its nearest colour centre (upstream `quant2centers`)."""
    distances = jnp.sum((image[..., None, :] - centres) ** 2, axis=-1)
    return centres[jnp.argmin(distances, axis=-1)]


def reconstruction_loss(
    rec: Float[Array, "b h w c"], real: Float[Array, "b h w c"], weight: Float[Array, "h w"] | None = None
) -> Float[Array, ""]:
    """Mean squared error; with a per-pixel `weight` w, sum(w^2 (rec - real)^2) / (c * sum(w)): upstream
    IDC's MSE between w * rec and w * real rescaled by image area / sum(w). A 0/1 w (known pixels)
    gives the mean over the pixels it keeps."""
    if weight is None:
        return jnp.mean((rec - real) ** 2)
    weight = weight[None, ..., None]
    return jnp.sum(weight**2 * (rec - real) ** 2) / (rec.shape[-1] * jnp.maximum(jnp.sum(weight), 1e-8))


def scale_data(cfg: SinGANConfig, spec: ScaleSpec, real, frozen: list[dict], key: jax.Array, centres=None) -> dict:
    """What stays fixed while scale n trains: the real image, z_opt, rec_prev and noise_amp.

    With colour `centres` (paint-to-image fine-tuning) rec_prev is quantised after noise_amp is taken
    from the unquantised reconstruction (upstream `train_paint`), and the centres are kept for the
    random inputs of every critic step.
    """
    if spec.scale == 0:
        return {
            "real": real,
            "z_opt": draw_noise(key, 0, 1, spec.hw)[0],
            "rec_prev": jnp.zeros_like(real),
            "noise_amp": jnp.ones(()),
        }
    rec_prev = random_prev(cfg, frozen, spec.shapes, spec.scale_factor, key, reconstruct=True)[0]
    data = {
        "real": real,
        "z_opt": jnp.zeros_like(real),
        "rec_prev": rec_prev,
        "noise_amp": cfg.noise_amp_init * jnp.sqrt(jnp.mean((real - rec_prev) ** 2)),
    }
    if centres is not None:
        data["rec_prev"] = nearest_colour(rec_prev, centres)
        data["centres"] = centres
    return data


def iteration(cfg: SinGANConfig, spec: ScaleSpec, state: dict, data: dict, frozen: list[dict], model_key):
    """One SinGAN iteration (d_steps critic updates, then g_steps generator updates) for one model."""
    generator, critic = networks(cfg, spec.scale)
    tx_g, tx_d = optimizers(cfg)
    key = jax.random.fold_in(model_key, state["step"])
    k_noise, k_zopt, k_critic = jax.random.split(key, 3)
    real, rec_prev, amp = data["real"][None], data["rec_prev"][None], data["noise_amp"]
    noise = draw_noise(k_noise, spec.scale, 1, spec.hw)
    z_opt = data["z_opt"][None]
    if spec.scale == 0 and cfg.redraw_coarsest_rec_noise:
        z_opt = draw_noise(k_zopt, 0, 1, spec.hw)
    d_stats = state["d"]["batch_stats"]
    kept = data.get("score_mask")  # None for SinGAN: every score counts
    ratio = 1.0 if kept is None else kept.size / jnp.maximum(jnp.sum(kept), 1.0)
    known = data.get("known")
    alpha = data.get("alpha", cfg.alpha)

    def score(d_params, image, visible=None):
        variables = {"params": d_params, "batch_stats": d_stats}
        return critic.apply(variables, image, True, visible, mutable=["batch_stats"])[0]

    # IDC's masked critic: the real image and the penalty's interpolates (half real) are normalised with
    # statistics over their visible patches; fakes over every position (upstream IDC).
    masked_known = None if known is None else known[None]

    def generate(g_params, g_stats, z, prev):
        out, updates = generator.apply(
            {"params": g_params, "batch_stats": g_stats},
            pad_hw(amp * z + prev, cfg.pad),
            pad_hw(prev, cfg.pad),
            train=True,
            mutable=["batch_stats"],
        )
        return out, updates["batch_stats"]

    g_params, g_stats, g_opt = state["g"]["params"], state["g"]["batch_stats"], state["g_opt"]
    d_params, d_opt = state["d"]["params"], state["d_opt"]

    # The critic and generator steps are written as lax.scan but unrolled: XLA's CPU backend runs
    # convolutions inside loops several times slower (bench/README.md).
    def critic_step(carry, k):
        d_params, d_opt, g_stats, _ = carry
        k_prev, k_gp = jax.random.split(k)
        prev = random_prev(cfg, frozen, spec.shapes, spec.scale_factor, k_prev)
        if "centres" in data:
            prev = nearest_colour(prev, data["centres"])
        fake, g_stats = generate(g_params, g_stats, noise, prev)
        fake = jax.lax.stop_gradient(fake)

        def critic_loss(p):
            gp = gradient_penalty(lambda x: score(p, x, masked_known), real, fake, k_gp, cfg.gp_weight, kept, ratio)
            if kept is None:
                return wgan_critic_loss(score(p, real), score(p, fake)) + gp, gp
            return -masked_mean(score(p, real, masked_known), kept) + jnp.mean(score(p, fake)) + gp, gp

        (d_loss, gp), grads = jax.value_and_grad(critic_loss, has_aux=True)(d_params)
        updates, d_opt = tx_d.update(grads, d_opt, d_params)
        return (optax.apply_updates(d_params, updates), d_opt, g_stats, prev), (d_loss, gp)

    carry = (d_params, d_opt, g_stats, jnp.zeros_like(real))
    (d_params, d_opt, g_stats, prev), (d_losses, gps) = jax.lax.scan(
        critic_step, carry, jax.random.split(k_critic, cfg.d_steps), unroll=True
    )

    def generator_step(carry, _):
        g_params, g_stats, g_opt = carry

        def generator_loss(p):
            fake, stats = generate(p, g_stats, noise, prev)
            adv = wgan_generator_loss(score(d_params, fake))
            rec, stats = generate(p, stats, z_opt, rec_prev)
            rec_loss = alpha * reconstruction_loss(rec, real, data.get("rec_weight", known))
            return adv + rec_loss, (stats, adv, rec_loss)

        (_, (g_stats, adv, rec_loss)), grads = jax.value_and_grad(generator_loss, has_aux=True)(g_params)
        updates, g_opt = tx_g.update(grads, g_opt, g_params)
        return (optax.apply_updates(g_params, updates), g_stats, g_opt), (adv, rec_loss)

    (g_params, g_stats, g_opt), (advs, rec_losses) = jax.lax.scan(
        generator_step, (g_params, g_stats, g_opt), None, length=cfg.g_steps, unroll=True
    )
    d_loss, gp, g_adv, rec_loss = d_losses[-1], gps[-1], advs[-1], rec_losses[-1]

    new_state = {
        "g": {"params": g_params, "batch_stats": g_stats},
        "d": {"params": d_params, "batch_stats": d_stats},
        "g_opt": g_opt,
        "d_opt": d_opt,
        "step": state["step"] + 1,
    }
    return new_state, dict(zip(METRIC_NAMES, (d_loss, gp, g_adv, rec_loss), strict=True))


@dataclasses.dataclass(frozen=True)
class SinGANRecipe(pyramid_train.ConfigRecipe):
    """SinGAN for the shared pyramid trainer (`pyramid_train.Recipe`)."""

    metric_names = METRIC_NAMES
    kept = ("z_opt", "noise_amp")
    init_fn = staticmethod(init_state)
    data_fn = staticmethod(scale_data)
    iteration_fn = staticmethod(iteration)

    def record(self, spec: ScaleSpec, state: dict, data: dict, model_keys: np.ndarray) -> dict:
        record = super().record(spec, state, data, model_keys)
        if spec.scale == 0 and self.cfg.redraw_coarsest_rec_noise:
            record["z_opt"] = np.stack([_last_redrawn_z(self.cfg, spec, mk) for mk in model_keys])
        return record


def train(
    images: Sequence[str],
    out: str | Path,
    cfg: SinGANConfig | None = None,
    *,
    resume: bool = False,
    show_progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Trains one SinGAN per image; returns the run folders (`out` itself for a single image).

    Images with the same pyramid geometry train together as one sharded program
    (`pyramid_train.train_run`, which keeps their progress in `<out>/progress/group<k>/`).

    Args:
      images: paths (or `builtin:<name>`).
      out: output folder.
      cfg: hyper-parameters.
      resume: continue the runs in `out` (finished scales are kept, a scale in progress continues from
        its last checkpoint). Without it, an existing run in `out` is an error.
      show_progress: draw a progress bar.
      on_chunk: called as on_chunk(scale, iteration) after each compiled call (hooks and tests).

    Raises:
      InputError: unreadable/invalid image, too small, or a run from another config in `out`.
      NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint stays on disk).
    """
    cfg = cfg or SinGANConfig()
    if not images:
        raise InputError("no image given")
    out = Path(out)
    loaded = [load_rgb(path) for path in images]
    geometries = [geometry_for(cfg, image.shape[:2]) for image in loaded]
    run_dirs = pyramid_train.unique_run_dirs(out, images)
    recipe = SinGANRecipe(cfg)

    def write(i: int) -> list:
        store.write_run_json(run_dirs[i], cfg, geometries[i], str(images[i]))
        reals = [np.asarray(r) for r in build_pyramid(loaded[i], geometries[i])]
        (run_dirs[i] / "reals").mkdir(parents=True, exist_ok=True)
        for n, real in enumerate(reals):
            np.save(run_dirs[i] / "reals" / f"{n:02d}.npy", real)
            save_png(run_dirs[i] / "reals" / f"{n:02d}.png", real)
        return reals

    pyramid_train.train_run(
        "SinGAN",
        cfg,
        run_dirs,
        check=lambda i: store.check_same_config(run_dirs[i], cfg, geometries[i]),
        write=write,
        plan=lambda i: pyramid_train.Plan(
            ((recipe, geometries[i].num_scales),), functools.partial(_spec, geometries[i])
        ),
        group=lambda i: geometries[i].shapes,
        progress_dir=lambda group: out / "progress" / f"group{group}",
        resume=resume,
        show_progress=show_progress,
        on_chunk=on_chunk,
    )
    return run_dirs


def _spec(geometry: PyramidGeometry, n: int) -> ScaleSpec:
    return ScaleSpec(n, geometry.shapes[: n + 1], geometry.scale_factor)


def _last_redrawn_z(cfg: SinGANConfig, spec: ScaleSpec, model_key) -> np.ndarray:
    """The scale-0 reconstruction noise of the last iteration (upstream keeps the last re-draw);
    the key path mirrors `iteration`."""
    key = jax.random.fold_in(jnp.asarray(model_key), cfg.niter - 1)
    return np.asarray(draw_noise(jax.random.split(key, 3)[1], 0, 1, spec.hw)[0])


def train_paint_scale(model, scale: int, centres: np.ndarray, *, show_progress: bool = True) -> dict:
    """Paint-to-image with quantisation (upstream `train_paint`): retrains scale `scale` of a finished
    run from a fresh initialisation, with every input it receives from the coarser scales quantised to
    the colour `centres` (k, 3), so that it learns to turn flat colour regions into texture.

    Kept in `<run>/paint/scale_NN/` and reused while the centres are the same; an interrupted fine-tune
    resumes from its progress checkpoint. Decision: the coarser outputs are quantised before zero
    padding (upstream quantises after padding, which turns the border into one of the colours).

    Args:
      model: a finished `store.TrainedSinGAN`.
      scale: the injection scale (1..N-1).
      centres: colour centres in [-1, 1].

    Returns: the fine-tuned scale's record (as `store.load_scale`), plus its "centres".
    """
    from jaxinterp.checkpoint import load_tree, save_tree

    target = Path(model.run_dir) / "paint" / f"scale_{scale:02d}"
    centres = np.asarray(centres, np.float32)
    if (target / "scale").is_dir():
        cached = load_tree(target / "scale")
        if np.array_equal(cached["centres"], centres):
            return cached
    member = Member(Path(model.run_dir), list(model.reals), 0)
    records = [stack([s]) for s in model.scales[:scale]]
    with pyramid_train.progress_bar(model.config.niter, "paint fine-tune,", show_progress) as progress:
        record = pyramid_train.train_scale(
            SinGANRecipe(model.config),
            [member],
            _spec(model.geometry, scale),
            records,
            target / "progress",
            progress(scale),
            None,
            warm_start=False,
            extras=(centres[None],),
        )
    record = unstack(record, 1)[0] | {"centres": centres}
    save_tree(target / "scale", record)
    StepCheckpoints(target / "progress").delete_all()
    return record
