"""`arithmetic`: variable binding, the word-level form of Davies et al. (2023, "Discovering Variable Binding
Circuitry with Desiderata"), whose prompt is `x = 57\\ny = 23\\nx + y = `.

Prompt: two assignments, then an expression over the two variables, in either order:

    <bos> x = 7 ; y = 3 ; y + x =  -> 10

Decisions (documented here because they differ from the paper):
  * `;` stands for the paper's line break: the word tokenizer splits on whitespace, which drops newlines.
  * Operands are 0..`max_operand` (default 9) instead of 10..99, so every result is one number word;
    ops `+` and `-` (the paper's training ops); differences are kept non-negative, so with the default
    every answer is in 0..18 and the number words are 0..2*max_operand.
  * Variable names are two distinct letters from `NAMES` (the paper always uses x and y), so the model has
    to bind a name to its value rather than read values at fixed positions only.
Prompt length: 1 + 4 + 4 + 4 = 13.

Patching pairs follow the paper's value-dependence desideratum: the corrupted prompt gives the first
variable another value (one token changes), chosen so the answer changes and stays in range.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxinterp.mech.tasks.base import BOS, SPECIAL_TOKENS, Examples, PatchingPairs, encode, rng

NAMES = ("a", "b", "c", "x", "y", "z")
OPS = ("+", "-")


@dataclasses.dataclass(frozen=True)
class ArithmeticTask:
    """`p op q =` over two bound variables (see the module docstring).

    Attributes:
      max_operand: largest variable value (results lie in 0..2*max_operand).
    """

    max_operand: int = 9
    name: str = "arithmetic"

    def __post_init__(self):
        if self.max_operand < 1:
            raise ValueError(f"arithmetic: max_operand must be >= 1, got {self.max_operand}")

    def vocabulary(self) -> list[str]:
        numbers = [str(i) for i in range(2 * self.max_operand + 1)]
        return [*SPECIAL_TOKENS, *NAMES, *OPS, "=", ";", *numbers]

    def settings(self) -> dict[str, Any]:
        return {"max_operand": self.max_operand}

    @staticmethod
    def _result(values: tuple[int, int], first_in_query: int, op: str) -> int | None:
        """The expression's value, or None if negative (`first_in_query` indexes the left operand)."""
        left, right = values[first_in_query], values[1 - first_in_query]
        result = left + right if op == "+" else left - right
        return result if result >= 0 else None

    def _draw(self, gen: np.random.Generator) -> tuple[tuple[str, str], tuple[int, int], int, str]:
        names = tuple(NAMES[i] for i in gen.choice(len(NAMES), 2, replace=False))
        op = OPS[int(gen.integers(len(OPS)))]
        first = int(gen.integers(2))
        values = tuple(int(v) for v in gen.integers(self.max_operand + 1, size=2))
        if op == "-" and self._result(values, first, op) is None:
            values = values[::-1]  # swap so the difference is non-negative
        return names, values, first, op

    @staticmethod
    def _prompt(names: tuple[str, str], values: tuple[int, int], first: int, op: str) -> list[str]:
        return [BOS, names[0], "=", str(values[0]), ";", names[1], "=", str(values[1]), ";"] + [
            names[first],
            op,
            names[1 - first],
            "=",
        ]

    def sample(self, seed: int, n: int) -> Examples:
        gen, prompts, answers = rng(seed), [], []
        for _ in range(n):
            names, values, first, op = self._draw(gen)
            prompts.append(self._prompt(names, values, first, op))
            answers.append([str(self._result(values, first, op))])
        vocab = self.vocabulary()
        return Examples(encode(vocab, prompts), encode(vocab, answers)[:, 0])

    def patching_pairs(self, seed: int, n: int) -> PatchingPairs:
        gen, clean, corrupted, correct, wrong = rng(seed), [], [], [], []
        while len(clean) < n:
            names, values, first, op = self._draw(gen)
            answer = self._result(values, first, op)
            options = [
                v
                for v in range(self.max_operand + 1)
                if v != values[0] and self._result((v, values[1]), first, op) not in (None, answer)
            ]
            if not options:  # e.g. 9 - 9: no other first value keeps the result non-negative; draw again
                continue
            changed = (options[int(gen.integers(len(options)))], values[1])
            clean.append(self._prompt(names, values, first, op))
            corrupted.append(self._prompt(names, changed, first, op))
            correct.append([str(answer)])
            wrong.append([str(self._result(changed, first, op))])
        vocab = self.vocabulary()
        return PatchingPairs(
            encode(vocab, clean), encode(vocab, corrupted), encode(vocab, correct)[:, 0], encode(vocab, wrong)[:, 0]
        )
