"""Test-wide settings: 4 host CPU devices (sharding tests), a shared XLA compilation cache."""

import os
import tempfile

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()

import jax  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.path.join(tempfile.gettempdir(), "jaxinterp-test-xla-cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
