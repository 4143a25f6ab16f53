"""Synthetic neurons with exact ground truth: MAIA's mono, OR and AND neurons over procedural scenes.

MAIA's synthetic neurons (Rott Shaham et al. 2024, §4.1) wrap a concept detector (Grounding DINO + SAM): a
**mono** neuron fires on one concept, an **OR** neuron on either of two (the maximum of the two detections, the
union of their masks), an **AND** neuron on concept A only when concept B is also in the image ("A|B", e.g.
cup_handle: the cup when a handle is present), and otherwise returns noise in U(0, 0.1). The paper has 47 mono,
18 OR and 20 AND neurons (85).

Here the detector is exact, because every image is rendered from a scene spec (`render.py`): a concept's mask
is known per pixel. A neuron maps an image's concept masks to an activation map at image resolution:

    inside the firing region:  0.6 + 0.4 * min(1, area / (0.1 * h * w))   (larger regions fire harder,
                                                                           like a detector's confidence)
    elsewhere:                 noise in [0, 0.1), fixed per image and neuron
    unit activation:           the map's spatial maximum (as for real units)

so the activation is >= 0.6 exactly when the concept (OR: either; AND: A with B present) is in the image.
For robustness studies a neuron can also imitate a detector's errors: with probability `miss` an image's region is
not detected, with probability `spurious` an image without it fires on all its things (one draw per image).
Decisions: 27 mono neurons (one per concept of the vocabulary: we have 27, not 47), 18 OR and 20 AND neurons (the
paper's counts), pairs drawn with a fixed seed; AND pairs join concepts of different groups (an object on a
background, a texture on a shape, ...), as the paper's (dog|leash, horse|grass).
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
from jaxtyping import Bool, Float

from jaxinterp.agent.maia import render
from jaxinterp.errors import InputError

MODES = ("mono", "or", "and")
NUM_OR, NUM_AND = 18, 20  # MAIA's synthetic neuron counts (paper §4.1)
FIRE_BASE, FIRE_GAIN, FULL_AREA = 0.6, 0.4, 0.1
NOISE = 0.1  # U(0, 0.1) when not firing, as MAIA's AND neurons


@dataclasses.dataclass(frozen=True)
class SyntheticNeuron:
    """A neuron selective for `concepts` (names from `render.CONCEPTS`) under `mode`.

    mono: (A,); or: (A, B), fires on either; and: (A, B), fires on A's region when B is in the image.
    """

    mode: str
    concepts: tuple[str, ...]
    miss: float = 0.0  # probability that an image's firing region goes undetected (a detector's miss)
    spurious: float = 0.0  # probability that an image without it fires on all its things (a false detection)

    def __post_init__(self):
        if not (0.0 <= self.miss < 1.0 and 0.0 <= self.spurious < 1.0):
            raise InputError(f"detector error rates must be in [0, 1), got miss={self.miss}, spurious={self.spurious}")
        if self.mode not in MODES:
            raise InputError(f"synthetic neuron mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        unknown = [c for c in self.concepts if c not in render.CONCEPTS]
        if unknown:
            raise InputError(f"unknown concept(s) {', '.join(unknown)}; choose from: {', '.join(render.CONCEPTS)}")
        if len(self.concepts) != (1 if self.mode == "mono" else 2) or len(set(self.concepts)) != len(self.concepts):
            raise InputError(f"a {self.mode} neuron needs {'one concept' if self.mode == 'mono' else 'two concepts'}")

    @property
    def name(self) -> str:
        """Identifier as in MAIA's label files: "red", "red_circle" (OR) or "boat|water" (AND)."""
        return "|".join(self.concepts) if self.mode == "and" else "_".join(self.concepts)

    @property
    def label(self) -> str:
        """The ground-truth label in words."""
        if self.mode == "mono":
            return self.concepts[0]
        if self.mode == "or":
            return f"{self.concepts[0]} or {self.concepts[1]}"
        return f"{self.concepts[0]} when {self.concepts[1]} is present"

    def region(self, masks: dict[str, Bool[np.ndarray, "*b h w"]]) -> Bool[np.ndarray, "*b h w"]:
        """Where the neuron fires, from exact concept masks of an image or a batch."""
        a = masks[self.concepts[0]]
        if self.mode == "mono":
            return a
        b = masks[self.concepts[1]]
        if self.mode == "or":
            return a | b
        return a & b.any(axis=(-2, -1), keepdims=True)

    def activation_maps(
        self, masks: dict[str, Bool[np.ndarray, "*b h w"]], noise_keys: np.ndarray | None = None
    ) -> Float[np.ndarray, "*b h w"]:
        """Activation map(s) (module docstring). `noise_keys`: one int per image seeding its noise (default 0)."""
        region = self.region(masks)
        h, w = region.shape[-2:]
        batch = region.shape[:-2]
        keys = np.zeros(batch, np.int64) if noise_keys is None else np.asarray(noise_keys).reshape(batch)
        salt = int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:2], "little")
        if self.miss or self.spurious:  # one draw per image decides a miss or a false detection
            draw = np.modf(np.abs(np.sin((keys.astype(np.float64) % 9973) * 91.345 + salt * 0.377)) * 24634.6345)[0]
            draw = draw[..., None, None]
            anything = np.any([masks[k] for k in render.KINDS], axis=0)
            present = region.any(axis=(-2, -1), keepdims=True)
            region = np.where(present & (draw < self.miss), False, region)
            region = np.where(~present & (draw > 1 - self.spurious), anything, region)
        area = region.sum(axis=(-2, -1), keepdims=True) / (FULL_AREA * h * w)
        strength = FIRE_BASE + FIRE_GAIN * np.minimum(area, 1.0)
        # A hash of (neuron, image key, pixel) in [0, 1): the same image always gets the same noise.
        pixel = np.arange(h * w, dtype=np.float64).reshape(h, w)
        phase = (keys[..., None, None].astype(np.float64) % 9973) * 12.9898 + salt * 0.731 + pixel * 78.233
        noise = NOISE * np.modf(np.abs(np.sin(phase)) * 43758.5453)[0]
        return np.where(region, strength, noise).astype(np.float32)


