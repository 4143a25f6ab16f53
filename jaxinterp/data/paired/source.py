"""Paired datasets as the trainer and the CLI see them: prepare, open, batch, and single user files.

Datasets by name: "procedural" (embedded, no download), "cityscapes", "ade20k", "facades" (the user's
archives in `manual_dir`); see `builders.py`. Keyword `config` options select the stored size (`height`,
`width`) and, per dataset, `num_train`, `num_test`, `seed` (procedural) or `extended` (facades). Each set of
options is its own TFDS config, named e.g. "256x512", under `data_dir/paired_<name>/`.

A batch is a dict of float32 numpy arrays: "labels" one-hot [b, h, w, label_nc] and "image" [b, h, w, 3] in
[-1, 1] (the `images.uint8_to_unit` convention), what SPADE/ASAPNet feed their generator.

Decisions: `batches` walks one endless stream of per-epoch permutations, epoch e drawn from
`default_rng([seed, e])`, so every batch is full, every example appears once per epoch and the stream is the
same for a given seed; a batch may straddle two epochs. "procedural" is prepared on first use by
`load_source`; the archive datasets must be prepared explicitly, since they need `manual_dir`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from jaxtyping import Float, Integer, UInt8

from jaxinterp.data.images import uint8_to_unit
from jaxinterp.data.paired.builders import BUILDERS, check_labels, decode_image, decode_label
from jaxinterp.errors import InputError

# {"labels": one-hot float32 [b, h, w, label_nc], "image": float32 [b, h, w, 3] in [-1, 1]} (no "image" when
# translating label maps alone).
Batch = dict[str, Float[np.ndarray, "b h w c"]]
_MINIMUM = {"height": 8, "width": 8, "num_train": 0, "num_test": 0, "seed": 0}  # integer options


def label_nc(name: str) -> int:
    """Number of label classes (one-hot channels) of dataset `name`."""
    return _builder_class(name).LABEL_NC


def _builder_class(name: str):
    if name not in BUILDERS:
        raise InputError(f"unknown paired dataset {name!r}; choose one of: {', '.join(BUILDERS)}")
    return BUILDERS[name]


def _config(name: str, config: dict[str, Any]) -> tfds.core.BuilderConfig:
    """The builder config for `config` options, on top of the dataset's defaults, named by its options."""
    default = _builder_class(name).BUILDER_CONFIGS[0]
    own = {f.name for f in dataclasses.fields(default)} - {f.name for f in dataclasses.fields(tfds.core.BuilderConfig)}
    unknown = sorted(set(config) - own)
    if unknown:
        raise InputError(
            f"unknown option(s) {', '.join(unknown)} for dataset {name!r}; valid: {', '.join(sorted(own))}"
        )
    options = {key: getattr(default, key) for key in sorted(own)} | config
    for key, low in _MINIMUM.items():
        value = options.get(key, low)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise InputError(f"{name}: {key} must be an integer >= {low}, got {value!r}")
        if key in options:
            options[key] = int(value)
    parts = [f"{options['height']}x{options['width']}"]
    if name == "procedural":
        parts += [f"train{options['num_train']}", f"test{options['num_test']}", f"seed{options['seed']}"]
    if options.get("extended"):
        parts.append("extended")
    return dataclasses.replace(default, name="_".join(parts), **options)


def builder(name: str, data_dir: str | os.PathLike, **config: Any) -> tfds.core.DatasetBuilder:
    """The TFDS builder of dataset `name` with `config` options, storing under `data_dir`."""
    cls = _builder_class(name)
    return cls(data_dir=os.fspath(data_dir), config=_config(name, config), file_format="array_record")


def prepare(name: str, data_dir: str | os.PathLike, manual_dir: str | os.PathLike | None = None, **config: Any) -> None:
    """Builds dataset `name` into `data_dir` (reading archives from `manual_dir`); a no-op once built."""
    tfds.disable_progress_bar()
    download_config = tfds.download.DownloadConfig(manual_dir=None if manual_dir is None else os.fspath(manual_dir))
    builder(name, data_dir, **config).download_and_prepare(download_config=download_config)


