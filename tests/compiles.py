"""Counting XLA compilations through JAX's public monitoring events (a helper module, not a test module).

`chex.assert_max_traces` needs the Python function before it is jitted, which a test cannot reach for a
program the library compiles (a module-level `jax.jit`, a cached per-scale program). For those, tests
count the backend compilations that happen inside a block: a jitted step that is re-traced or
re-compiled shows up as a compile event, one served from its cache does not.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import jax

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
_active: list[list[str]] = []


def _listener(event: str, duration: float, **_) -> None:
    if event == _BACKEND_COMPILE:
        for record in _active:
            record.append(event)


jax.monitoring.register_event_duration_secs_listener(_listener)


@contextmanager
def count_compiles() -> Iterator[list[str]]:
    """Yields a list that grows by one entry per XLA compilation made inside the block."""
    record: list[str] = []
    _active.append(record)
    try:
        yield record
    finally:
        _active.remove(record)
