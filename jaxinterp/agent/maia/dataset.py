"""The embedded image dataset of MAIA's offline path: procedural scenes with their concept maps, as a TFDS builder.

MAIA computes a unit's dataset exemplars over ImageNet (real units) or a natural-image pool (synthetic neurons).
Offline, the pool is `render.random_scene` drawn from a seed, written once as a TFDS array_record dataset and
read with `as_data_source()` (random access, no TensorFlow), like `jaxinterp.data.paired`. Each example stores
raw `tfds.features.Tensor`s:

    image       uint8 [s, s, 3]
    object_map  uint8 [s, s]       0 = background, k = k-th thing
    colour_map  uint8 [s, s]       index into render.COLOURS, 255 = uncoloured
    kinds       int32 [MAX_THINGS] index into render.KINDS, -1 = no thing (also textures, colours)
    background  int32 []           index into render.BACKGROUNDS
    label       int32 []           kind of the thing with the most visible pixels (the subject CNN's class)

so every concept mask is exact (`render.masks_from_maps`). Example i of seed s is drawn from
`default_rng([s, i])`; test examples follow the training ones in the same stream, so the splits are disjoint.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds
from jaxtyping import Bool

from jaxinterp.agent.maia import render
from jaxinterp.errors import InputError

DEFAULT_SIZE = render.DEFAULT_SIZE
DEFAULT_TRAIN, DEFAULT_TEST = 2000, 500


@dataclasses.dataclass(eq=False)
class ConceptScenesConfig(tfds.core.BuilderConfig):
    size: int = DEFAULT_SIZE
    num_train: int = DEFAULT_TRAIN
    num_test: int = DEFAULT_TEST
    seed: int = 0


def example(seed: int, index: int, size: int) -> dict[str, np.ndarray]:
    """Example `index` of the stream of `seed`, as stored."""
    scene = render.random_scene(np.random.default_rng([seed, index]))
    r = render.render(scene, size, seed=index)
    pad = render.MAX_THINGS - len(scene.things)

    def ids(names: Sequence[str], vocabulary: Sequence[str]) -> np.ndarray:
        return np.array([vocabulary.index(n) for n in names] + [-1] * pad, np.int32)

    visible = np.bincount(r.object_map.ravel(), minlength=render.MAX_THINGS + 1)[1 : len(scene.things) + 1]
    main = scene.things[int(np.argmax(visible))]
    return {
        "image": r.image,
        "object_map": r.object_map,
        "colour_map": r.colour_map,
        "kinds": ids([t.kind for t in scene.things], render.KINDS),
        "textures": ids([t.texture for t in scene.things], render.TEXTURES),
        "colours": ids([t.colour for t in scene.things], render.COLOURS),
        "background": np.int32(render.BACKGROUNDS.index(scene.background)),
        "label": np.int32(render.KINDS.index(main.kind)),
    }


def scene_of(ex: dict[str, np.ndarray]) -> render.Scene:
    """The scene spec of a stored example (positions are not stored; they are not needed for masks)."""
    things = tuple(
        render.Thing(render.KINDS[k], render.COLOURS[c], render.TEXTURES[t])
        for k, c, t in zip(ex["kinds"], ex["colours"], ex["textures"], strict=True)
        if k >= 0
    )
    return render.Scene(render.BACKGROUNDS[int(ex["background"])], things)


def batch_masks(batch: dict[str, np.ndarray]) -> dict[str, Bool[np.ndarray, "b s s"]]:
    """Exact concept masks of a batch of stored examples (stacked arrays)."""
    return render.masks_from_maps(
        batch["object_map"], batch["colour_map"], batch["kinds"], batch["textures"], batch["background"]
    )


class ConceptScenes(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Procedural scenes (jaxinterp.agent.maia.render) with exact concept maps: no download, seeded."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [ConceptScenesConfig(name=f"{DEFAULT_SIZE}px_train{DEFAULT_TRAIN}_test{DEFAULT_TEST}_seed0")]
    code_path = None  # no checksums file to look up (see data/paired/builders.py)

    def _info(self) -> tfds.core.DatasetInfo:
        s, t = self.builder_config.size, render.MAX_THINGS
        tensor = tfds.features.Tensor
        features = tfds.features.FeaturesDict(
            {
                "image": tensor(shape=(s, s, 3), dtype=np.uint8),
                "object_map": tensor(shape=(s, s), dtype=np.uint8),
                "colour_map": tensor(shape=(s, s), dtype=np.uint8),
                "kinds": tensor(shape=(t,), dtype=np.int32),
                "textures": tensor(shape=(t,), dtype=np.int32),
                "colours": tensor(shape=(t,), dtype=np.int32),
                "background": tensor(shape=(), dtype=np.int32),
                "label": tensor(shape=(), dtype=np.int32),
            }
        )
        return tfds.core.DatasetInfo(
            builder=self, description=(self.__doc__ or "").strip(), features=features, disable_shuffling=True
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        return {
            "train": self._generate_examples(0, cfg.num_train),
            "test": self._generate_examples(cfg.num_train, cfg.num_test),
        }

    def _generate_examples(self, offset: int, count: int) -> Iterator[tuple[int, dict]]:
        cfg = self.builder_config
        for i in range(count):
            yield i, example(cfg.seed, offset + i, cfg.size)


def builder(
    data_dir: str | os.PathLike, size: int = DEFAULT_SIZE, num_train: int = DEFAULT_TRAIN,
    num_test: int = DEFAULT_TEST, seed: int = 0,
) -> ConceptScenes:  # fmt: skip
    """The builder for one configuration, stored under `data_dir/concept_scenes/<config>`."""
    for name, value, low in (("size", size, 16), ("num_train", num_train, 1), ("num_test", num_test, 1)):
        if not isinstance(value, int | np.integer) or value < low:
            raise InputError(f"concept scenes: {name} must be an integer >= {low}, got {value!r}")
    cfg = ConceptScenesConfig(
        name=f"{size}px_train{num_train}_test{num_test}_seed{seed}",
        size=int(size),
        num_train=int(num_train),
        num_test=int(num_test),
        seed=int(seed),
    )
    return ConceptScenes(data_dir=os.fspath(data_dir), config=cfg, file_format="array_record")


def load_source(data_dir: str | os.PathLike, split: str = "train", **config) -> Sequence[dict[str, np.ndarray]]:
    """Random-access source of one split (built on first use): `len()`, `[i]` -> the example dict."""
    ds = builder(data_dir, **config)
    if not ds.is_prepared():
        tfds.disable_progress_bar()
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        ds.download_and_prepare()
        ds = builder(data_dir, **config)
    if split not in ds.info.splits:
        raise InputError(f"concept scenes have no split {split!r}; choose train or test")
    return ds.as_data_source(split=split)


def stack(source: Sequence[dict[str, np.ndarray]], indices: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Examples of a source stacked into arrays (all of them by default)."""
    indices = range(len(source)) if indices is None else indices
    items = [source[int(i)] for i in indices]
    return {key: np.stack([np.asarray(item[key]) for item in items]) for key in items[0]}
