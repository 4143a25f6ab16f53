"""Registry of the synthetic tasks that small transformers are trained on in-repo (`jaxinterp mech train`).

`TASKS` maps a name to a task with its default settings; `get_task(name, **settings)` returns it, or a copy
with other settings (e.g. `get_task("boxes", num_boxes=7)`, the paper's size). See `base.py` for what a
task provides.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from jaxinterp.errors import InputError
from jaxinterp.mech.tasks.arithmetic import ArithmeticTask
from jaxinterp.mech.tasks.base import Examples, PatchingPairs, Task
from jaxinterp.mech.tasks.boxes import BoxesTask
from jaxinterp.mech.tasks.induction import InductionTask
from jaxinterp.mech.tasks.positional import PositionalTask
from jaxinterp.mech.tasks.shared_vocabulary import SharedVocabularyTask, shared_words

TASKS: dict[str, Task] = {
    task.name: task for task in (BoxesTask(), InductionTask(), ArithmeticTask(), PositionalTask())
}

__all__ = ["TASKS", "Examples", "PatchingPairs", "SharedVocabularyTask", "Task", "get_task", "shared_words"]


def get_task(name: str, **settings: Any) -> Task:
    """The registered task `name`, with `settings` (e.g. `num_boxes=7`) replacing its defaults.

    `vocabulary_from=[{"name": "boxes", ...settings}, {"name": "arithmetic"}, ...]` re-encodes the task in the
    vocabulary shared by those tasks (`shared_vocabulary.SharedVocabularyTask`).

    Raises:
      InputError: unknown name (the message lists the known ones) or a bad setting.
    """
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    sources = settings.pop("vocabulary_from", None)
    if sources:
        task = get_task(name, **settings)
        tasks = [get_task(**{"name": s["name"], **{k: v for k, v in s.items() if k != "name"}}) for s in sources]
        return SharedVocabularyTask(task, shared_words(tasks), tuple(sources))
    if not settings:
        return TASKS[name]
    try:
        return dataclasses.replace(TASKS[name], **settings)
    except (TypeError, ValueError) as err:
        raise InputError(f"bad settings for task {name!r}: {err}") from err
