"""An offline unit describer that needs no model: NetDissect-style IoU against exact concept masks, with OR / AND.

The embedded default and the baseline row of the MAIA benchmark. NetDissect (Bau et al. 2017) labels a unit with
the concept whose segmentation best overlaps the unit's thresholded, upsampled activation maps (IoU over the
dataset); Compositional Explanations (Mu & Andreas 2020) extend the search to logical formulas. Here the
candidates are the MAIA synthetic-neuron forms over the procedural vocabulary:

    single   A          IoU(M, A)
    OR       A or B     IoU(M, A u B)
    AND      A | B      IoU(M, A restricted to images that contain B)

where M is the unit's firing region over the whole dataset. Every IoU comes from per-image pixel counts and two
matrix products, so all 27 + 27*26/2 + 27*26 candidates are scored at once. A compound wins only when it beats the
best single concept by `margin`, so simpler labels are preferred (Occam).

Decisions (not from a paper): M thresholds each upsampled map at halfway between the dataset's median activation
and the mean of the top-15 exemplar activations (MAIA's `activation_threshold` is that mean), not NetDissect's
0.995 quantile: the quantile keeps only the strongest 0.5% of pixels, i.e. the largest instances of one concept,
and so cannot see the second concept of an OR neuron. IoU is computed at 32 x 32 (masks block-averaged, maps
resized bilinearly), NetDissect's practice of comparing at a common resolution.
"""

from __future__ import annotations

import dataclasses
import re

import jax
import numpy as np
from jaxtyping import Bool, Float

from jaxinterp.agent.maia import render

TOP_K = 15  # MAIA's number of dataset exemplars
RESOLUTION = 32
MARGIN = 0.05
INTERPRETABLE_IOU = 0.04  # NetDissect: a unit is "interpretable" when its best concept's IoU exceeds 0.04


@dataclasses.dataclass(frozen=True)
class Description:
    """The describer's answer.

    Attributes:
        label: Canonical label: "A", "A or B" or "A when B is present" (concept names), or "none".
        description: One paragraph with the evidence (IoUs, exemplar statistics).
        iou: IoU of the chosen label.
        runner_up: The next best candidate label and its IoU.
    """

    label: str
    description: str
    iou: float
    runner_up: tuple[str, float]


def _resize_masks(masks: Bool[np.ndarray, "n s s"], r: int) -> Bool[np.ndarray, "n r r"]:
    n, s, _ = masks.shape
    if s == r:
        return masks
    f = s // r
    return masks[:, : f * r, : f * r].reshape(n, r, f, r, f).mean(axis=(2, 4)) >= 0.5


def _resize_maps(maps: Float[np.ndarray, "n h w"], r: int) -> Float[np.ndarray, "n r r"]:
    if maps.shape[1:] == (r, r):
        return maps
    return np.asarray(jax.image.resize(maps, (maps.shape[0], r, r), "bilinear"))


def firing_threshold(maps: Float[np.ndarray, "n h w"], top_k: int = TOP_K) -> float:
    """Halfway between the median image activation and the mean of the top-k (module docstring)."""
    acts = maps.reshape(len(maps), -1).max(axis=1)
    top = np.sort(acts)[-top_k:].mean()
    return float((np.median(acts) + top) / 2)


class ConceptIndex:
    """Concept masks of a dataset at the comparison resolution, with the unit-independent counts precomputed.

    Build it once per dataset and describe many units against it.
    """

    def __init__(self, masks: dict[str, Bool[np.ndarray, "n s s"]], resolution: int = RESOLUTION):
        self.names = list(render.CONCEPTS)
        self.resolution = r = min(resolution, next(iter(masks.values())).shape[-1])
        self.concepts = np.stack(
            [_resize_masks(np.asarray(masks[c]), r).reshape(len(masks[c]), -1) for c in self.names]
        )
        self.per_image_size = self.concepts.sum(-1).astype(np.float32)  # [k, n]
        self.present = (self.per_image_size > 0).astype(np.float32)
        self.size = self.per_image_size.sum(1)
        k = len(self.names)
        self.both = np.zeros((k, k), np.float32)  # |A n B|
        for start in range(0, self.concepts.shape[1], 256):  # in chunks: all flat masks at once are large
            flat = self.concepts[:, start : start + 256].reshape(k, -1).astype(np.float32)
            self.both += flat @ flat.T
        self.masks = masks

    def __len__(self) -> int:
        return self.concepts.shape[1]


