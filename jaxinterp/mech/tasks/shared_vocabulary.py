"""A task re-encoded in a vocabulary shared with other tasks, so one model can be trained on one task and
fine-tuned on another (the entity-tracking study's base model and its fine-tuned variants).

`shared_words(tasks)`: the first task's words in its own order (its token ids do not change), then every
other task's new words in order. `SharedVocabularyTask(task, words)` samples exactly as `task` and maps the
token ids into `words`; its `settings()` records the tasks the vocabulary came from, so
`get_task(name, vocabulary_from=[...])` rebuilds it from a run's `task.json`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxinterp.mech.tasks.base import SPECIAL_TOKENS, Examples, PatchingPairs, Task


def shared_words(tasks: Sequence[Task]) -> tuple[str, ...]:
    words: list[str] = []
    seen: set[str] = set()
    for task in tasks:
        for word in task.vocabulary():
            if word not in seen:
                seen.add(word)
                words.append(word)
    assert tuple(words[: len(SPECIAL_TOKENS)]) == SPECIAL_TOKENS
    return tuple(words)


@dataclasses.dataclass(frozen=True)
class SharedVocabularyTask:
    """`task` with token ids in `words` (a superset of its vocabulary); `sources` name the tasks of `words`."""

    task: Task
    words: tuple[str, ...]
    sources: tuple[dict[str, Any], ...] = ()

    def __post_init__(self):
        missing = set(self.task.vocabulary()) - set(self.words)
        if missing:
            raise ValueError(f"shared vocabulary lacks words of {self.task.name}: {sorted(missing)[:5]}")

    @property
    def name(self) -> str:
        return self.task.name

    def vocabulary(self) -> list[str]:
        return list(self.words)

    def settings(self) -> dict[str, Any]:
        return {**self.task.settings(), "vocabulary_from": list(self.sources)}

    def _ids(self) -> np.ndarray:
        index = {w: i for i, w in enumerate(self.words)}
        return np.asarray([index[w] for w in self.task.vocabulary()], np.int32)

    def sample(self, seed: int, n: int) -> Examples:
        ids, ex = self._ids(), self.task.sample(seed, n)
        return Examples(ids[ex.tokens], ids[ex.answers])

    def patching_pairs(self, seed: int, n: int) -> PatchingPairs:
        ids, p = self._ids(), self.task.patching_pairs(seed, n)
        return PatchingPairs(ids[p.clean], ids[p.corrupted], ids[p.correct], ids[p.wrong])

    def _training_batch(self, seed: int, n: int):
        batch = self.task.training_batch(seed, n)
        ids = self._ids()
        return dataclasses.replace(batch, tokens=ids[batch.tokens], targets=ids[batch.targets])

    def __getattr__(self, item):  # task-specific fields (num_boxes, _prompt, ...) read through
        if item.startswith("__"):
            raise AttributeError(item)
        if item == "training_batch":  # only where the task has one, re-encoded (`base.TrainingBatch`)
            getattr(self.task, item)
            return self._training_batch
        return getattr(self.task, item)
