"""MAIA's `System`: one unit of a vision model (or a synthetic neuron) that the agent can run on images.

MAIA's `System.call_neuron(image_list)` returns, per image, the unit's activation and a "masked image": the input
with the region where the unit fires kept and the rest darkened. Definitions, as in MAIA's code (§1.2 of our
notes) and NetDissect:

- unit activation = the **spatial maximum** of the unit's channel map (ViT tokens: CLS dropped, the patch tokens
  laid on their grid); for `layer="last"` the unit is a class and its activation the class **probability**;
- threshold = NetDissect's **0.995 quantile** of the unit's map values over the exemplar pool (decision: taken at
  the layer's own resolution, before upsampling, which bilinear upsampling leaves nearly unchanged);
- masked image = the map upsampled bilinearly to the image, pixels >= threshold kept, the rest at 25% brightness
  (MAIA's `outside_bright=0.25`). Synthetic neurons use their exact firing region instead (MAIA masks them with
  the detector's segmentation), i.e. threshold = `neurons.FIRE_BASE`.

A list element may itself be a list of images (several samples of one prompt): as in MAIA, its activation is the
maximum over them and its masked image the one of the most active sample.

Synthetic neurons need each image's concept masks, so they only see images whose scene is known: those
`text2image` / `edit_images` rendered or `dataset_exemplars` returned in this session (`ImageStore`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Float, UInt8

from jaxinterp.agent.maia import render
from jaxinterp.agent.maia.neurons import FIRE_BASE, SyntheticNeuron
from jaxinterp.agent.maia.pretrained import FlaxSubject
from jaxinterp.agent.maia.subject import Subject
from jaxinterp.errors import InputError

QUANTILE = 0.995  # NetDissect's top 0.5%
OUTSIDE_BRIGHTNESS = 0.25  # MAIA's ImageVisualizer(outside_bright=0.25)

Image = UInt8[np.ndarray, "s s 3"]


def image_key(image: Image) -> str:
    """Content hash of an image array (shape and bytes)."""
    image = np.ascontiguousarray(image, np.uint8)
    return hashlib.sha256(repr(image.shape).encode() + image.tobytes()).hexdigest()


class ImageStore:
    """The renderings behind images seen in a session, by content hash (scenes, concept maps)."""

    def __init__(self):
        self._items: dict[str, render.Rendering] = {}
        self._highlights: dict[str, tuple[render.Rendering, np.ndarray]] = {}

    def add(self, rendering: render.Rendering) -> Image:
        self._items[image_key(rendering.image)] = rendering
        return rendering.image

    def get(self, image: Image) -> render.Rendering | None:
        return self._items.get(image_key(image))

    def add_highlight(self, masked: Image, original: Image, keep: np.ndarray) -> None:
        """Remembers a masked image's original and kept region (for the offline describer and editor)."""
        rendering = self.get(original)
        if rendering is not None:
            self._highlights[image_key(masked)] = (rendering, keep)

    def highlight(self, image: Image) -> tuple[render.Rendering, np.ndarray] | None:
        """(rendering, kept region) of a masked image, or of a known plain image (all kept); None if unknown."""
        found = self._highlights.get(image_key(image))
        if found is None and (rendering := self.get(image)) is not None:
            found = (rendering, np.ones(image.shape[:2], bool))
        return found

    def __len__(self) -> int:
        return len(self._items)


class Unit(Protocol):
    """Something with activation maps: `maps(images) -> [b, h, w]` and a `threshold` rule."""

    layer: str
    index: int

    def maps(self, images: UInt8[np.ndarray, "b s s 3"]) -> Float[np.ndarray, "b h w"]: ...


class ModelUnit:
    """Channel `index` of `layer` in a subject model, or class `index` when `layer == "last"`."""

    def __init__(self, subject: Subject | FlaxSubject, layer: str, index: int):
        layers = (*subject.cfg.layers, "last")
        if layer not in layers:
            raise InputError(
                f"layer {layer!r} not in the {subject.cfg.kind} subject; choose one of: {', '.join(layers)}"
            )
        width = _layer_width(subject, layer)
        if not 0 <= index < width:
            raise InputError(f"unit {index} out of range for layer {layer} ({width} units: 0..{width - 1})")
        self.subject, self.layer, self.index = subject, layer, index

    def maps(self, images: UInt8[np.ndarray, "b s s 3"]) -> Float[np.ndarray, "b h w"]:
        logits, acts = self.subject.apply(np.asarray(images))
        if self.layer == "last":
            return np.asarray(jax.nn.softmax(logits, -1)[:, self.index])[:, None, None]
        return np.asarray(layer_grid(acts[self.layer], self.subject.cfg.kind)[..., self.index])


def _layer_width(subject, layer: str) -> int:
    """Units in `layer` (classes for "last"), from one forward pass on a blank image (works for any subject)."""
    logits, acts = subject.apply(np.zeros((1, subject.cfg.size, subject.cfg.size, 3), np.uint8))
    return int(logits.shape[-1] if layer == "last" else acts[layer].shape[-1])


def layer_grid(acts: Float[jax.Array, "b ..."], kind: str) -> Float[jax.Array, "b h w c"]:
    """A layer's activations as a spatial grid: CNN maps as they are; ViT tokens without CLS on a square grid."""
    if kind == "cnn":
        return acts
    tokens = acts[:, 1:]
    side = int(round(np.sqrt(tokens.shape[1])))
    return tokens.reshape(tokens.shape[0], side, side, tokens.shape[-1])


