"""SimCLR in JAX for small images: a conv encoder, SimCLR's augmentations on device, the NT-Xent loss, one step.

The vision check-up trains a representation on images rendered from drawing programs (the paper: MoCo-v2 and
a ResNet-50 on ~1.3M LLM-drawn images, evaluated on ImageNet). Here the same idea at CPU scale: a few thousand
32 x 32 images, a 4-layer conv encoder, a few hundred steps. Decisions (the paper's exact recipe is not
public, see `shared/references/agent.md` section 3):

- **Objective**: SimCLR's NT-Xent (Chen et al. 2020, eq. 1) over the 2N augmented views of a batch,
  temperature 0.2 (MoCo-v2's value; SimCLR's small-batch optimum is 0.1-0.5). MoCo-v2's momentum encoder and
  queue exist to get many negatives at large scale; with a 128-image batch (254 negatives per anchor) over a
  few thousand images, in-batch negatives are enough and need no second network.
- **Augmentations** (SimCLR section 3 / appendix A, as used for CIFAR): random resized crop (area 0.2-1,
  aspect 3/4-4/3) resampled with `jax.image.scale_and_translate`, horizontal flip (p 0.5), colour jitter
  with p 0.8 (brightness, contrast, saturation 0.4 each, applied in random order as SimCLR does; hue jitter
  left out: it needs an HSV round trip and the digits probe is grey), random greyscale (p 0.2). No blur
  (SimCLR drops it for 32 x 32 images).
- **Encoder**: three stride-2 conv 3x3 (16, 32, 64 channels) and one stride-1 conv 3x3 (64), GroupNorm + ReLU
  after each (no GroupNorm on the last: it would centre every channel over the image, so the pooled
  ReLU means come out nearly the same for every image), global average pooling: a 64-d representation.
  Sized for two CPU cores: a stride-1 first layer at 32 channels and widths up to 128 cost ~15x more per
  step here (measured: 4.9 s vs 0.33 s per 512 views).
  GroupNorm instead of BatchNorm keeps the step a pure function of (params, batch) (no running statistics,
  no cross-view leakage through batch statistics). Projection head: 64 -> 64 -> 32 MLP (SimCLR's two-layer
  head); the linear probe reads the representation before the head, as SimCLR does.
- **Optimiser**: AdamW (lr 1e-3, weight decay 1e-4) with cosine decay instead of LARS, which pays off only
  at large batch sizes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from jaxtyping import Array, Float


@dataclasses.dataclass(frozen=True)
class SSLConfig:
    """SimCLR settings (see the module docstring for where each value comes from)."""

    widths: tuple[int, ...] = (16, 32, 64, 64)
    strides: tuple[int, ...] = (2, 2, 2, 1)
    projection: tuple[int, ...] = (64, 32)  # SimCLR's 2-layer projection head
    temperature: float = 0.2  # MoCo-v2 (Chen et al. 2020b)
    crop_area: tuple[float, float] = (0.2, 1.0)  # SimCLR's CIFAR setting (ImageNet: 0.08-1)
    crop_aspect: tuple[float, float] = (3 / 4, 4 / 3)  # SimCLR appendix A
    jitter: float = 0.4  # brightness / contrast / saturation strength, SimCLR appendix A (s = 0.5 x 0.8)
    jitter_prob: float = 0.8
    grey_prob: float = 0.2
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    steps: int = 500
    batch_size: int = 128  # images per step (256 views, 254 negatives per anchor)


class Encoder(nn.Module):
    """Small conv encoder: images in [0, 1] -> a `widths[-1]`-d representation (global average pooled)."""

    widths: tuple[int, ...]
    strides: tuple[int, ...]

    @nn.compact
    def __call__(self, images: Float[Array, "b h w 3"]) -> Float[Array, "b d"]:
        x = images - 0.5
        for i, (width, stride) in enumerate(zip(self.widths, self.strides, strict=True)):
            x = nn.Conv(width, (3, 3), strides=stride, padding="SAME")(x)
            if i < len(self.widths) - 1:  # normalising the last layer would make its pooled means all alike
                x = nn.GroupNorm(num_groups=8)(x)
            x = nn.relu(x)
        return x.mean(axis=(1, 2))


class SimCLR(nn.Module):
    """Encoder plus projection head; returns (representation, projection)."""

    cfg: SSLConfig

    def setup(self):
        self.encoder = Encoder(self.cfg.widths, self.cfg.strides)
        self.head = [nn.Dense(w) for w in self.cfg.projection]

    def __call__(self, images: Float[Array, "b h w 3"]) -> tuple[Float[Array, "b d"], Float[Array, "b p"]]:
        h = self.encoder(images)
        z = h
        for i, layer in enumerate(self.head):
            z = layer(z)
            if i < len(self.head) - 1:
                z = nn.relu(z)
        return h, z

    def represent(self, images: Float[Array, "b h w 3"]) -> Float[Array, "b d"]:
        return self.encoder(images)


def _crop(rng: Array, image: Float[Array, "h w 3"], cfg: SSLConfig) -> Float[Array, "h w 3"]:
    """Random resized crop of one image back to its own size."""
    h, w = image.shape[:2]
    k_area, k_aspect, k_y, k_x = jax.random.split(rng, 4)
    area = jax.random.uniform(k_area, (), minval=cfg.crop_area[0], maxval=cfg.crop_area[1])
    log_aspect = jax.random.uniform(
        k_aspect, (), minval=jnp.log(cfg.crop_aspect[0]), maxval=jnp.log(cfg.crop_aspect[1])
    )
    aspect = jnp.exp(log_aspect)
    ch = jnp.clip(jnp.sqrt(area / aspect) * h, 4.0, h)
    cw = jnp.clip(jnp.sqrt(area * aspect) * w, 4.0, w)
    y0 = jax.random.uniform(k_y, ()) * (h - ch)
    x0 = jax.random.uniform(k_x, ()) * (w - cw)
    scale = jnp.array([h / ch, w / cw])
    return jax.image.scale_and_translate(image, image.shape, (0, 1), scale, -jnp.array([y0, x0]) * scale, "linear")


def _grey(image: Float[Array, "... 3"]) -> Float[Array, "... 1"]:
    return image @ jnp.array([0.299, 0.587, 0.114])[:, None]  # ITU-R 601 luma, as torchvision's Grayscale


def _jitter(rng: Array, image: Float[Array, "h w 3"], cfg: SSLConfig) -> Float[Array, "h w 3"]:
    """Brightness, contrast and saturation jitter in a random order (torchvision's ColorJitter, hue left out)."""
    k_order, k_factors = jax.random.split(rng)
    factors = jax.random.uniform(k_factors, (3,), minval=1 - cfg.jitter, maxval=1 + cfg.jitter)
    ops = (
        lambda x, f: x * f,  # brightness
        lambda x, f: (x - _grey(x).mean()) * f + _grey(x).mean(),  # contrast around the mean luma
        lambda x, f: (x - _grey(x)) * f + _grey(x),  # saturation around the pixel's grey
    )
    order = jax.random.permutation(k_order, 3)
    for position in range(3):
        which = order[position]
        image = jax.lax.switch(which, ops, image, factors[which])
        image = jnp.clip(image, 0.0, 1.0)
    return image


def augment_one(rng: Array, image: Float[Array, "h w 3"], cfg: SSLConfig) -> Float[Array, "h w 3"]:
    """One SimCLR view of one image."""
    k_crop, k_flip, k_jit, k_pj, k_pg = jax.random.split(rng, 5)
    x = _crop(k_crop, image, cfg)
    x = jnp.where(jax.random.bernoulli(k_flip), x[:, ::-1], x)
    x = jnp.where(jax.random.bernoulli(k_pj, cfg.jitter_prob), _jitter(k_jit, x, cfg), x)
    x = jnp.where(jax.random.bernoulli(k_pg, cfg.grey_prob), jnp.broadcast_to(_grey(x), x.shape), x)
    return jnp.clip(x, 0.0, 1.0)


def augment(rng: Array, images: Float[Array, "b h w 3"], cfg: SSLConfig) -> Float[Array, "b h w 3"]:
    """An independent SimCLR view of each image."""
    keys = jax.random.split(rng, images.shape[0])
    return jax.vmap(augment_one, in_axes=(0, 0, None))(keys, images, cfg)


def nt_xent(z1: Float[Array, "b p"], z2: Float[Array, "b p"], temperature: float) -> Float[Array, ""]:
    """SimCLR's NT-Xent: each of the 2B views must pick its partner among the other 2B - 1 (cosine / T)."""
    z = jnp.concatenate([z1, z2])
    z = z / jnp.linalg.norm(z, axis=-1, keepdims=True).clip(1e-8)
    logits = z @ z.T / temperature
    n = z1.shape[0]
    logits = jnp.where(jnp.eye(2 * n, dtype=bool), -jnp.inf, logits)
    partner = jnp.concatenate([jnp.arange(n, 2 * n), jnp.arange(n)])
    return optax.softmax_cross_entropy_with_integer_labels(logits, partner).mean()


class SSLState(struct.PyTreeNode):
    step: Array
    params: dict
    opt_state: optax.OptState


def optimizer(cfg: SSLConfig) -> optax.GradientTransformation:
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, max(cfg.steps, 1))
    return optax.adamw(schedule, weight_decay=cfg.weight_decay)


