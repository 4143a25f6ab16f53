"""Test-wide settings: 4 host CPU devices (sharding tests), fast XLA compiles; a shared XLA compilation cache
only on request.

The persistent compilation cache is off by default (here and in the CLI, which uses it only when
`JAXINTERP_CACHE` names a folder): on jaxlib 0.10.2 (CPU), serialising and deserialising cached
executables crashed a pytest worker with a segmentation fault in two full runs (2026-12-04, inside the
quickstart test after CLI tests had turned the cache on; not reproduced alone). A run on a fresh machine
(CI) gains little from it. `JAXINTERP_TEST_XLA_CACHE=1` turns it on for repeated local runs.
"""

import os
import tempfile

# Tests compile far more than they run (tiny shapes): XLA's backend compile was 50-70% of a test file's time
# (tests/mech/test_patching.py: 44 s of 86; tests/gen/singan/test_train.py: 56 s of 79). LLVM optimisation
# level 0 compiles faster and the programs compute the same thing: 83 -> 75 s, 79 -> 66 s and (attribution)
# 60 -> 51 s for those files on 2 cores. Only the tests use it; benchmarks and the CLI keep XLA's default.
# A user's own setting of the flag wins.
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_backend_optimization_level" not in _flags:
    _flags += " --xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=4").strip()

import jax  # noqa: E402

os.environ.pop("JAXINTERP_CACHE", None)  # CLI calls in tests never use a user's on-disk cache
if os.environ.get("JAXINTERP_TEST_XLA_CACHE") == "1":
    jax.config.update("jax_compilation_cache_dir", os.path.join(tempfile.gettempdir(), "jaxinterp-test-xla-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)

# Which pytest-xdist worker runs what (`--dist loadfile` in pyproject.toml): each test module goes whole to one
# worker, and the modules below, which train the same tiny model or compile the same programs (session
# fixtures, `lru_cache`d compiled steps), go together, so one worker does that work once. Spread over two
# workers, each of these groups trained or compiled it twice (about a minute each on 2 cores).
SHARED_WORKER = {
    "tests/gen/singan/test_train.py": "singan-tiny-coffee",
    "tests/gen/singan/test_cli.py": "singan-tiny-coffee",
    "tests/test_quickstart.py": "singan-tiny-coffee",
    "tests/gen/blendgan/test_cli.py": "blendgan-session-model",
    "tests/gen/blendgan/test_demo.py": "blendgan-session-model",
    "tests/gen/caw/test_train.py": "caw-session-run",
    "tests/gen/caw/test_apps.py": "caw-session-run",
    "tests/gen/idc/test_train.py": "idc-tiny",
    "tests/gen/idc/test_demo.py": "idc-tiny",
}


def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` with the groups above. (xdist's own `loadgroup` marks do nothing on pytest 9.2, whose
    node ids no longer come from the `_nodeid` attribute that xdist 3.8 rewrites.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedWorkerScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return SHARED_WORKER.get(module, module)

    return SharedWorkerScheduling(config, log)


# The groups that take longest (by `--durations`, 2026-12-06) are handed out first: xdist gives each worker
# the next module or group in collection order as it frees up, so a long group that comes last leaves the
# other worker idle at the end of the run (the suite was 600 s with them in alphabetical order).
LONGEST_FIRST = (
    "singan-tiny-coffee",
    "tests/mech/test_study_cli.py",
    "blendgan-session-model",
    "caw-session-run",
    "idc-tiny",
    "tests/mech/test_patching.py",
    "tests/mech/test_generate.py",
    "tests/mech/test_variable_binding.py",
    "tests/mech/test_dcm.py",
)


def pytest_collection_modifyitems(config, items):
    """Puts the tests of `LONGEST_FIRST`'s groups first, in that order; the rest keep collection order."""
    rank = {scope: i for i, scope in enumerate(LONGEST_FIRST)}

    def scope_rank(item) -> int:
        module = item.nodeid.split("::", 1)[0]
        return rank.get(SHARED_WORKER.get(module, module), len(rank))

    items.sort(key=scope_rank)  # stable: order within a group and among the rest is unchanged
