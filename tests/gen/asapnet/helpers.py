"""Inputs and weights shared by the ASAPNet and SPADE generator tests."""

import jax
import jax.numpy as jnp
import numpy as np


def one_hot_labels(key, b, h, w, n):
    """A random label map, one-hot: f32 [b, h, w, n]."""
    return jax.nn.one_hot(jax.random.randint(key, (b, h, w), 0, n), n, dtype=jnp.float32)


def random_variables(module, *args, scale, seed=0):
    """Variables with N(0, scale^2) entries (larger than the 0.02 init so that every path matters), drawn in
    numpy from `init`'s shapes: no compilation of `init`."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(module.init, jax.random.key(0), *args)
    return jax.tree.map(lambda s: jnp.asarray(scale * rng.standard_normal(s.shape), s.dtype), shapes)