def init_state(cfg: SSLConfig, rng: Array, image_size: int = 32) -> SSLState:
    params = SimCLR(cfg).init(rng, jnp.zeros((1, image_size, image_size, 3)))["params"]
    return SSLState(step=jnp.zeros((), jnp.int32), params=params, opt_state=optimizer(cfg).init(params))


@functools.cache  # one compilation per configuration, shared by every run
def make_train_step(cfg: SSLConfig) -> Callable[[SSLState, Float[Array, "b h w 3"], Array], tuple[SSLState, dict]]:
    """The jitted SimCLR step `(state, images, rng) -> (state, {"loss": ...})`; two fresh views per image."""
    model, tx = SimCLR(cfg), optimizer(cfg)

    def loss_fn(params, images, rng):
        k1, k2 = jax.random.split(rng)
        views = jnp.concatenate([augment(k1, images, cfg), augment(k2, images, cfg)])
        _, z = model.apply({"params": params}, views)
        return nt_xent(z[: images.shape[0]], z[images.shape[0] :], cfg.temperature)

    def train_step(state: SSLState, images, rng):
        rng = jax.random.fold_in(rng, state.step)
        loss, grads = jax.value_and_grad(loss_fn)(state.params, images, rng)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return SSLState(step=state.step + 1, params=params, opt_state=opt_state), {"loss": loss}

    return jax.jit(train_step, donate_argnums=0)


@functools.cache
def make_represent(cfg: SSLConfig) -> Callable[[dict, Float[Array, "b h w 3"]], Float[Array, "b d"]]:
    """Jitted `(params, images) -> representations` (the encoder's pooled features, before the head)."""
    model = SimCLR(cfg)
    return jax.jit(lambda params, images: model.apply({"params": params}, images, method=SimCLR.represent))