class SyntheticUnit:
    """A synthetic neuron over images whose scenes the store knows (module docstring)."""

    layer = "synthetic"

    def __init__(self, neuron: SyntheticNeuron, store: ImageStore, index: int = 0):
        self.neuron, self.store, self.index = neuron, store, index

    def maps(self, images: UInt8[np.ndarray, "b s s 3"]) -> Float[np.ndarray, "b h w"]:
        out = []
        for image in images:
            found = self.store.highlight(image)  # a masked image counts as its original (the detector sees it)
            if found is None:
                raise InputError(
                    "synthetic neurons only see images rendered in this session (text2image, edit_images, "
                    "dataset_exemplars); this image is unknown (edited outside the tools?)"
                )
            key = int(image_key(found[0].image)[:8], 16)
            out.append(self.neuron.activation_maps(render.concept_masks(found[0]), np.array(key)))
        return np.stack(out)


def netdissect_threshold(maps: Float[np.ndarray, "n h w"], quantile: float = QUANTILE) -> float:
    """The unit's activation quantile over all map values of the pool (NetDissect's T_k)."""
    return float(np.quantile(np.asarray(maps, np.float32), quantile))


def firing_region(unit_map: Float[np.ndarray, "h w"], shape: tuple[int, int], threshold: float) -> np.ndarray:
    """Where the map, upsampled bilinearly to `shape`, reaches `threshold`: bool [shape]."""
    up = np.asarray(jax.image.resize(jnp.asarray(unit_map, jnp.float32), shape, "bilinear"))
    return up >= threshold


def masked_image(image: Image, keep: np.ndarray) -> Image:
    """The image with pixels outside `keep` darkened to 25% brightness."""
    return np.where(keep[..., None], image, np.round(image * OUTSIDE_BRIGHTNESS)).astype(np.uint8)


class System:
    """A unit of a vision model that you can run on images.

    Attributes:
        neuron_num (int): The unit's index within its layer.
        layer (str): The layer it belongs to ("conv1".."conv3" / "block1".., "last" for a class output, or
            "synthetic" for a synthetic neuron).
        threshold (float): Activation above which the unit counts as firing (shown unmasked in masked images).
    """

    def __init__(self, unit: Unit, threshold: float, store: ImageStore | None = None):
        self.unit = unit
        self.neuron_num = unit.index
        self.layer = unit.layer
        self.threshold = threshold
        self.store = store

    def call_neuron(self, image_list: list) -> tuple[list[float], list]:
        """Returns the unit's activation on each image, and each image with the region that drives the unit
        highlighted (the rest darkened).

        Args:
            image_list (list): Images (e.g. from `tools.text2image` or `tools.edit_images`). An element may be a
                list of images of one prompt; its activation is the maximum over them.

        Returns:
            activation_list (list[float]): The unit's activation on each image (the maximum of its activation map,
                rounded to 2 decimals).
            masked_images (list): Each image with the unit's firing region kept and the rest darkened.

        Example:
            >>> prompts = ["a red circle on grass", "a blue square on sand"]
            >>> images = tools.text2image(prompts)
            >>> activations, masked = system.call_neuron(images)
            >>> for a, p in zip(activations, prompts):
            >>>     print(f"{p}: {a}")
        """
        activations, masked = [], []
        for element in image_list:
            batch = list(element) if isinstance(element, list | tuple) else [element]
            if not batch:
                raise InputError("call_neuron got an empty list where an image or a list of images was expected")
            images = np.stack([_as_image(b) for b in batch])
            maps = self.unit.maps(images)
            acts = maps.reshape(len(maps), -1).max(axis=1)
            best = int(np.argmax(acts))
            activations.append(round(float(acts[best]), 2))
            masked.append(self.mask(images[best], maps[best]))
        return activations, masked

    def mask(self, image: Image, unit_map: Float[np.ndarray, "h w"]) -> Image:
        """The masked image (module docstring); remembered by the store, if any, with its original."""
        if self.layer == "last":
            return image  # a class probability has no spatial map
        keep = firing_region(unit_map, image.shape[:2], self.threshold)
        masked = masked_image(image, keep)
        if self.store is not None:
            self.store.add_highlight(masked, image, keep)
        return masked


def _as_image(value) -> Image:
    array = np.asarray(value)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise InputError(f"images must be uint8 HxWx3 arrays, got {array.dtype} {array.shape}")
    return array


def synthetic_system(neuron: SyntheticNeuron, store: ImageStore, index: int = 0) -> System:
    """A `System` around a synthetic neuron; its threshold is the neuron's firing level (exact region)."""
    return System(SyntheticUnit(neuron, store, index), FIRE_BASE, store)


def model_system(
    subject: Subject | FlaxSubject,
    layer: str,
    index: int,
    pool_images: Sequence[Image] | np.ndarray,
    store: ImageStore | None = None,
) -> System:
    """A `System` around a subject unit, thresholded by NetDissect's quantile over the pool's maps."""
    unit = ModelUnit(subject, layer, index)
    if layer == "last":
        return System(unit, 0.0, store)
    maps = pool_maps(unit, np.asarray(pool_images))
    return System(unit, netdissect_threshold(maps), store)


def pool_maps(unit: Unit, images: UInt8[np.ndarray, "n s s 3"], batch: int = 250) -> Float[np.ndarray, "n h w"]:
    """The unit's maps over many images, in batches."""
    return np.concatenate([unit.maps(images[i : i + batch]) for i in range(0, len(images), batch)])
