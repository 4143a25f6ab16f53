"""gen/conv.py: the convolution with convolution-only derivatives equals XLA's at every order."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxinterp.gen.conv import conv2d_valid, conv_general_dilated

NHWC = ("NHWC", "HWIO", "NHWC")


def xla_conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=NHWC)


def inputs(batch=2, h=11, w=14, cin=4, cout=5, k=3):
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(keys[0], (batch, h, w, cin))
    kernel = 0.3 * jax.random.normal(keys[1], (k, k, cin, cout))
    probe = jax.random.normal(keys[2], (batch, h - k + 1, w - k + 1, cout))
    return x, kernel, probe


def penalty(conv):
    """A WGAN-GP-shaped loss: a function of d(critic)/d(input), differentiated again below."""

    def loss(kernel, x, probe):
        grad_x = jax.grad(lambda x: jnp.sum(jnp.tanh(conv(x, kernel)) * probe))(x)
        return jnp.mean((jnp.sqrt(jnp.sum(grad_x**2, axis=-1) + 1e-6) - 1.0) ** 2)

    return loss


@pytest.mark.parametrize("k", [1, 3, 5])
def test_forward_and_first_order_match_xla(k):
    x, kernel, probe = inputs(k=k)
    chex.assert_trees_all_close(conv2d_valid(x, kernel), xla_conv(x, kernel), atol=1e-5)

    def first(conv):
        return jax.grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w)) * probe), argnums=(0, 1))(x, kernel)

    chex.assert_trees_all_close(first(conv2d_valid), first(xla_conv), atol=1e-5, rtol=1e-5)


def test_second_order_matches_xla():
    x, kernel, probe = inputs()
    ours = jax.grad(penalty(conv2d_valid), argnums=(0, 1, 2))(kernel, x, probe)
    reference = jax.grad(penalty(xla_conv), argnums=(0, 1, 2))(kernel, x, probe)
    assert float(jnp.max(jnp.abs(reference[0]))) > 1e-3  # the check is not vacuous
    chex.assert_trees_all_close(ours, reference, atol=1e-4, rtol=1e-4)


def test_third_order_matches_xla():
    x, kernel, probe = inputs(batch=1, h=7, w=8, cin=2, cout=3)

    def third(conv):
        grad_kernel = jax.grad(penalty(conv))
        return jax.grad(lambda w: jnp.sum(grad_kernel(w, x, probe) ** 2))(kernel)

    chex.assert_trees_all_close(third(conv2d_valid), third(xla_conv), atol=1e-4, rtol=1e-3)


def test_vmap_over_models_matches_xla():
    """The trainer vmaps several models (own kernels, own images) on one device."""
    x, kernel, probe = inputs()
    kernels = jnp.stack([kernel, -0.5 * kernel])
    xs = jnp.stack([x, x[::-1]])
    ours = jax.vmap(jax.grad(penalty(conv2d_valid)), in_axes=(0, 0, None))(kernels, xs, probe)
    reference = jax.vmap(jax.grad(penalty(xla_conv)), in_axes=(0, 0, None))(kernels, xs, probe)
    chex.assert_trees_all_close(ours, reference, atol=1e-4, rtol=1e-4)


def test_drop_in_routes_only_the_plain_case():
    x, kernel, _ = inputs()
    plain_jaxpr = str(
        jax.make_jaxpr(lambda x, w: conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=NHWC))(x, kernel)
    )
    assert "custom_vjp_call" in plain_jaxpr
    same = conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=NHWC)
    strided = conv_general_dilated(x, kernel, (2, 2), "VALID", dimension_numbers=NHWC)
    np.testing.assert_allclose(
        same, lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=NHWC), atol=1e-6
    )
    chex.assert_shape(strided, (2, 5, 6, 5))
    assert "custom_vjp_call" not in str(
        jax.make_jaxpr(lambda x, w: conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=NHWC))(x, kernel)
    )


@pytest.mark.parametrize("shape", [(2, 9, 12, 16, 24), (1, 10, 7, 3, 5), (1, 8, 8, 1, 1)])
def test_winograd_matches_xla(shape):
    """Odd and even output sizes (the last tile row/column is cropped), with gradients."""
    from jaxinterp.gen.conv_algorithms import winograd_3x3

    b, h, w, cin, cout = shape
    x, kernel, probe = inputs(b, h, w, cin, cout)
    chex.assert_trees_all_close(winograd_3x3(x, kernel), xla_conv(x, kernel), atol=1e-5)

    def grads(conv):
        return jax.grad(lambda x, w: jnp.sum(jnp.sin(conv(x, w)) * probe), argnums=(0, 1))(x, kernel)

    chex.assert_trees_all_close(grads(winograd_3x3), grads(xla_conv), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_tap_products_matches_xla(k):
    from jaxinterp.gen.conv_algorithms import tap_products

    x, kernel, probe = inputs(2, 11, 13, 6, 3, k)
    chex.assert_trees_all_close(tap_products(x, kernel), xla_conv(x, kernel), atol=1e-5)


def test_algorithm_rules_on_singan_shapes():
    from jaxinterp.gen.conv import forward_algorithm, kernel_gradient_algorithm

    assert forward_algorithm((1, 174, 199, 128), (3, 3, 128, 128)) == "winograd"  # body, scale 8
    assert forward_algorithm((1, 170, 195, 128), (3, 3, 128, 3)) == "taps"  # generator tail
    assert forward_algorithm((1, 170, 195, 128), (3, 3, 128, 1)) == "taps"  # critic tail
    assert forward_algorithm((1, 182, 207, 3), (3, 3, 3, 128)) == "xla"  # head
    assert forward_algorithm((1, 34, 37, 32), (3, 3, 32, 32)) == "xla"  # small 32-channel scale
    assert kernel_gradient_algorithm((1, 174, 199, 128), (1, 172, 197, 128), 3, 3) == "winograd"
    assert kernel_gradient_algorithm((1, 137, 157, 64), (1, 135, 155, 64), 3, 3) == "xla"


@pytest.mark.parametrize("cout", [64, 3])
def test_second_order_matches_xla_on_rewritten_paths(cout):
    """Shapes that the CPU rules route to Winograd (64 -> 64) and to tap products (64 -> 3)."""
    from jaxinterp.gen.conv import forward_algorithm

    x, kernel, probe = inputs(1, 48, 50, 64, cout)
    assert forward_algorithm(x.shape, kernel.shape) == ("winograd" if cout == 64 else "taps")
    ours = jax.grad(penalty(conv2d_valid), argnums=(0, 1))(kernel * 0.2, x, probe)
    reference = jax.grad(penalty(xla_conv), argnums=(0, 1))(kernel * 0.2, x, probe)
    chex.assert_trees_all_close(ours, reference, atol=2e-4, rtol=2e-3)
