"""Training a label-to-image generator (ASAPNet, or the SPADE baseline) with SPADE's recipe, data-parallel.

The recipe is the official one (tamarott/ASAPNet `train.py`, `trainers/pix2pix_trainer.py`,
`models/pix2pix_model.py`, `options/train_options.py` at f27f202). One `train_step` is one iteration:

  1. G step: fake = G(labels); the discriminators score [fake; real] in one pass; G minimises
     hinge_G + lambda_feat * feature matching + lambda_vgg * VGG perceptual loss (`losses.py`).
  2. D step: fake' = G'(labels) from the just-updated G, as a constant; the discriminators score
     [fake'; real]; D minimises the hinge D loss.

The order (G first, then D on a fresh fake) is upstream's: its loop calls `run_generator_one_step` before
`run_discriminator_one_step` (D_steps_per_G = 1) and the D step re-generates under `no_grad`. Each D pass
advances the spectral-norm power iteration once, so it runs twice per iteration, as upstream's does
(`discriminator.py`). Adam with TTUR: lr_G = 1e-4, lr_D = 4e-4, betas (0, 0.9).

Works with any linen generator `g.apply(variables, labels) -> image in [-1, 1]`; variable collections other
than "params" (none in ASAPNet or our SPADE) are carried as mutable state. Without VGG weights
(`vgg=None`), the perceptual term is dropped and reported as g_vgg = 0.

Decisions where upstream gives no answer or cannot be copied:
  * Learning rate: upstream lowers it once per epoch after `niter` epochs, by lr / niter_decay; we decay it
    linearly per step from step niter * steps_per_epoch to 0 at (niter + niter_decay) * steps_per_epoch.
  * `rng` (folded with the step) reaches the generator as its "noise" stream; ASAPNet and SPADE without the
    VAE draw nothing, so the recipe is deterministic.
  * Data parallel: the batch axis is sharded over a 1-D mesh ("data") and the state replicated; the losses
    are means over the whole batch and instance norm is per sample, so the sharded step computes the same
    update as one device (XLA inserts the gradient all-reduce).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import Array

from jaxinterp import loop
from jaxinterp.checkpoint import StepCheckpoints
from jaxinterp.errors import InputError
from jaxinterp.gen.asapnet.discriminator import MultiscaleDiscriminator, discriminate
from jaxinterp.gen.asapnet.losses import feature_matching_loss, hinge_d_loss, hinge_g_loss, vgg_loss
from jaxinterp.gen.asapnet.vgg import PerceptualNet

DATA_AXIS = "data"
METRIC_NAMES = ("d_loss", "g_gan", "g_feat", "g_vgg", "l1")
Batch = dict[str, Array]  # "labels": f32[b, h, w, K] one-hot, "image": f32[b, h, w, 3] in [-1, 1]


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The official training options (`train_options.py`, `base_options.py`) unless marked ours."""

    lr_g: float = 1e-4  # TTUR: --lr 2e-4 / 2 (`create_optimizers`)
    lr_d: float = 4e-4  # TTUR: --lr 2e-4 * 2; --no_TTUR would be 2e-4 for both ...
    beta1: float = 0.0  # ... with betas (0.5, 0.999) instead of these.
    beta2: float = 0.9
    lambda_feat: float = 10.0  # --lambda_feat
    lambda_vgg: float = 10.0  # --lambda_vgg; the term is dropped (g_vgg = 0) when no VGG weights are given.
    vgg_imagenet_normalize: bool = False  # upstream feeds [-1, 1] straight into VGG (`vgg.py`)
    num_d: int = 2  # --num_D
    n_layers_d: int = 4  # --n_layers_D (ASAPNet's default)
    ndf: int = 64  # --ndf
    ndf_max: int = 512  # --ndf_max
    init_gain: float = 0.02  # --init_type xavier, --init_variance 0.02
    niter: int = 200  # --niter: epochs at the initial learning rate ...
    niter_decay: int = 100  # --niter_decay: ... then epochs of linear decay to 0.
    steps_per_epoch: int = 1  # ours: set to len(dataset) // batch_size (upstream drops the last batch).
    batch_size: int = 1  # --batchSize (base default; the Cityscapes runs use 32).
    checkpoint_every: int = 5000  # --save_latest_freq, in iterations.
    seed: int = 0

    @property
    def constant_steps(self) -> int:
        return self.niter * self.steps_per_epoch

    @property
    def total_steps(self) -> int:
        return (self.niter + self.niter_decay) * self.steps_per_epoch

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


class TrainState(struct.PyTreeNode):
    """Everything that changes during training, as one pytree."""

    step: Array
    g_vars: Any  # generator variables: {"params": ...} (+ any other collection it keeps)
    d_params: Any
    d_spectral: Any  # power-iteration vectors of the spectral norms (`discriminator.SPECTRAL`)
    g_opt: Any
    d_opt: Any


