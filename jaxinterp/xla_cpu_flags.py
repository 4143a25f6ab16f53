"""XLA CPU settings jaxinterp can apply before JAX starts (opt-in): YNNPACK reduction fusions off.

Why: since jaxlib 0.10, XLA's CPU backend hands reductions to YNNPACK fusions. For the reductions that
BatchNorm's derivatives produce, a sum over a long axis with the channels innermost (e.g. 63000 x 96
-> 96), those fusions run ~5x slower than XLA's own loops: one `sum(x), sum(g * x)` pair took 0.106 CPU
s against 0.021 without them. They were ~35% of the CPU time of a Catch-A-Waveform iteration at the
16 kHz scale; with them off the iteration took 21.4 instead of 26.4 CPU s (2 shared cores, JAX
0.10.2, same program, three runs each). Convolutions and matrix products are unaffected. Full CAW
training against the official code (`bench/caw.py`, idle 2-core machine, projected from all 13 scales):
1.39x with the flag, 1.06x without (`bench/results/caw-cpu*.md`).

How: `--xla_cpu_experimental_ynn_fusion_type=-reduce` is appended to `XLA_FLAGS`, which XLA reads when
its CPU client is created, so this must run before the first computation (jaxinterp's `__init__` calls
it). OPT-IN, with `JAXINTERP_XLA_DEFAULTS=1` (`bench/caw.py` sets it): with the flag on by default, three
full test runs each lost a worker inside XLA (two segfaults while (de)serialising executables, one abort
while compiling; all in the quickstart test's GAN training, none reproduced alone), and the flag is the
prime suspect though not proven; with it off, full runs passed (2026-12-05). It is skipped when:
  * `JAXINTERP_XLA_DEFAULTS` is not "1", or the user's `XLA_FLAGS` already names the flag (theirs wins);
  * the installed jaxlib is not one where the flag was checked (0.10.x): XLA aborts on unknown flags.
GPU and TPU computations ignore CPU flags.
"""

from __future__ import annotations

import os
from importlib import metadata

FLAG = "--xla_cpu_experimental_ynn_fusion_type=-reduce"
CHECKED_JAXLIB = ("0.10.",)  # jaxlib versions whose XLA knows the flag


def _jaxlib_version() -> str | None:
    try:
        return metadata.version("jaxlib")
    except metadata.PackageNotFoundError:
        return None


def apply_cpu_defaults(environ=os.environ, jaxlib_version: str | None = None) -> bool:
    """Appends `FLAG` to environ["XLA_FLAGS"] unless a rule above says not to; True if it did."""
    if environ.get("JAXINTERP_XLA_DEFAULTS", "0") != "1":
        return False
    version = jaxlib_version if jaxlib_version is not None else _jaxlib_version()
    if version is None or not version.startswith(CHECKED_JAXLIB):
        return False
    flags = environ.get("XLA_FLAGS", "")
    if "xla_cpu_experimental_ynn_fusion_type" in flags:
        return False
    environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return True