def load_source(name: str, data_dir: str | os.PathLike, split: str, **config: Any) -> Sequence[dict[str, np.ndarray]]:
    """Random-access source of one split: `len()`, `[i]` -> {"label": uint8 [h, w], "image": uint8 [h, w, 3]}."""
    ds = builder(name, data_dir, **config)
    if not ds.is_prepared():
        if name != "procedural":
            raise InputError(
                f"dataset {name!r} ({ds.builder_config.name}) is not prepared in {data_dir}; run prepare() with "
                f"manual_dir: {ds.MANUAL_DOWNLOAD_INSTRUCTIONS.strip()}"
            )
        prepare(name, data_dir, **config)
        ds = builder(name, data_dir, **config)
    if split not in ds.info.splits:
        raise InputError(f"dataset {name!r} has no split {split!r}; choose one of: {', '.join(ds.info.splits)}")
    return ds.as_data_source(split=split)


def to_batch(labels: Integer[np.ndarray, "b h w"], images: UInt8[np.ndarray, "b h w 3"] | None, label_nc: int) -> Batch:
    """uint8 label maps (+ images) -> {"labels": one-hot f32 [b, h, w, label_nc], "image": f32 [b, h, w, 3] in [-1, 1]}.

    `images=None` gives labels only (translation of user label maps). Raises InputError for labels outside
    [0, label_nc) and for shape mismatches.
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise InputError(f"label maps must be [batch, height, width], got shape {labels.shape}")
    labels = check_labels(labels, label_nc, "label map")
    batch = {"labels": (labels[..., None] == np.arange(label_nc, dtype=np.uint8)).astype(np.float32)}
    if images is not None:
        images = np.asarray(images)
        if images.shape != (*labels.shape, 3) or images.dtype != np.uint8:
            raise InputError(
                f"images {images.shape} {images.dtype} do not match label maps {labels.shape}: "
                "need uint8 [batch, height, width, 3] of the same size"
            )
        batch["image"] = uint8_to_unit(images)
    return batch


def _records(source: Sequence[dict[str, np.ndarray]], indices: np.ndarray) -> list[dict[str, np.ndarray]]:
    getitems = getattr(source, "__getitems__", None)  # array_record sources read a batch in one call
    return list(getitems(indices.tolist())) if getitems else [source[int(i)] for i in indices]


def batches(source: Sequence[dict[str, np.ndarray]], batch_size: int, seed: int, label_nc: int) -> Iterator[Batch]:
    """Endless shuffled batches (`to_batch` format) from a source of {"label", "image"} records."""
    n = len(source)
    if n == 0 or batch_size < 1:
        raise InputError(f"cannot batch: {n} examples, batch_size {batch_size}")
    queue, epoch = np.empty(0, np.int64), 0
    while True:
        while len(queue) < batch_size:
            queue = np.concatenate([queue, np.random.default_rng([seed, epoch]).permutation(n)])
            epoch += 1
        indices, queue = queue[:batch_size], queue[batch_size:]
        records = _records(source, indices)
        yield to_batch(np.stack([r["label"] for r in records]), np.stack([r["image"] for r in records]), label_nc)


def _read_bytes(path: str | os.PathLike, what: str) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {what} {path}: {err}") from None


def load_pair(
    label_path: str | os.PathLike, label_nc: int, image_path: str | os.PathLike | None = None
) -> tuple[UInt8[np.ndarray, "h w"], UInt8[np.ndarray, "h w 3"] | None]:
    """Reads a user's label map PNG (L values or P palette indices) and an optional RGB image of the same size.

    Raises InputError naming the file for a missing/corrupt file, a label >= label_nc or a size mismatch.
    """
    labels = decode_label(_read_bytes(label_path, "label map"), str(label_path), label_nc)
    if image_path is None:
        return labels, None
    image = decode_image(_read_bytes(image_path, "image"), str(image_path))
    if image.shape[:2] != labels.shape:
        raise InputError(
            f"{image_path}: image is {image.shape[0]}x{image.shape[1]} but label map {label_path} is "
            f"{labels.shape[0]}x{labels.shape[1]}; they must have the same size"
        )
    return labels, image
