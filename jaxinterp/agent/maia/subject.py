"""Subject models for MAIA in JAX: a small CNN and a small ViT trained in-repo on the concept scenes.

MAIA studies units of ResNet-152, CLIP-RN50 and DINO ViT-S/8. Offline we train tiny classifiers of the same two
families on `dataset.py`'s procedural scenes, so their units have concepts to find. The task: name the kind
(one of 6 shapes and 5 objects) of the image's largest thing (`label`).

    model = train(SubjectConfig("cnn"), source, steps=1500)    # about two minutes on 2 busy CPU cores
    logits, acts = model.apply(images)                          # acts: {"conv1": [b, 32, 32, 16], ...}
    save(model, "runs/maia/subject"); model = load("runs/maia/subject")

Both return named intermediates, so `System` reads any layer without hooks:
- CNN: conv1 [b, s/2, s/2, c1], conv2 [b, s/4, s/4, c2], conv3 [b, s/8, s/8, c3] (stride-2 convolutions, after ReLU);
- ViT: block1..blockN [b, 1 + (s/p)^2, d] (token 0 is CLS; `System` drops it and lays the rest on a grid).

Decisions: inputs are uint8 images scaled to [-1, 1]; Adam (lr 3e-3, b1 0.9, b2 0.999), batch 64, no
augmentation; these are not paper models, just subjects whose units we can explain. Measured (one run, 1000
training images, 2 busy CPU cores): the CNN reaches 0.21 test accuracy after 400 steps (30 s) and 0.54 after 1500
(chance 0.09); the offline describer finds mostly colour units (conv1: 38% of units with IoU > 0.04, NetDissect's
"interpretable" cut; conv3: 16%, colours, shapes, objects and red-when-circle conjunctions).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, UInt8

from jaxinterp import loop
from jaxinterp.agent.maia import render
from jaxinterp.checkpoint import load_tree, save_tree
from jaxinterp.errors import InputError

CLASSES = render.KINDS


@dataclasses.dataclass(frozen=True)
class SubjectConfig:
    """Architecture of a subject model.

    Attributes:
        kind: "cnn" or "vit".
        size: Input image side in pixels.
        channels: CNN widths of conv1..conv3.
        patch: ViT patch side; width: token width; depth: blocks; heads: attention heads.
    """

    kind: str = "cnn"
    size: int = render.DEFAULT_SIZE
    channels: tuple[int, ...] = (16, 32, 64)
    patch: int = 8
    width: int = 48
    depth: int = 2
    heads: int = 4

    def __post_init__(self):
        if self.kind not in ("cnn", "vit"):
            raise InputError(f"subject kind must be cnn or vit, got {self.kind!r}")
        if self.kind == "vit" and self.size % self.patch:
            raise InputError(f"ViT image size {self.size} is not a multiple of the patch size {self.patch}")

    @property
    def layers(self) -> tuple[str, ...]:
        if self.kind == "cnn":
            return tuple(f"conv{i + 1}" for i in range(len(self.channels)))
        return tuple(f"block{i + 1}" for i in range(self.depth))


class SmallCNN(nn.Module):
    cfg: SubjectConfig

    @nn.compact
    def __call__(self, x: Float[Array, "b s s 3"]) -> tuple[Float[Array, "b k"], dict[str, Array]]:
        acts = {}
        for i, c in enumerate(self.cfg.channels):
            x = nn.relu(nn.Conv(c, (3, 3), (2, 2), name=f"conv{i + 1}")(x))  # stride 2: cheap on a CPU
            acts[f"conv{i + 1}"] = x
        return nn.Dense(len(CLASSES), name="head")(x.mean(axis=(1, 2))), acts


class SmallViT(nn.Module):
    cfg: SubjectConfig

    @nn.compact
    def __call__(self, x: Float[Array, "b s s 3"]) -> tuple[Float[Array, "b k"], dict[str, Array]]:
        cfg = self.cfg
        x = nn.Conv(cfg.width, (cfg.patch, cfg.patch), (cfg.patch, cfg.patch), name="embed")(x)
        b, g, _, d = x.shape
        x = x.reshape(b, g * g, d)
        cls = self.param("cls", nn.initializers.zeros, (1, 1, d))
        x = jnp.concatenate([jnp.broadcast_to(cls, (b, 1, d)), x], axis=1)
        x = x + self.param("pos", nn.initializers.normal(0.02), (1, g * g + 1, d))
        acts = {}
        for i in range(cfg.depth):
            h = nn.LayerNorm(name=f"ln_a{i + 1}")(x)
            x = x + nn.MultiHeadDotProductAttention(cfg.heads, name=f"attn{i + 1}")(h, h)
            h = nn.LayerNorm(name=f"ln_m{i + 1}")(x)
            x = x + nn.Dense(d, name=f"mlp_out{i + 1}")(nn.gelu(nn.Dense(4 * d, name=f"mlp_in{i + 1}")(h)))
            acts[f"block{i + 1}"] = x
        return nn.Dense(len(CLASSES), name="head")(nn.LayerNorm(name="ln_f")(x[:, 0])), acts


def module(cfg: SubjectConfig) -> nn.Module:
    return SmallCNN(cfg) if cfg.kind == "cnn" else SmallViT(cfg)


def init_params(cfg: SubjectConfig, rng: jax.Array) -> dict:
    """Fresh parameters (jitted: eager Flax init of attention dispatches many small ops, slow on a busy CPU)."""
    dummy = jnp.zeros((1, cfg.size, cfg.size, 3), jnp.float32)
    return jax.jit(module(cfg).init)(rng, dummy)["params"]


def to_input(images: UInt8[np.ndarray, "b s s 3"]) -> Float[Array, "b s s 3"]:
    return jnp.asarray(images, jnp.float32) / 127.5 - 1.0


@dataclasses.dataclass(frozen=True)
class Subject:
    """A trained subject: config and parameters. `apply` -> (logits, named intermediates)."""

    cfg: SubjectConfig
    params: dict

    def apply(self, images: UInt8[np.ndarray, "b s s 3"]) -> tuple[Float[Array, "b k"], dict[str, Array]]:
        images = np.asarray(images)
        if images.shape[1:] != (self.cfg.size, self.cfg.size, 3):
            raise InputError(f"subject expects images {self.cfg.size}x{self.cfg.size}x3, got {images.shape[1:]}")
        return _forward(module(self.cfg), self.params, to_input(images))

    def classify(self, images: UInt8[np.ndarray, "b s s 3"]) -> list[str]:
        """The predicted kind name per image (the offline recogniser the vision check-up reuses)."""
        logits, _ = self.apply(images)
        return [CLASSES[i] for i in np.asarray(jnp.argmax(logits, -1))]


@jax.jit(static_argnums=0)
def _forward(net: nn.Module, params, x):
    return net.apply({"params": params}, x)


def train(
    cfg: SubjectConfig,
    source: Sequence[dict[str, np.ndarray]],
    steps: int = 400,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    seed: int = 0,
) -> tuple[Subject, list[float]]:
    """Trains a subject on a concept-scenes source; returns it and the loss per step.

    Runs on `jaxinterp.loop.fit` (losses read back every 50 steps and at the end; a NaN/Inf raises
    `NonFiniteLossError` naming the step). The batch of step t is the t-th draw of
    `np.random.default_rng(seed)` (drawn up front: the same draws as step by step).
    """
    if steps < 1:
        raise InputError(f"steps must be at least 1, got {steps}")
    images = np.stack([np.asarray(source[i]["image"]) for i in range(len(source))])
    labels = np.array([int(source[i]["label"]) for i in range(len(source))], np.int32)
    if images.shape[1] != cfg.size:
        raise InputError(f"dataset images are {images.shape[1]} px but the subject config says {cfg.size}")
    net = module(cfg)
    rng = jax.random.PRNGKey(seed)
    params = init_params(cfg, jax.random.fold_in(rng, 0))
    opt = optax.adam(learning_rate)
    state = (params, opt.init(params))

    def train_step(state, batch, rng):
        params, opt_state = state
        del rng  # no dropout or augmentation: nothing random in a step

        def loss_fn(p):
            logits, _ = net.apply({"params": p}, batch["image"])
            return optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean(), logits

        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        accuracy = (jnp.argmax(logits, -1) == batch["label"]).mean()
        return (optax.apply_updates(params, updates), opt_state), {"loss": loss, "accuracy": accuracy}

    order = np.random.default_rng(seed)
    picks = [order.choice(len(images), batch_size, replace=len(images) < batch_size) for _ in range(steps)]
    state, history = loop.fit(
        loop.jit_step(train_step),
        state,
        steps,
        batch_for=lambda t: {"image": to_input(images[picks[t]]), "label": jnp.asarray(labels[picks[t]])},
        rng=rng,
        label="subject training",
    )
    return Subject(cfg, jax.tree_util.tree_map(np.asarray, state[0])), history["loss"].tolist()


def save(subject: Subject, folder: str | Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(subject.cfg)))
    save_tree(folder / "params", subject.params)
    return folder


def load(folder: str | Path):
    """A subject saved with `save`, or a user's pretrained Flax model (a folder with `flax_subject.json`, see
    `pretrained.py`)."""
    folder = Path(folder)
    from jaxinterp.agent.maia import pretrained

    if (folder / pretrained.CONFIG_FILE).is_file():
        return pretrained.load_flax_subject(folder)
    if not (folder / "config.json").is_file():
        raise InputError(
            f"no subject model in {folder} (config.json or {pretrained.CONFIG_FILE} missing); train one with "
            "`jaxinterp maia train`"
        )
    raw = json.loads((folder / "config.json").read_text())
    cfg = SubjectConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    return Subject(cfg, load_tree(folder / "params"))


def accuracy(subject: Subject, source: Sequence[dict[str, np.ndarray]], batch: int = 256) -> float:
    """Top-1 accuracy on a source."""
    hits = 0
    for start in range(0, len(source), batch):
        items = [source[i] for i in range(start, min(start + batch, len(source)))]
        predicted = subject.classify(np.stack([it["image"] for it in items]))
        hits += sum(p == CLASSES[int(it["label"])] for p, it in zip(predicted, items, strict=True))
    return hits / len(source)
