"""jaxinterp: single-example generative models (gen/), transformer surgery (mech/) and
interpretability agents (agent/), written for JAX."""

from jaxinterp.xla_cpu_flags import apply_cpu_defaults

apply_cpu_defaults()  # before JAX creates its CPU client; see xla_cpu_flags.py

__version__ = "0.1.0"
