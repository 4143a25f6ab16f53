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

TASKS: dict[str, Task] = {task.name: task for task in (BoxesTask(), InductionTask(), ArithmeticTask())}

__all__ = ["TASKS", "Examples", "PatchingPairs", "Task", "get_task"]


def get_task(name: str, **settings: Any) -> Task:
    """The registered task `name`, with `settings` (e.g. `num_boxes=7`) replacing its defaults.

    Raises:
      InputError: unknown name (the message lists the known ones) or a bad setting.
    """
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    if not settings:
        return TASKS[name]
    try:
        return dataclasses.replace(TASKS[name], **settings)
    except (TypeError, ValueError) as err:
        raise InputError(f"bad settings for task {name!r}: {err}") from err
