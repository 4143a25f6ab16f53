"""Recognisers for the fidelity and diversity measures, and the offline one for the shapes group.

The paper scores drawings with CLIP. Any model that can (a) embed images and (b) score images against
concept captions serves: that is the `Recogniser` protocol. `ClipStyleRecogniser.for_groups(folder, groups)`
is CLIP itself: a local Hugging Face CLIP folder (config.json, model.safetensors, tokenizer files) read into
the JAX port of `clip_model.py` by `clip_load.py`, no PyTorch (`--clip PATH` on the CLI). Without CLIP
weights (the default, offline), the shapes group gets `ShapeClassifier`: a small CNN (the SimCLR encoder of
`ssl.py` plus a linear layer) trained here, supervised, on the offline drawer's own renderings of the 20 shapes
(random placement, size, colour, fill, background, with SimCLR's crops / flips / colour jitter as
augmentation). Its scores are class logits; its embedding is the encoder's pooled feature.

`MaiaRecogniser` plugs in MAIA's subject classifier (`jaxinterp.agent.maia.subject`: a small CNN / ViT
trained on MAIA's procedural concept scenes, 6 shapes and 5 objects): restricted to the kinds that are also
check-up concepts (circle, square, triangle, star, cross; house, tree, car, flower, boat), it scores the
shapes and the objects group. It never saw matplotlib drawings, so it judges across a style gap, as CLIP
would. Anything with `captions`, `scores` and `embed` can be plugged in.

Caveat: the classifier learned from the offline drawer's style, so it rates the offline drawer's shapes
highly by construction; for model-written drawings it is a weak, style-biased judge, a stand-in for CLIP.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Protocol, runtime_checkable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Float, UInt8
from PIL import Image

from jaxinterp import loop
from jaxinterp.agent.checkup import ssl
from jaxinterp.agent.checkup.concepts import SHAPES
from jaxinterp.agent.checkup.drawer import draw
from jaxinterp.agent.checkup.render import render_batch
from jaxinterp.checkpoint import load_tree, save_tree
from jaxinterp.errors import InputError


@runtime_checkable
class Recogniser(Protocol):
    """Scores images against the captions it knows and embeds images (uint8 RGB, any size)."""

    name: str
    captions: tuple[str, ...]

    def scores(self, images: UInt8[np.ndarray, "n h w 3"]) -> Float[np.ndarray, "n k"]: ...

    def embed(self, images: UInt8[np.ndarray, "n h w 3"]) -> Float[np.ndarray, "n d"]: ...


class ClipStyleRecogniser:
    """A CLIP-style recogniser from two embedding functions: scores are cosine similarities between image and
    caption embeddings (CLIP's zero-shot retrieval, as the paper scores fidelity), the embedding is the
    image's. Plug in any image / text encoder pair that maps into one space, or load CLIP from a local
    folder with `from_folder` / `for_groups`.

    Scores are plain cosines, not CLIP's logits (cosine x exp(logit_scale)): fidelity is a ranking (top-1,
    percentile), which a positive scale does not change, and plain cosines compare across checkpoints.
    """

    def __init__(self, name: str, captions: tuple[str, ...], embed_images, embed_texts, input_size: int = 128):
        self.name = name
        self.captions = tuple(captions)
        self.input_size = input_size  # side (px) drawings are scaled to before `scores` / `embed`
        self._images = embed_images
        text = np.asarray(embed_texts(list(self.captions)), np.float64)
        self._text = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)

    @classmethod
    def from_folder(cls, folder: str | Path, captions: tuple[str, ...], template: str = "{}") -> ClipStyleRecogniser:
        """CLIP from a local Hugging Face folder scoring `captions` (see `clip_load.py`), each written into
        `template` before it is embedded; embeddings are unit image embeddings."""
        from jaxinterp.agent.checkup import clip_load

        return cls._from_clip(clip_load.load(folder), Path(folder), captions, template)

    @classmethod
    def for_groups(cls, folder: str | Path, groups, template: str = "{}") -> dict[str, ClipStyleRecogniser]:
        """One CLIP (loaded once) per concept group, each ranking all captions of its group. By default captions
        are scored as written (`concentric circles`): the paper's prompt template, if any, is not public; pass
        e.g. `template="a drawing of a {}"` to try one."""
        from jaxinterp.agent.checkup import clip_load
        from jaxinterp.agent.checkup.concepts import concepts

        clip = clip_load.load(folder)
        captions = {g: tuple(c.caption for c in concepts([g])) for g in groups}
        return {g: cls._from_clip(clip, Path(folder), captions[g], template) for g in groups}

    @classmethod
    def _from_clip(cls, clip, folder: Path, captions: tuple[str, ...], template: str) -> ClipStyleRecogniser:
        def texts(captions):
            return clip.embed_texts([template.format(c) for c in captions])

        name = f"clip:{folder.expanduser().resolve().name}"
        return cls(name, captions, clip.embed_images, texts, input_size=clip.image.crop)

    def embed(self, images):
        return np.asarray(self._images(np.asarray(images, np.uint8)), np.float64)

    def scores(self, images):
        e = self.embed(images)
        return (e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)) @ self._text.T


class MaiaRecogniser:
    """MAIA's subject classifier as a recogniser over the given captions (a subset of its kinds)."""

    def __init__(self, subject, captions: tuple[str, ...]):
        from jaxinterp.agent.maia.subject import CLASSES

        missing = [c for c in captions if c not in CLASSES]
        if missing:
            raise InputError(f"MAIA's subject does not know {', '.join(missing)}")
        self.name = f"maia-{subject.cfg.kind}"
        self.subject = subject
        self.captions = tuple(captions)
        self._columns = [CLASSES.index(c) for c in captions]

    @classmethod
    def for_groups(cls, folder: str | Path) -> dict[str, MaiaRecogniser]:
        """Recognisers for the shapes and objects groups from a subject saved by MAIA (`subject.save`)."""
        from jaxinterp.agent.checkup.concepts import OBJECTS
        from jaxinterp.agent.maia.subject import CLASSES, load

        subject = load(folder)
        groups = {"shapes": SHAPES, "objects": OBJECTS}
        return {g: cls(subject, tuple(c.caption for c in cs if c.caption in CLASSES)) for g, cs in groups.items()}

    def _run(self, images):
        logits, acts = self.subject.apply(_resize(np.asarray(images, np.uint8), self.subject.cfg.size))
        last = np.asarray(acts[self.subject.cfg.layers[-1]], np.float64)
        return np.asarray(logits, np.float64), last.reshape(len(last), -1, last.shape[-1]).mean(1)

    def scores(self, images):
        return self._run(images)[0][:, self._columns]

    def embed(self, images):
        return self._run(images)[1]


