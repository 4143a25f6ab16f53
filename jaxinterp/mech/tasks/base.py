"""What a synthetic task is: a word vocabulary, a prompt sampler and a sampler of patching pairs.

Every task is word level: a prompt is a list of words from `vocabulary()`, the token id of a word is its
index there, and the answer is the one word that follows the prompt. All prompts of a task have the same
length (`<bos>` first), so a batch is a plain int array and needs no padding. Samplers are pure functions
of `(seed, n)`: the same seed gives the same prompts on every machine (numpy's PCG64 through
`np.random.default_rng`).

Array axes (numpy, positional): `n` prompts, `seq` token positions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from jaxtyping import Float, Int

PAD, UNK, BOS = "<pad>", "<unk>", "<bos>"
SPECIAL_TOKENS = (PAD, UNK, BOS)  # ids 0, 1, 2 in every task's vocabulary


@dataclasses.dataclass(frozen=True)
class Examples:
    """Prompts and the word that follows each.

    Attributes:
      tokens: token ids [n, seq], each row starting with `<bos>`.
      answers: token id of the next word after each prompt [n].
    """

    tokens: Int[np.ndarray, "n seq"]
    answers: Int[np.ndarray, " n"]


@dataclasses.dataclass(frozen=True)
class PatchingPairs:
    """Clean and corrupted prompts for activation patching (corrupted differs minimally, answer changes).

    Attributes:
      clean: clean prompts [n, seq].
      corrupted: corrupted prompts [n, seq], same shape, a few positions changed.
      correct: the clean prompt's answer [n].
      wrong: the corrupted prompt's answer [n], never equal to `correct`.
    """

    clean: Int[np.ndarray, "n seq"]
    corrupted: Int[np.ndarray, "n seq"]
    correct: Int[np.ndarray, " n"]
    wrong: Int[np.ndarray, " n"]


@dataclasses.dataclass(frozen=True)
class TrainingBatch:
    """Training prompts with a target and a loss weight per position, for tasks whose training data is not
    just `sample` (optional `training_batch(seed, n)` of a task; see `jaxinterp.mech.train`).

    Rows are right-padded with `<pad>` to one length (weight 0 there; attention is causal, so padding after
    a prompt changes nothing before it).

    Attributes:
      tokens: input token ids [n, seq].
      targets: target token id at every position [n, seq] (usually the next token; a task may put an
        auxiliary target there instead).
      weights: loss weight of every position [n, seq] (0 = not trained).
      answer_index: position of each row's answer prediction [n] (the last prompt token), for metrics.
    """

    tokens: Int[np.ndarray, "n seq"]
    targets: Int[np.ndarray, "n seq"]
    weights: Float[np.ndarray, "n seq"]
    answer_index: Int[np.ndarray, " n"]


class Task(Protocol):
    """A synthetic next-word task (see the module docstring)."""

    name: str

    def vocabulary(self) -> list[str]:
        """All words, `SPECIAL_TOKENS` first; a word's token id is its index."""
        ...

    def sample(self, seed: int, n: int) -> Examples:
        """`n` prompts and answers, deterministic from `seed`."""
        ...

    def patching_pairs(self, seed: int, n: int) -> PatchingPairs:
        """`n` clean / corrupted prompt pairs with their two answers, deterministic from `seed`."""
        ...

    def settings(self) -> dict[str, Any]:
        """The task's configuration as JSON-ready values (written to a run's `task.json`)."""
        ...


def word_ids(vocabulary: Sequence[str]) -> dict[str, int]:
    """Word -> token id (its index in `vocabulary`)."""
    return {word: i for i, word in enumerate(vocabulary)}


def encode(vocabulary: Sequence[str], prompts: Sequence[Sequence[str]]) -> Int[np.ndarray, "n seq"]:
    """Word prompts of equal length -> token ids [n, seq] (int32); `ValueError` on an unknown word."""
    ids = word_ids(vocabulary)
    try:
        return np.asarray([[ids[w] for w in words] for words in prompts], dtype=np.int32).reshape(len(prompts), -1)
    except KeyError as err:
        raise ValueError(f"word {err.args[0]!r} is not in the task vocabulary") from err


def decode(vocabulary: Sequence[str], tokens: Int[np.ndarray, " seq"]) -> list[str]:
    """Token ids of one prompt -> its words."""
    return [vocabulary[int(t)] for t in tokens]


def rng(seed: int) -> np.random.Generator:
    """The numpy generator every task draws from (seeds must be non-negative ints)."""
    return np.random.default_rng(int(seed))
