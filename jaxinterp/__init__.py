"""jaxinterp: single-example generative models (gen/), transformer surgery (mech/) and
interpretability agents (agent/), written for JAX."""

__version__ = "0.1.0"
