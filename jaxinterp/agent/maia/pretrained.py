"""A user's pretrained Flax (linen) vision model as a MAIA subject, loaded from a local checkpoint.

MAIA's own subjects are ResNet-152, CLIP-RN50 and DINO ViT-S/8. We cannot download weights, but a user who has a
Flax model and its parameters on disk can study it: any linen module works, because its layers are read with
Flax's `capture_intermediates` (every submodule's output, by path), with no hooks and no changes to the model.
A folder describes the model:

    flax_subject.json   {"module": "my_pkg.models:ResNet18",      an importable linen Module class or factory
                         "kwargs": {"num_classes": 1000},         its constructor arguments (optional)
                         "params": "params",                      orbax checkpoint (jaxinterp.checkpoint.save_tree)
                         "size": 224,                             input side; our images are resized to it
                         "layers": ["layer3", "layer4"],          submodule paths ("/"-joined) offered as layers
                         "layout": "cnn",                         "cnn": [b, h, w, c] maps; "vit": [b, 1+n, d] tokens
                         "classes": ["tench", ...],               class names of the logits (optional)
                         "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}   input normalisation

The module's `__call__(x)` must take float images [b, size, size, 3] (values in [0, 1] after `mean`/`std`) and
return the logits (or a tuple whose first element is). Decisions: mean/std default to ImageNet's; a layer's output
that is a tuple is taken at its first element. Penzai has no vision models to load; a penzai model would be read
the same way with `pz.select(...)` and is not supported yet.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, UInt8

from jaxinterp.checkpoint import load_tree
from jaxinterp.errors import InputError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CONFIG_FILE = "flax_subject.json"


@dataclasses.dataclass(frozen=True)
class PretrainedConfig:
    """What `System` needs to know of a pretrained subject (mirrors `SubjectConfig`'s `kind`, `size`, `layers`)."""

    kind: str
    size: int
    layers: tuple[str, ...]
    classes: tuple[str, ...] = ()
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


class FlaxSubject:
    """A pretrained linen model: `apply(images) -> (logits, {layer: activations})` like `subject.Subject`."""

    def __init__(self, module: nn.Module, params, cfg: PretrainedConfig):
        if cfg.kind not in ("cnn", "vit"):
            raise InputError(f"layout must be cnn or vit, got {cfg.kind!r}")
        self.module, self.params, self.cfg = module, params, cfg
        paths = set(cfg.layers)

        def forward(params, x):
            out, state = module.apply(
                {"params": params}, x, capture_intermediates=lambda mdl, _: "/".join(mdl.path) in paths
            )
            captured = {}
            for path, value in jax.tree_util.tree_flatten_with_path(
                state["intermediates"], is_leaf=lambda v: isinstance(v, tuple)
            )[0]:
                names = [k.key for k in path if hasattr(k, "key")]
                if names and names[-1] == "__call__":
                    captured["/".join(names[:-1])] = value[0] if isinstance(value, tuple) else value
            return (out[0] if isinstance(out, tuple) else out), captured

        self._forward = jax.jit(forward)

    def apply(self, images: UInt8[np.ndarray, "b s s 3"]) -> tuple[Float[Array, "b k"], dict[str, Array]]:
        x = jnp.asarray(images, jnp.float32) / 255.0
        if x.shape[1:3] != (self.cfg.size, self.cfg.size):
            x = jax.image.resize(x, (x.shape[0], self.cfg.size, self.cfg.size, 3), "bilinear")
        x = (x - jnp.asarray(self.cfg.mean)) / jnp.asarray(self.cfg.std)
        logits, acts = self._forward(self.params, x)
        missing = [layer for layer in self.cfg.layers if layer not in acts]
        if missing:
            raise InputError(f"the model has no submodule at {', '.join(missing)} (layers are '/'-joined paths)")
        return logits, acts


def load_flax_subject(folder: str | Path) -> FlaxSubject:
    """The pretrained subject described by `folder/flax_subject.json` (module docstring)."""
    folder = Path(folder)
    path = folder / CONFIG_FILE
    try:
        spec = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read {path}: {err}") from None
    for key in ("module", "size", "layers"):
        if key not in spec:
            raise InputError(f"{path} lacks {key!r}")
    module_name, _, attr = spec["module"].partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise InputError(f"cannot import the model {spec['module']!r}: {err}") from None
    module = factory(**spec.get("kwargs", {}))
    params_path = folder / spec.get("params", "params")
    if not params_path.exists():
        raise InputError(f"no parameters at {params_path} (save them with jaxinterp.checkpoint.save_tree)")
    params = load_tree(params_path)
    params = params.get("params", params) if isinstance(params, dict) else params
    cfg = PretrainedConfig(
        kind=spec.get("layout", "cnn"),
        size=int(spec["size"]),
        layers=tuple(spec["layers"]),
        classes=tuple(spec.get("classes", ())),
        mean=tuple(spec.get("mean", IMAGENET_MEAN)),
        std=tuple(spec.get("std", IMAGENET_STD)),
    )
    return FlaxSubject(module, params, cfg)
