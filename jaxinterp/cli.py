"""The `jaxinterp` command: one sub-command per capability.

Errors the user can fix (bad files, wrong sizes, mismatched checkpoints) print one line and exit with
code 2; a non-finite loss exits with 1; Ctrl-C saves progress and exits with 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jaxinterp import __version__


def build_parser() -> argparse.ArgumentParser:
    from jaxinterp import quickstart
    from jaxinterp.agent.checkup import cli as checkup_cli
    from jaxinterp.agent.find import cli as find_cli
    from jaxinterp.agent.maia import cli as maia_cli
    from jaxinterp.gen.asapnet import cli as asapnet_cli
    from jaxinterp.gen.blendgan import cli as blendgan_cli
    from jaxinterp.gen.caw import cli as caw_cli
    from jaxinterp.gen.idc import cli as idc_cli
    from jaxinterp.gen.singan import cli as singan_cli
    from jaxinterp.mech import cli as mech_cli

    parser = argparse.ArgumentParser(
        prog="jaxinterp",
        description="JAX-native single-example generative models, model surgery and interpretability agents.",
    )
    parser.add_argument("--version", action="version", version=f"jaxinterp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    quickstart.add_parser(sub)
    singan_cli.add_parser(sub)
    asapnet_cli.add_parser(sub)
    caw_cli.add_parser(sub)
    idc_cli.add_parser(sub)
    blendgan_cli.add_parser(sub)
    mech_cli.add_parser(sub)
    find_cli.add_parser(sub)
    maia_cli.add_parser(sub)
    checkup_cli.add_parser(sub)
    return parser


def _enable_compilation_cache() -> None:
    """Keeps XLA programs on disk (so a second run skips compilation) when `JAXINTERP_CACHE` names a folder.

    Off by default: on jaxlib 0.10.2 (CPU) serialising and deserialising cached executables crashed a
    process with a segmentation fault twice in full test runs (2026-12-04), both inside the cache.
    """
    import jax

    folder = os.environ.get("JAXINTERP_CACHE", "")
    if not folder:
        return
    cache = Path(folder).expanduser()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    from jaxinterp.errors import InputError, NonFiniteLossError

    args = build_parser().parse_args(argv)
    _enable_compilation_cache()
    try:
        args.func(args)
    except InputError as err:
        print(f"jaxinterp: error: {err}", file=sys.stderr)
        return 2
    except NonFiniteLossError as err:
        print(f"jaxinterp: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\njaxinterp: interrupted; progress is saved, rerun with --resume to continue", file=sys.stderr)
        return 130
    return 0
