"""Test-wide settings: 4 host CPU devices (sharding tests); a shared XLA compilation cache only on request.

The persistent compilation cache is off by default (here and in the CLI, which uses it only when
`JAXINTERP_CACHE` names a folder): on jaxlib 0.10.2 (CPU), serialising and deserialising cached
executables crashed a pytest worker with a segmentation fault in two full runs (2026-12-04, inside the
quickstart test after CLI tests had turned the cache on; not reproduced alone). A run on a fresh machine
(CI) gains little from it. `JAXINTERP_TEST_XLA_CACHE=1` turns it on for repeated local runs.
"""

import os
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()

import jax  # noqa: E402

os.environ.pop("JAXINTERP_CACHE", None)  # CLI calls in tests never use a user's on-disk cache
if os.environ.get("JAXINTERP_TEST_XLA_CACHE") == "1":
    jax.config.update("jax_compilation_cache_dir", os.path.join(tempfile.gettempdir(), "jaxinterp-test-xla-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
