"""Orbax checkpoint helpers shared by every trainer: whole-pytree saves that are atomic on disk.

Orbax writes into a temporary folder and renames it when the save is complete, so a process killed
mid-save leaves the previous checkpoint intact. Saves here are synchronous: a training loop that is
interrupted right after `save_tree` returns has its state on disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


def to_host(tree: Any) -> Any:
    """Copies every leaf to a numpy array (so saving never holds device buffers)."""
    return jax.tree_util.tree_map(np.asarray, tree)


def save_tree(path: str | Path, tree: Any) -> Path:
    """Saves a pytree to `path`, replacing an older checkpoint there."""
    path = Path(path).absolute()
    if path.exists():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(path, to_host(tree))
    checkpointer.wait_until_finished()
    return path


def load_tree(path: str | Path) -> Any:
    """Restores a pytree saved with `save_tree` as numpy arrays."""
    return to_host(ocp.StandardCheckpointer().restore(Path(path).absolute()))


class StepCheckpoints:
    """Numbered checkpoints of one loop (e.g. the iterations of one scale); keeps the newest two."""

    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=False),
        )

    def save(self, step: int, tree: Any) -> None:
        self._manager.save(step, args=ocp.args.StandardSave(to_host(tree)), force=True)
        self._manager.wait_until_finished()

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def restore(self, step: int, target: Any) -> Any:
        """Restores step `step` into the structure of `target` (NamedTuples such as optax states
        survive only when a target is given)."""
        abstract = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype), target)
        return to_host(self._manager.restore(step, args=ocp.args.StandardRestore(abstract)))

    def delete_all(self) -> None:
        self._manager.close()
        shutil.rmtree(self.directory, ignore_errors=True)
