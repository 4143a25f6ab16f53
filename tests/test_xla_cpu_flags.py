"""jaxinterp's XLA CPU defaults: added once, never over a user's choice, only on checked jaxlib versions,
and in effect in this process (the reduction runs outside YNNPACK)."""

import jax
import jax.numpy as jnp

from jaxinterp import xla_cpu_flags
from jaxinterp.xla_cpu_flags import FLAG, apply_cpu_defaults


def test_the_flag_is_appended_to_existing_flags():
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAXINTERP_XLA_DEFAULTS": "1"}
    assert apply_cpu_defaults(env, "0.10.2")
    assert env["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=4 {FLAG}"


def test_a_users_setting_an_opt_out_or_an_unchecked_jaxlib_leave_flags_alone():
    mine = {"XLA_FLAGS": "--xla_cpu_experimental_ynn_fusion_type=", "JAXINTERP_XLA_DEFAULTS": "1"}
    assert not apply_cpu_defaults(mine, "0.10.2") and mine["XLA_FLAGS"] == "--xla_cpu_experimental_ynn_fusion_type="
    default = {}
    assert not apply_cpu_defaults(default, "0.10.2") and "XLA_FLAGS" not in default  # opt-in only
    newer = {"JAXINTERP_XLA_DEFAULTS": "1"}
    assert not apply_cpu_defaults(newer, "0.11.0") and "XLA_FLAGS" not in newer


def test_importing_jaxinterp_turned_ynn_reductions_off_in_this_process():
    import os

    checked = xla_cpu_flags._jaxlib_version().startswith(xla_cpu_flags.CHECKED_JAXLIB)
    if not checked or os.environ.get("JAXINTERP_XLA_DEFAULTS") != "1":
        assert FLAG not in os.environ.get("XLA_FLAGS", "")
        return
    assert FLAG in os.environ["XLA_FLAGS"]
    x = jnp.ones((1, 512, 8))
    hlo = jax.jit(lambda a, b: (a.sum(1), (a * b).sum(1))).lower(x, x).compile().as_text()
    assert "__ynn_fusion" not in hlo
