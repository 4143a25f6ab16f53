"""`positional`: retrieve the k-th item of a list, the positional fine-tuning task of the entity-tracking study.

Prompt (3 items by default, objects from the `boxes` task):

    <bos> list : cup , pen , hat . item 2 is  -> pen

Prakash et al. (ICLR 2024) find that fine-tuning LLaMA on arithmetic (Goat, FLoat) improves entity tracking
through better handling of positional information. Our in-repo base model is fine-tuned on `arithmetic` and
on this task, which exercises "which position holds the answer" without boxes or labels. The item index is
a number word ("1".."n"), shared with `arithmetic`'s numbers when the vocabularies are merged
(`shared_vocabulary.SharedVocabularyTask`). Prompt length: 1 + 2 + 2 * items + 3.

Patching pairs change only the index (position last - 1); the corrupted answer is the other item.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxinterp.mech.tasks.base import BOS, SPECIAL_TOKENS, Examples, PatchingPairs, encode, rng
from jaxinterp.mech.tasks.boxes import OBJECTS

WORDS = ("list", ":", ",", ".", "item", "is")


@dataclasses.dataclass(frozen=True)
class PositionalTask:
    """The k-th of `items` objects (see the module docstring)."""

    items: int = 3
    name: str = "positional"

    def __post_init__(self):
        if not 2 <= self.items <= min(len(OBJECTS), 9):
            raise ValueError(f"positional: items must be in 2..9, got {self.items}")

    def vocabulary(self) -> list[str]:
        return [*SPECIAL_TOKENS, *WORDS, *(str(i) for i in range(1, self.items + 1)), *OBJECTS]

    def settings(self) -> dict[str, Any]:
        return {"items": self.items}

    def _draw(self, gen: np.random.Generator) -> tuple[list[str], int]:
        return [OBJECTS[i] for i in gen.choice(len(OBJECTS), self.items, replace=False)], int(gen.integers(self.items))

    def _prompt(self, objects: list[str], index: int) -> list[str]:
        words = [BOS, "list", ":"]
        for i, obj in enumerate(objects):
            words += [obj, "," if i < self.items - 1 else "."]
        return words + ["item", str(index + 1), "is"]

    def sample(self, seed: int, n: int) -> Examples:
        gen, prompts, answers = rng(seed), [], []
        for _ in range(n):
            objects, index = self._draw(gen)
            prompts.append(self._prompt(objects, index))
            answers.append([objects[index]])
        vocab = self.vocabulary()
        return Examples(encode(vocab, prompts), encode(vocab, answers)[:, 0])

    def patching_pairs(self, seed: int, n: int) -> PatchingPairs:
        gen, clean, corrupted, correct, wrong = rng(seed), [], [], [], []
        for _ in range(n):
            objects, index = self._draw(gen)
            other = (index + 1 + int(gen.integers(self.items - 1))) % self.items
            clean.append(self._prompt(objects, index))
            corrupted.append(self._prompt(objects, other))
            correct.append([objects[index]])
            wrong.append([objects[other]])
        vocab = self.vocabulary()
        return PatchingPairs(
            encode(vocab, clean), encode(vocab, corrupted), encode(vocab, correct)[:, 0], encode(vocab, wrong)[:, 0]
        )
