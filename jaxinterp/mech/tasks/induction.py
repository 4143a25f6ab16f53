"""`induction`: continue a repeated segment (the induction-head task of Olsson et al. 2022), word level.

Prompt: `<bos>`, then `length` distinct random symbols, then a copy of `repeat` consecutive symbols of it
starting at a random offset; the answer is the symbol that followed the last copied one the first time:

    <bos> q d x a m k r c b w j e  a m k  -> r      (length 12, repeat 3, offset 3)

Symbols are drawn without replacement, so every symbol occurs once in the first part and the answer is
unique; the random offset means the answer's position varies, so only looking back at the earlier
occurrence of the current token (induction) solves it, not a fixed position. Prompt length:
1 + length + repeat.

Patching pairs change one token: the answer's first occurrence (the symbol after the copied segment's
first occurrence) is replaced by a symbol absent from the prompt, which becomes the corrupted answer.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import numpy as np

from jaxinterp.mech.tasks.base import BOS, SPECIAL_TOKENS, Examples, PatchingPairs, encode, rng

SYMBOLS = tuple(string.ascii_lowercase)


@dataclasses.dataclass(frozen=True)
class InductionTask:
    """Induction on random symbol sequences (see the module docstring).

    Attributes:
      length: distinct symbols in the first part (at most 25, one symbol must stay unused for patching).
      repeat: symbols copied at the end (at least 1, less than `length`).
    """

    length: int = 12
    repeat: int = 3
    name: str = "induction"

    def __post_init__(self):
        if not (1 <= self.repeat < self.length < len(SYMBOLS)):
            raise ValueError(f"induction: need 1 <= repeat < length < {len(SYMBOLS)}, got {self.repeat}, {self.length}")

    def vocabulary(self) -> list[str]:
        return [*SPECIAL_TOKENS, *SYMBOLS]

    def settings(self) -> dict[str, Any]:
        return {"length": self.length, "repeat": self.repeat}

    def _draw(self, gen: np.random.Generator) -> tuple[list[str], int]:
        order = gen.permutation(len(SYMBOLS))
        symbols = [SYMBOLS[i] for i in order]  # the first `length` are used, the rest are spares
        return symbols, int(gen.integers(self.length - self.repeat))

    def _prompt(self, first: list[str], offset: int) -> list[str]:
        return [BOS, *first, *first[offset : offset + self.repeat]]

    def sample(self, seed: int, n: int) -> Examples:
        gen, prompts, answers = rng(seed), [], []
        for _ in range(n):
            symbols, offset = self._draw(gen)
            prompts.append(self._prompt(symbols[: self.length], offset))
            answers.append([symbols[offset + self.repeat]])
        vocab = self.vocabulary()
        return Examples(encode(vocab, prompts), encode(vocab, answers)[:, 0])

    def patching_pairs(self, seed: int, n: int) -> PatchingPairs:
        gen, clean, corrupted, correct, wrong = rng(seed), [], [], [], []
        for _ in range(n):
            symbols, offset = self._draw(gen)
            first = symbols[: self.length]
            changed = list(first)
            changed[offset + self.repeat] = symbols[self.length]  # a symbol not in the prompt
            clean.append(self._prompt(first, offset))
            corrupted.append(self._prompt(changed, offset))
            correct.append([first[offset + self.repeat]])
            wrong.append([changed[offset + self.repeat]])
        vocab = self.vocabulary()
        return PatchingPairs(
            encode(vocab, clean), encode(vocab, corrupted), encode(vocab, correct)[:, 0], encode(vocab, wrong)[:, 0]
        )
