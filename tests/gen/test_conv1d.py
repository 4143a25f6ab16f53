"""The dilated 1-D convolution with custom derivatives agrees with XLA's to every order used (GP)."""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxinterp.gen.conv1d import conv1d_valid


def _reference(x, w, dilation):
    return lax.conv_general_dilated(
        x, w, (1,), "VALID", rhs_dilation=(dilation,), dimension_numbers=("NWC", "WIO", "NWC")
    )


def test_values_gradients_and_gradient_penalty_gradients_match_xla():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 120, 5)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(9, 5, 4)), jnp.float32)
    ours, ref = (lambda x, w: conv1d_valid(x, w, 4)), (lambda x, w: _reference(x, w, 4))
    np.testing.assert_allclose(ours(x, w), ref(x, w), atol=1e-4)

    def loss(conv):
        return lambda x, w: jnp.sum(jnp.tanh(conv(x, w)) ** 2)

    for a, b in zip(jax.grad(loss(ours), (0, 1))(x, w), jax.grad(loss(ref), (0, 1))(x, w), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)

    def penalty(conv):  # gradient of a gradient norm, as WGAN-GP takes it
        def fn(w):
            g = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, w))))(x)
            return jnp.sum(jnp.sqrt(jnp.sum(g**2, -1) + 1e-6))

        return jax.grad(fn)(w)

    np.testing.assert_allclose(penalty(ours), penalty(ref), rtol=1e-4, atol=1e-3)
