"""The variable-binding desiderata of Davies et al. (2023) on the `arithmetic` task.

  * value dependence: base b = the prompt with the first variable's value changed, source s = the prompt;
    patching the binding components from s into b must switch b's answer to s's. This is the task's
    `patching_pairs` read the other way round (base = corrupted, source = clean).
  * operation invariance: b and s share names, values and order, only the operation differs (`+` vs `-`);
    components that only carry variable values must NOT change b's answer when patched from s. Pairs whose
    two results coincide or where `-` would go negative are redrawn.

Each pair: base and source tokens [n, seq] and both answers [n] (token ids of the single answer word).
Works on `ArithmeticTask` and on it re-encoded in a shared vocabulary.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from jaxtyping import Int

from jaxinterp.mech.tasks.base import encode, rng


@dataclasses.dataclass(frozen=True)
class DesideratumPairs:
    base: Int[np.ndarray, "n seq"]
    source: Int[np.ndarray, "n seq"]
    base_answer: Int[np.ndarray, " n"]
    source_answer: Int[np.ndarray, " n"]


def value_pairs(task, seed: int, n: int) -> DesideratumPairs:
    pairs = task.patching_pairs(seed, n)
    return DesideratumPairs(pairs.corrupted, pairs.clean, pairs.wrong, pairs.correct)


def operation_pairs(task, seed: int, n: int) -> DesideratumPairs:
    gen, base, source, base_answer, source_answer = rng(seed), [], [], [], []
    while len(base) < n:
        names, values, first, op = task._draw(gen)
        other = "-" if op == "+" else "+"
        answers = [task._result(values, first, o) for o in (op, other)]
        if None in answers or answers[0] == answers[1]:
            continue
        base.append(task._prompt(names, values, first, op))
        source.append(task._prompt(names, values, first, other))
        base_answer.append([str(answers[0])])
        source_answer.append([str(answers[1])])
    vocab = task.vocabulary()
    return DesideratumPairs(
        encode(vocab, base), encode(vocab, source), encode(vocab, base_answer)[:, 0], encode(vocab, source_answer)[:, 0]
    )
