"""Inference time of ASAPNet and the SPADE baseline at paper-default widths, on whatever device JAX uses.

`jaxinterp asapnet bench` runs this for a quick look on one machine. `bench/asapnet.py` is the full
benchmark (quiet-machine checks, time budgets, memory, the official PyTorch release side by side).
Protocol as the official `test.py`: one untimed call (here it also compiles), then `repeats` timed calls,
each waited for (`block_until_ready`), ASAPNet with its CPU inference kernels (`prepare_inference`);
random one-hot label maps with one class per 16 x 16 block.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np

from jaxinterp.gen.asapnet.generator import make_generator, prepare_inference


def random_labels(height: int, width: int, label_nc: int, seed: int = 0) -> np.ndarray:
    """f32 [1, h, w, label_nc] one-hot, one random class per 16 x 16 block."""
    blocks = np.random.default_rng(seed).integers(0, label_nc, (-(-height // 16), -(-width // 16)))
    ids = np.kron(blocks, np.ones((16, 16), np.int64))[:height, :width]
    return np.eye(label_nc, dtype=np.float32)[ids][None]


def time_generator(kind: str, height: int, width: int, label_nc: int, repeats: int) -> dict:
    """{"ms": mean ms per image over `repeats` timed calls, "first_s": the first call incl. compilation}."""
    module = make_generator(kind, label_nc, height, width)
    labels = jax.device_put(random_labels(height, width, label_nc))
    variables = prepare_inference(jax.jit(module.init)(jax.random.key(0), labels))
    apply = jax.jit(module.apply)
    start = time.perf_counter()
    jax.block_until_ready(apply(variables, labels))
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(apply(variables, labels))
        times.append(time.perf_counter() - start)
    return {"ms": 1e3 * float(np.mean(times)), "first_s": first}


def speed_table(sizes: list[tuple[int, int]], label_nc: int, repeats: int, out: str | None = None) -> str:
    """Times both generators at every size; returns a markdown table (and writes JSON to `out`)."""
    rows = []
    for height, width in sizes:
        row = {"size": f"{height}x{width}"}
        for kind in ("asapnet", "spade"):
            row[kind] = time_generator(kind, height, width, label_nc, repeats)
        rows.append(row)
    device = jax.devices()[0].device_kind
    if out:
        Path(out).write_text(json.dumps({"device": device, "label_nc": label_nc, "rows": rows}, indent=2))
    lines = [f"device: {device}", "| size | ASAPNet ms | SPADE ms | SPADE / ASAPNet |", "|---|---:|---:|---:|"]
    for r in rows:
        a, s = r["asapnet"]["ms"], r["spade"]["ms"]
        lines.append(f"| {r['size']} | {a:.1f} | {s:.1f} | {s / a:.1f}x |")
    return "\n".join(lines)