@dataclasses.dataclass(frozen=True)
class ShapeClassifierConfig:
    """Training of the offline shapes recogniser. Measured on 2 CPU cores (one run each, held-out accuracy
    over 20 shapes, chance 0.05): 32 px, 80 per class, 400 steps: 0.39; 48 px, 150 per class, 800 steps:
    0.62; these defaults: 0.77 in 270 s (rendering included)."""

    per_class: int = 200  # training drawings per shape
    held_out: int = 20  # test drawings per shape
    size: int = 48
    steps: int = 1500
    batch_size: int = 128
    learning_rate: float = 3e-3
    seed: int = 0
    encoder: ssl.SSLConfig = dataclasses.field(
        default_factory=lambda: dataclasses.replace(
            ssl.SSLConfig(), crop_area=(0.7, 1.0), jitter_prob=0.5, grey_prob=0.0
        )
    )


class _Classifier(nn.Module):
    cfg: ssl.SSLConfig
    classes: int

    def setup(self):
        self.encoder = ssl.Encoder(self.cfg.widths, self.cfg.strides)
        self.head = nn.Dense(self.classes)

    def __call__(self, images):
        return self.head(self.encoder(images))

    def embed(self, images):
        return self.encoder(images)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    if images.shape[1:3] == (size, size):
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BOX)) for im in images])