def parse_neuron(text: str) -> SyntheticNeuron:
    """A neuron from its name: "red" (mono), "red_circle" (OR), "boat|water" (AND)."""
    text = text.strip().lower()
    if "|" in text:
        return SyntheticNeuron("and", tuple(text.split("|")))
    if "_" in text:
        return SyntheticNeuron("or", tuple(text.split("_")))
    return SyntheticNeuron("mono", (text,))


def synthetic_neurons(seed: int = 0, miss: float = 0.0, spurious: float = 0.0) -> list[SyntheticNeuron]:
    """The benchmark: every concept as a mono neuron, then `NUM_OR` OR and `NUM_AND` AND neurons (fixed seed);
    `miss` / `spurious`: detector error rates of every neuron (0: exact)."""
    rng = np.random.default_rng(seed)
    out = [SyntheticNeuron("mono", (c,), miss, spurious) for c in render.CONCEPTS]
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < NUM_OR:
        a, b = sorted(rng.choice(render.CONCEPTS, 2, replace=False))
        pairs.add((str(a), str(b)))
    out += [SyntheticNeuron("or", p, miss, spurious) for p in sorted(pairs)]
    # AND: A is a thing attribute (where it fires), B anything of another group (the condition).
    things = [c for c in render.CONCEPTS if render.GROUP_OF[c] != "background"]
    pairs = set()
    while len(pairs) < NUM_AND:
        a, b = str(rng.choice(things)), str(rng.choice(render.CONCEPTS))
        if render.GROUP_OF[a] != render.GROUP_OF[b]:
            pairs.add((a, b))
    out += [SyntheticNeuron("and", p, miss, spurious) for p in sorted(pairs)]
    return out
