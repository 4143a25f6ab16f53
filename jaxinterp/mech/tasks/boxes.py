"""`boxes`: entity tracking, the word-level simplification of Kim & Schuster (ACL 2023) used by Prakash et al.
(ICLR 2024, "Fine-Tuning Enhances Existing Mechanisms").

Prompt (3 boxes; the paper uses 7):

    <bos> the apple is in box B , the pen is in box F , the cup is in box A . box F contains the  -> pen

One segment `the {object} is in box {label}` per box (7 words with its `,` or the final `.`), then the
query `box {label} contains the`; no state-changing operations, the query last (so the model cannot
string-match the answer). Objects are distinct nouns from `OBJECTS`, labels distinct upper-case letters;
the queried box is uniform over the boxes. Prompt length: 1 + 7 * num_boxes + 4.

Patching pairs keep the context and change only the query label to another box's label (position
last - 2, the paper's "query label" token); the corrupted answer is that box's object.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import numpy as np

from jaxinterp.mech.tasks.base import BOS, SPECIAL_TOKENS, Examples, PatchingPairs, encode, rng

# Common concrete nouns (single words), in the spirit of the paper's objects.csv.
OBJECTS = (
    "apple", "bag", "ball", "bell", "book", "bottle", "bowl", "brush", "camera", "chair",
    "card", "coin", "cup", "dish", "document", "drum", "fan", "flower", "glass", "hat",
    "key", "lamp", "letter", "map", "pen", "phone", "plate", "ring", "shoe", "watch",
)  # fmt: skip
LABELS = tuple(string.ascii_uppercase)
CONTEXT_WORDS = ("the", "is", "in", "box", ",", ".", "contains")


@dataclasses.dataclass(frozen=True)
class BoxesTask:
    """Entity tracking over `num_boxes` boxes (see the module docstring).

    Attributes:
      num_boxes: boxes per prompt (Prakash et al.: 7; 3 is enough for the small in-repo models).
    """

    num_boxes: int = 3
    name: str = "boxes"

    def __post_init__(self):
        if not 2 <= self.num_boxes <= min(len(OBJECTS), len(LABELS)):
            raise ValueError(f"boxes: num_boxes must be in 2..{min(len(OBJECTS), len(LABELS))}, got {self.num_boxes}")

    def vocabulary(self) -> list[str]:
        return [*SPECIAL_TOKENS, *CONTEXT_WORDS, *LABELS, *OBJECTS]

    def settings(self) -> dict[str, Any]:
        return {"num_boxes": self.num_boxes}

    def _draw(self, gen: np.random.Generator) -> tuple[list[str], list[str], int]:
        objects = [OBJECTS[i] for i in gen.choice(len(OBJECTS), self.num_boxes, replace=False)]
        labels = [LABELS[i] for i in gen.choice(len(LABELS), self.num_boxes, replace=False)]
        return objects, labels, int(gen.integers(self.num_boxes))

    def _prompt(self, objects: list[str], labels: list[str], query: int) -> list[str]:
        words = [BOS]
        for i, (obj, label) in enumerate(zip(objects, labels, strict=True)):
            words += ["the", obj, "is", "in", "box", label, "," if i < self.num_boxes - 1 else "."]
        return words + ["box", labels[query], "contains", "the"]

    def sample(self, seed: int, n: int) -> Examples:
        gen, prompts, answers = rng(seed), [], []
        for _ in range(n):
            objects, labels, query = self._draw(gen)
            prompts.append(self._prompt(objects, labels, query))
            answers.append([objects[query]])
        vocab = self.vocabulary()
        return Examples(encode(vocab, prompts), encode(vocab, answers)[:, 0])

    def patching_pairs(self, seed: int, n: int) -> PatchingPairs:
        gen, clean, corrupted, correct, wrong = rng(seed), [], [], [], []
        for _ in range(n):
            objects, labels, query = self._draw(gen)
            other = (query + 1 + int(gen.integers(self.num_boxes - 1))) % self.num_boxes
            clean.append(self._prompt(objects, labels, query))
            corrupted.append(self._prompt(objects, labels, other))
            correct.append([objects[query]])
            wrong.append([objects[other]])
        vocab = self.vocabulary()
        return PatchingPairs(
            encode(vocab, clean), encode(vocab, corrupted), encode(vocab, correct)[:, 0], encode(vocab, wrong)[:, 0]
        )
