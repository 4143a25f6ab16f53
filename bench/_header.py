"""The fields every benchmark JSON starts with: what ran, when, with which command, on which device."""

from __future__ import annotations

import datetime
import platform
import sys
from pathlib import Path

import jax


def run_header(benchmark: str, argv: list[str] | None) -> dict:
    device = jax.devices()[0]
    return {
        "benchmark": benchmark,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "device": {
            "platform": device.platform,
            "kind": getattr(device, "device_kind", ""),
            "count": jax.device_count(),
        },
        "host": {"processor": platform.processor() or platform.machine(), "python": platform.python_version()},
    }