def candidate_ious(maps: Float[np.ndarray, "n h w"], index: ConceptIndex, threshold: float) -> dict[str, float]:
    """IoU of the unit's firing region with every single, OR and AND candidate (labels as in `Description`)."""
    fire = (_resize_maps(np.asarray(maps, np.float32), index.resolution) >= threshold).reshape(len(maps), -1)
    names, k = index.names, len(index.names)
    m_count = float(fire.sum())
    per_image_inter = (index.concepts & fire[None]).sum(-1).astype(np.float32)  # [k, n]
    inter = per_image_inter.sum(1)
    rows = np.flatnonzero(fire.any(1))  # only images where the unit fires add to |M n A n B|
    flat = index.concepts[:, rows].reshape(k, -1).astype(np.float32)
    both_fire = (flat * fire[rows].reshape(1, -1)) @ flat.T

    def iou(i: np.ndarray, e: np.ndarray) -> np.ndarray:
        return i / np.maximum(m_count + e - i, 1.0)

    size, both = index.size, index.both
    single = iou(inter, size)
    or_iou = iou(inter[:, None] + inter[None, :] - both_fire, size[:, None] + size[None, :] - both)
    and_iou = iou(per_image_inter @ index.present.T, index.per_image_size @ index.present.T)  # A where B present
    out = {}
    for a in range(k):
        out[names[a]] = float(single[a])
        for b in range(k):
            if a == b:
                continue
            if a < b:
                out[f"{names[a]} or {names[b]}"] = float(or_iou[a, b])
            out[f"{names[a]} when {names[b]} is present"] = float(and_iou[a, b])
    return out


def describe(
    maps: Float[np.ndarray, "n h w"],
    index: ConceptIndex,
    margin: float = MARGIN,
    top_k: int = TOP_K,
) -> Description:
    """Label a unit from its activation maps over a dataset and the dataset's exact concept masks.

    Args:
        maps: Activation maps of the unit, one per dataset image (any resolution; resized to 32 x 32).
        index: `ConceptIndex` of the same images' exact concept masks.
        margin: How much a compound label must beat the best single concept by.
        top_k: Exemplars the threshold and the exemplar statistics use.
    """
    maps = np.asarray(maps, np.float32)
    acts = maps.reshape(len(maps), -1).max(axis=1)
    threshold = firing_threshold(maps, top_k)
    if acts.max() - np.median(acts) <= 1e-6:
        return Description("none", "The unit's activation is the same on every image.", 0.0, ("none", 0.0))
    ious = candidate_ious(maps, index, threshold)
    ranked = sorted(ious.items(), key=lambda kv: -kv[1])
    best_single = max((kv for kv in ranked if " " not in kv[0]), key=lambda kv: kv[1])
    best = ranked[0] if ranked[0][1] > best_single[1] + margin else best_single
    runner = next(kv for kv in ranked if kv[0] != best[0])
    top = np.argsort(-acts)[:top_k]
    present = {c: int(index.masks[c][top].any(axis=(1, 2)).sum()) for c in render.CONCEPTS}
    common = sorted(present.items(), key=lambda kv: -kv[1])[:3]
    text = (
        f"The unit responds to {best[0]}: its firing region (activation >= {threshold:.2f}) overlaps the "
        f"{best[0]} regions with IoU {best[1]:.2f} over {len(maps)} images (best single concept: "
        f"{best_single[0]}, IoU {best_single[1]:.2f}; runner-up: {runner[0]}, IoU {runner[1]:.2f}). Its top {len(top)} "
        f"exemplars contain " + ", ".join(f"{c} ({n}/{len(top)})" for c, n in common) + "."
    )
    if best[1] < INTERPRETABLE_IOU:
        text += f" The match is weak (IoU below NetDissect's {INTERPRETABLE_IOU} cut): no concept explains the unit."
    return Description(best[0], text, best[1], runner)


# ---------------------------------------------------------------------------------------------- labels
_AND_WORDS = re.compile(r"\b(when|whenever|if|only|with|given|provided|while|in the presence of)\b")


def parse_label(text: str) -> tuple[str, tuple[str, ...]]:
    """(mode, concepts) a label names, read word by word: one concept is mono; two joined by a conditional word
    ("when", "if", "only", "with", ...) between them are AND (the first fires, the second conditions); two
    otherwise are OR. No concept: ("none", ())."""
    found: list[tuple[int, str]] = []
    for m in re.finditer(r"[a-z]+", text.lower()):
        concept = render._concept_of(m.group())
        if concept and concept != "plain" and concept in render.CONCEPTS and concept not in [c for _, c in found]:
            found.append((m.start(), concept))
    if not found:
        return "none", ()
    if len(found) == 1:
        return "mono", (found[0][1],)
    (ia, a), (ib, b) = found[:2]
    between = text.lower()[ia:ib]
    return ("and" if _AND_WORDS.search(between) else "or"), (a, b)


def label_matches(label: str, mode: str, concepts: tuple[str, ...]) -> bool:
    """Whether a label names exactly the neuron's structure: same mode and concepts (OR in any order)."""
    got_mode, got = parse_label(label)
    if got_mode != mode:
        return False
    return set(got) == set(concepts) if mode == "or" else got == tuple(concepts)