def discriminator(cfg: TrainConfig) -> MultiscaleDiscriminator:
    return MultiscaleDiscriminator(cfg.num_d, cfg.n_layers_d, cfg.ndf, cfg.ndf_max, cfg.init_gain)


def optimizers(cfg: TrainConfig) -> tuple[optax.GradientTransformation, optax.GradientTransformation]:
    """Adam for G and D: constant, then linear decay to 0 over the last niter_decay epochs."""

    def adam(lr: float) -> optax.GradientTransformation:
        decay = cfg.total_steps - cfg.constant_steps
        schedule = (
            optax.linear_schedule(lr, 0.0, decay, transition_begin=cfg.constant_steps)
            if decay > 0
            else optax.constant_schedule(lr)
        )
        return optax.adam(schedule, b1=cfg.beta1, b2=cfg.beta2, eps=1e-8)

    return adam(cfg.lr_g), adam(cfg.lr_d)


@functools.lru_cache(maxsize=8)
def _d_init(cfg: TrainConfig, label_nc: int) -> Callable[[Array], dict]:
    """D's initialiser, compiled once per config. D's variables do not depend on the image size, so it runs
    on a fixed 16 x 16 input (its random initialisers are slow to compile on CPU; this one is reused)."""
    blank = jnp.zeros((1, 16, 16, label_nc)), jnp.zeros((1, 16, 16, 3))
    return jax.jit(lambda key: discriminator(cfg).init(key, *blank))


def init_state(generator, cfg: TrainConfig, sample_batch: Batch, rng: Array) -> TrainState:
    """Fresh G variables (initialised on the first example of `sample_batch`), D variables and optimiser
    states."""
    k_g, k_d = jax.random.split(rng)
    labels = jnp.asarray(sample_batch["labels"][:1])
    g_vars = dict(jax.jit(generator.init)(k_g, labels))
    d_vars = _d_init(cfg, labels.shape[-1])(k_d)
    tx_g, tx_d = optimizers(cfg)
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        g_vars=g_vars,
        d_params=d_vars["params"],
        d_spectral=d_vars["spectral"],
        g_opt=tx_g.init(g_vars["params"]),
        d_opt=tx_d.init(d_vars["params"]),
    )


def train_step(generator, cfg: TrainConfig, vgg_module, state: TrainState, batch: Batch, rng, vgg_vars):
    """One G update, then one D update (module docstring). Pure; returns (new state, metrics).

    `vgg_module`/`vgg_vars`: a `VGG19Features` and its variables, or None to drop the perceptual term.
    """
    disc = discriminator(cfg)
    tx_g, tx_d = optimizers(cfg)
    labels, real = batch["labels"], batch["image"]
    rngs = {"noise": jax.random.fold_in(rng, state.step)}
    extra = {k: v for k, v in state.g_vars.items() if k != "params"}

    def generate(g_params, extra):
        if not extra:
            return generator.apply({"params": g_params}, labels, rngs=rngs), extra
        return generator.apply({"params": g_params, **extra}, labels, rngs=rngs, mutable=list(extra))

    def g_loss_fn(g_params):
        fake, new_extra = generate(g_params, extra)
        fake_preds, real_preds, spectral = discriminate(disc, state.d_params, state.d_spectral, labels, fake, real)
        terms = {
            "g_gan": hinge_g_loss(fake_preds),
            "g_feat": feature_matching_loss(fake_preds, real_preds, cfg.lambda_feat),
            "g_vgg": jnp.zeros(()),
        }
        if vgg_module is not None:
            feats = vgg_module.apply(vgg_vars, jnp.concatenate([fake, real], axis=0))
            b = fake.shape[0]
            terms["g_vgg"] = vgg_loss([f[:b] for f in feats], [f[b:] for f in feats], cfg.lambda_vgg)
        return sum(terms.values()), (fake, new_extra, spectral, terms)

    grads, (fake, extra, spectral, g_terms) = jax.grad(g_loss_fn, has_aux=True)(state.g_vars["params"])
    updates, g_opt = tx_g.update(grads, state.g_opt, state.g_vars["params"])
    g_params = optax.apply_updates(state.g_vars["params"], updates)

    new_fake, extra = generate(g_params, extra)
    new_fake = jax.lax.stop_gradient(new_fake)

    def d_loss_fn(d_params):
        fake_preds, real_preds, new_spectral = discriminate(disc, d_params, spectral, labels, new_fake, real)
        return hinge_d_loss(real_preds, fake_preds), new_spectral

    (d_loss, spectral), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(state.d_params)
    updates, d_opt = tx_d.update(d_grads, state.d_opt, state.d_params)
    new_state = TrainState(
        step=state.step + 1,
        g_vars={"params": g_params, **extra},
        d_params=optax.apply_updates(state.d_params, updates),
        d_spectral=spectral,
        g_opt=g_opt,
        d_opt=d_opt,
    )
    metrics = {"d_loss": d_loss, **g_terms, "l1": jnp.mean(jnp.abs(fake - real))}
    return new_state, metrics


