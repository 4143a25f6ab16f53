"""Machinery the speed benchmarks share (`bench/singan.py`, `bench/asapnet.py`): what the device and host are,
memory probes, waiting for a quiet machine and re-timing disturbed measurements, whether the official PyTorch
code can run, and writing the result JSON.

`bench/_header.py` has the fields every benchmark JSON starts with; the torch runners
(`bench/_torch_*official.py`) stay free of JAX, so the stdlib-only probes they share live in
`bench/_torch_official.py` and are re-exported here.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
from _torch_official import busy_cpu_seconds, peak_rss_mb

__all__ = [
    "Quiet",
    "add_official_device_args",
    "busy_cpu_seconds",
    "cpu_now",
    "device_info",
    "device_peak_bytes",
    "foreign_cores",
    "host_info",
    "load_note",
    "markdown_report",
    "official_status",
    "peak_rss_mb",
    "resolve_official_args",
    "versions",
    "write_json",
]


# ------------------------------------------------------------------------------------- device and host
def device_info() -> dict:
    dev = jax.devices()[0]
    info = {
        "platform": dev.platform,
        "device_kind": getattr(dev, "device_kind", ""),
        "str": str(dev),
        "count": jax.device_count(),
    }
    slug = dev.platform if dev.platform == "cpu" else f"{dev.platform}-{info['device_kind']}"
    info["slug"] = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")
    return info


def device_peak_bytes() -> int | None:
    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # noqa: BLE001  (CPU backends may not implement it)
        return None
    return int(stats["peak_bytes_in_use"]) if stats and "peak_bytes_in_use" in stats else None


def host_info() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def versions(*extra: str) -> dict:
    """Versions of jax, jaxlib, flax, the `extra` packages (by import name) and numpy, in that order."""
    import flax
    import jaxlib

    found = {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "flax": flax.__version__}
    found |= {name: importlib.import_module(name).__version__ for name in extra}
    return found | {"numpy": np.__version__}


# ------------------------------------------------------------------------------------ a shared machine
CpuReading = tuple[float | None, float]


def cpu_now() -> CpuReading:
    """(CPU seconds the whole machine has been busy, or None where unknown; this process's CPU seconds)."""
    return busy_cpu_seconds(), time.process_time()


def foreign_cores(before: CpuReading, after: CpuReading, seconds: float) -> float | None:
    """Cores other processes used on average between two `cpu_now()` readings `seconds` apart (None: unknown)."""
    (busy0, own0), (busy1, own1) = before, after
    if busy0 is None or busy1 is None:
        return None
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds


def load_note(load_before: tuple, load_after: tuple, cores: int, advice: str) -> str | None:
    """A warning for the report when the 1-min load average before or after the run exceeded the usable cores."""
    if max(load_before[0], load_after[0]) <= cores + 0.5:
        return None
    return (
        f"machine was busy (1-min load {load_before[0]:.1f} before, {load_after[0]:.1f} after, "
        f"{cores} cores): absolute times are inflated; {advice}"
    )


@dataclasses.dataclass
class Quiet:
    """This machine may be shared: wait for the other processes to go quiet before timing, and time
    again (keeping the least disturbed attempt) when they used more than `max_foreign` cores."""

    max_foreign: float = 0.25
    retries: int = 1
    max_wait_s: float = 30.0

    @staticmethod
    def add_args(p: argparse.ArgumentParser, max_foreign_help: str) -> None:
        """--max-foreign, --retries and --wait-quiet (see `from_args`)."""
        p.add_argument("--max-foreign", type=float, default=0.25, help=max_foreign_help)
        p.add_argument("--retries", type=int, default=1, help="extra attempts for a disturbed measurement")
        p.add_argument("--wait-quiet", type=float, default=30.0, help="seconds to wait for a quiet machine per attempt")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Quiet:
        return cls(args.max_foreign, args.retries, args.wait_quiet)

    def foreign_now(self, window_s: float = 1.0) -> float | None:
        before = cpu_now()
        time.sleep(window_s)
        return foreign_cores(before, cpu_now(), window_s)

    def wait(self) -> float:
        """Seconds waited (at most max_wait_s) until others use <= max_foreign cores."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < self.max_wait_s:
            foreign = self.foreign_now()
            if foreign is None or foreign <= self.max_foreign:
                break
        return time.perf_counter() - t0

    def best_of(
        self,
        measure: Callable[[], dict],
        row: Callable[[dict], dict] = lambda result: result,
        enough: Callable[[dict], bool] = lambda row: False,
    ) -> tuple[dict, list[dict]]:
        """Calls `measure()` after waiting for quiet, and again (at most `retries` times) while other processes
        used more than `max_foreign` cores and not `enough(row)`; stops at a result with an "error" key.

        `row(result)` is the part of a result that holds its "foreign_cores" and gets "waited_s" (and, in the
        one returned, "attempts"). Returns the least disturbed result (the failed one when none succeeded)
        and all that succeeded.
        """
        tries = []
        for _ in range(1 + self.retries):
            waited = self.wait()
            result = measure()
            if "error" in result:
                break
            row(result)["waited_s"] = waited
            tries.append(result)
            foreign = row(result).get("foreign_cores")
            if foreign is None or foreign <= self.max_foreign or enough(row(result)):
                break
        if not tries:
            return result, tries
        best = min(tries, key=lambda r: row(r).get("foreign_cores") or 0.0)
        row(best)["attempts"] = len(tries)
        return best, tries


# ---------------------------------------------------------------------------------- the official code
def add_official_device_args(p: argparse.ArgumentParser) -> None:
    """--official-device and --torch-threads (see `resolve_official_args`)."""
    p.add_argument(
        "--official-device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto: cuda when JAX runs on a GPU, else cpu",
    )
    p.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (default: usable cores)")


def resolve_official_args(args: argparse.Namespace, dev: dict, host: dict) -> None:
    """Fills in the defaults of `add_official_device_args`: the usable cores, and cuda when JAX runs on a GPU."""
    if args.torch_threads is None:
        args.torch_threads = host["cores_usable"]
    if args.official_device == "auto":
        args.official_device = "cpu" if dev["platform"] == "cpu" else "cuda"


def official_status(official_path: Path | None, marker: str) -> tuple[bool, str]:
    """(True, torch version) when `official_path` holds the file `marker` and torch imports; else (False, why)."""
    if official_path is None:
        return False, "no --official-path given: JAX only"
    if not (Path(official_path) / marker).is_file():
        return False, f"{official_path} has no {marker}: JAX only"
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import torch; print(torch.__version__)"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return False, "importing torch timed out: JAX only"
    if probe.returncode != 0:
        return False, "PyTorch is not installed: JAX only"
    return True, probe.stdout.strip()


# ------------------------------------------------------------------------------------------ the report
def result_header(benchmark: str, final: bool, scales: list, argv: list[str] | None, dev: dict, host: dict) -> dict:
    """The fields every per-scale training benchmark's JSON starts with (what ran, where, with what)."""
    return {
        "benchmark": benchmark,
        "complete": final,
        "scales_requested": scales,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "device": dev,
        "host": host,
        "versions": versions("optax"),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def project_training(iterations: int, jax_rows: list[dict], off_rows: list[dict]) -> dict:
    """Projected full training from per-scale timings: `iterations` x s/it summed over the timed scales
    (+ compile and setup time for JAX), and, where the official code was timed too, its total over the
    same scales, the total speed-up and each scale's speed-up (wall, and CPU time where both have it)."""
    jax_train = sum(iterations * r["s_per_iter"] for r in jax_rows)
    jax_compile = sum(r["compile_s"] + r["setup_s"] for r in jax_rows)
    projection = {
        "scales": [r["scale"] for r in jax_rows],
        "jax_train_s": jax_train,
        "jax_compile_s": jax_compile,
        "jax_total_s": jax_train + jax_compile,
    }
    official = {r["scale"]: r for r in off_rows}
    common = [r for r in jax_rows if r["scale"] in official]
    if not common:
        return projection
    off_total = sum(iterations * official[r["scale"]]["s_per_iter"] for r in common)
    jax_common = sum(iterations * r["s_per_iter"] + r["compile_s"] + r["setup_s"] for r in common)
    per_scale = []
    for r in common:
        o = official[r["scale"]]
        row = {
            "scale": r["scale"],
            "jax_s_per_iter": r["s_per_iter"],
            "official_s_per_iter": o["s_per_iter"],
            "speedup": o["s_per_iter"] / r["s_per_iter"],
        }
        if "cpu_s_per_iter" in o and "cpu_s_per_iter" in r:
            row["cpu_time_speedup"] = o["cpu_s_per_iter"] / r["cpu_s_per_iter"]
        per_scale.append(row)
    return projection | {
        "official_total_s": off_total,
        "speedup_total": off_total / jax_common if jax_common else None,
        "per_scale": per_scale,
    }


def markdown_report(table: list[str], notes: list[str], load_warning: str | None) -> str:
    """A markdown table's lines, then the notes as a list (the load warning, if any, last)."""
    notes = [*notes, load_warning] if load_warning else notes
    return "\n".join(table) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def write_json(folder: Path, name: str, result: dict) -> Path:
    """Writes `result` (indented) to `folder/name`, creating the folder; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
