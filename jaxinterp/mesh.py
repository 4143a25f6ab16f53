"""Device meshes for running independent models side by side (one program, sharded).

Training several single-image models at once stacks their states on a leading `models` axis, `vmap`s
the step over it and shards that axis over a 1-D mesh. The mesh uses the largest number of devices that
divides the number of models, so every device holds the same number of models. On one CPU this is a
1-device mesh; test several devices with XLA_FLAGS=--xla_force_host_platform_device_count=4.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MODELS_AXIS = "models"


def models_mesh(num_models: int, devices: list | None = None) -> Mesh:
    """A 1-D mesh over as many devices as evenly divide `num_models`."""
    devices = list(devices if devices is not None else jax.devices())
    size = max(d for d in range(1, min(len(devices), num_models) + 1) if num_models % d == 0)
    return Mesh(np.array(devices[:size]), (MODELS_AXIS,))


def models_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding that splits the leading (models) axis over the mesh."""
    return NamedSharding(mesh, PartitionSpec(MODELS_AXIS))


def shard_models(tree: Any, mesh: Mesh) -> Any:
    """Places every leaf (leading axis = models) split over the mesh."""
    return jax.device_put(tree, models_sharding(mesh))