def data_mesh(devices: list | None = None) -> Mesh:
    """A 1-D mesh ("data") over all devices (or the given ones)."""
    return Mesh(np.array(devices if devices is not None else jax.devices()), (DATA_AXIS,))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places a full copy of every leaf on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def shard_batch(batch: Batch, mesh: Mesh) -> Batch:
    """Splits the batch axis of every leaf over the mesh; the batch size must divide evenly."""
    size = {np.shape(v)[0] for v in batch.values()}
    if len(size) != 1 or next(iter(size)) % mesh.size:
        raise InputError(f"batch size {sorted(size)} must be one number divisible by the {mesh.size} devices")
    return jax.device_put(batch, NamedSharding(mesh, PartitionSpec(DATA_AXIS)))


def make_train_step(
    generator, cfg: TrainConfig, vgg: PerceptualNet | None = None, mesh: Mesh | None = None
) -> Callable[[TrainState, Batch, Array], tuple[TrainState, dict]]:
    """`train_step(state, batch, rng)` compiled once with `jax.jit`, the state donated.

    With a mesh, the state (from `replicate`) and the VGG weights are replicated and the batch (from
    `shard_batch`) is split over the "data" axis; the new state comes back replicated. The compiled
    function is `.jitted` on the returned callable.
    """
    fn = functools.partial(train_step, generator, cfg, None if vgg is None else vgg.module)
    vgg_vars = None if vgg is None else vgg.variables
    if mesh is None:
        jitted = jax.jit(fn, donate_argnums=0)
    else:
        rep, data = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec(DATA_AXIS))
        jitted = jax.jit(fn, donate_argnums=0, in_shardings=(rep, data, rep, rep), out_shardings=(rep, rep))
        vgg_vars = replicate(vgg_vars, mesh)

    def step(state: TrainState, batch: Batch, rng: Array) -> tuple[TrainState, dict]:
        return jitted(state, batch, rng, vgg_vars)

    step.jitted = jitted
    return step


def fit(
    state: TrainState,
    batches: Callable[[int], Batch] | Iterable[Batch],
    steps: int,
    *,
    step_fn: Callable[[TrainState, Batch, Array], tuple[TrainState, dict]],
    rng: Array | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 5000,
    mesh: Mesh | None = None,
    show_progress: bool = True,
    log_every: int = 50,
) -> tuple[TrainState, list[dict[str, float]]]:
    """Runs `step_fn` (on the shared `loop.fit`) until step `steps`; returns the final state and each step's
    metrics.

    Resumes from the newest checkpoint in `checkpoint_dir` (if any; else from `state`, a fresh state),
    saves there every `checkpoint_every` steps, at the end, and on Ctrl-C (then re-raises). `batches` is
    either a function of the step index (so a resumed run sees the same data) or an iterable, read from
    its start. `state` is consumed (the compiled step donates its buffers); keep a host copy
    (`jax.device_get`) if it is needed afterwards. Metrics are read back every `log_every` steps.

    Raises:
      NonFiniteLossError: a metric became NaN/Inf; the message names the step and the last checkpoint.
    """
    rng = jax.random.PRNGKey(0) if rng is None else rng
    if callable(batches):
        next_batch = batches
    else:
        iterator = iter(batches)
        next_batch = lambda _: next(iterator)  # noqa: E731
    place = functools.partial(replicate, mesh=mesh) if mesh is not None else jax.device_put
    checkpointing = None
    if checkpoint_dir is not None:
        checkpointing = loop.Checkpointing(
            StepCheckpoints(checkpoint_dir), checkpoint_every, unpack=place, save_final=True
        )

    def describe_progress(block: dict[str, np.ndarray]) -> str:
        return f"d {block['d_loss'][-1]:.3f} g {block['g_gan'][-1]:.3f} l1 {block['l1'][-1]:.3f}"

    with loop.progress_bar(steps, "train", show_progress) as progress:
        state, history = loop.fit(
            step_fn,
            place(state),
            steps,
            start=int(state.step),
            batch_for=lambda i: shard_batch(next_batch(i), mesh) if mesh is not None else next_batch(i),
            rng=rng,
            log_every=log_every,
            checkpointing=checkpointing,
            progress=progress,
            describe_progress=describe_progress,
        )
    return state, loop.history_rows(history)