class ShapeClassifier:
    """The offline recogniser for the shapes group (see the module docstring)."""

    name = "shape-classifier"

    def __init__(self, params: dict, cfg: ShapeClassifierConfig, held_out_accuracy: float):
        self.params = params
        self.cfg = cfg
        self.held_out_accuracy = held_out_accuracy
        self.captions = tuple(c.caption for c in SHAPES)
        model = _Classifier(cfg.encoder, len(self.captions))
        self._logits = jax.jit(lambda p, x: model.apply({"params": p}, x))
        self._embed = jax.jit(lambda p, x: model.apply({"params": p}, x, method=_Classifier.embed))

    def _apply(self, fn, images: np.ndarray) -> np.ndarray:
        x = jnp.asarray(_resize(np.asarray(images, np.uint8), self.cfg.size), jnp.float32) / 255.0
        return np.asarray(fn(self.params, x))

    def scores(self, images):
        return self._apply(self._logits, images)

    def embed(self, images):
        return self._apply(self._embed, images)

    @classmethod
    def train(cls, cfg: ShapeClassifierConfig = ShapeClassifierConfig()) -> ShapeClassifier:  # noqa: B008
        """Render the training and held-out drawings in the sandbox, train, and measure held-out accuracy."""
        rng = np.random.default_rng(cfg.seed)
        n = cfg.per_class + cfg.held_out
        labels = np.repeat(np.arange(len(SHAPES)), n)
        images, errors = render_batch([draw(SHAPES[k], rng) for k in labels], size=cfg.size)
        if any(errors):
            raise InputError(f"shape drawings failed to render: {next(e for e in errors if e)}")
        test = np.tile(np.arange(n) >= cfg.per_class, len(SHAPES))
        params = _fit(images[~test], labels[~test], cfg)
        clf = cls(params, cfg, 0.0)
        accuracy = float((clf.scores(images[test]).argmax(1) == labels[test]).mean())
        return cls(params, cfg, accuracy)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        save_tree(path / "params", self.params)
        meta = {"config": dataclasses.asdict(self.cfg), "held_out_accuracy": self.held_out_accuracy}
        (path / "classifier.json").write_text(json.dumps(meta, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> ShapeClassifier:
        path = Path(path)
        meta_file = path / "classifier.json"
        if not meta_file.is_file():
            raise InputError(f"no shape classifier at {path} (expected classifier.json and params/)")
        meta = json.loads(meta_file.read_text())
        raw = meta["config"]
        enc = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.pop("encoder").items()}
        cfg = ShapeClassifierConfig(**raw, encoder=ssl.SSLConfig(**enc))
        return cls(load_tree(path / "params"), cfg, meta["held_out_accuracy"])

    @classmethod
    def cached(cls, folder: str | Path, cfg: ShapeClassifierConfig = ShapeClassifierConfig()) -> ShapeClassifier:  # noqa: B008
        """The classifier saved in `folder`; when there is none, train one with `cfg` and save it there."""
        folder = Path(folder)
        if (folder / "classifier.json").is_file():
            return cls.load(folder)
        clf = cls.train(cfg)
        clf.save(folder)
        return clf


def _fit(images: UInt8[np.ndarray, "n h w 3"], labels: np.ndarray, cfg: ShapeClassifierConfig) -> dict:
    model = _Classifier(cfg.encoder, len(SHAPES))
    key = jax.random.key(cfg.seed)
    init_key, step_key = jax.random.split(key)
    params = model.init(init_key, jnp.zeros((1, cfg.size, cfg.size, 3)))["params"]
    tx = optax.adamw(optax.cosine_decay_schedule(cfg.learning_rate, cfg.steps), weight_decay=1e-4)

    def step(state: dict, batch: tuple, rng) -> tuple[dict, dict]:
        x, y = batch
        x = ssl.augment(jax.random.fold_in(rng, state["step"]), jnp.asarray(x, jnp.float32) / 255.0, cfg.encoder)

        def loss_fn(p):
            return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": p}, x), y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state["params"])
        updates, opt_state = tx.update(grads, state["opt"], state["params"])
        new = {"params": optax.apply_updates(state["params"], updates), "opt": opt_state, "step": state["step"] + 1}
        return new, {"loss": loss}

    order = np.random.default_rng(cfg.seed)  # batches drawn up front, in the order the steps use them
    batches = [order.choice(len(images), min(cfg.batch_size, len(images)), replace=False) for _ in range(cfg.steps)]
    state = {"params": params, "opt": tx.init(params), "step": jnp.zeros((), jnp.int32)}
    state, _ = loop.fit(
        loop.jit_step(step),
        state,
        cfg.steps,
        batch_for=lambda i: (images[batches[i]], labels[batches[i]]),
        rng=step_key,
        label="shape classifier",
    )
    return state["params"]
