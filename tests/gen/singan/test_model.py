"""SinGAN networks: shapes, channel rule, initialisation, residual output."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.gen.singan.config import SinGANConfig
from jaxinterp.gen.singan.model import Critic, Generator


def test_channels_double_every_four_scales_and_cap_at_128():
    cfg = SinGANConfig()
    assert [cfg.channels(n) for n in range(12)] == [32] * 4 + [64] * 4 + [128] * 4


def test_generator_and_critic_shapes_with_5px_padding():
    cfg = SinGANConfig()
    generator, critic = Generator(cfg.channels(0)), Critic(cfg.channels(0))
    padded = jnp.zeros((2, 25 + 10, 31 + 10, 3))
    g_vars = generator.init(jax.random.PRNGKey(0), padded, padded, train=False)
    out = generator.apply(g_vars, padded, padded, train=False)
    chex.assert_shape(out, (2, 25, 31, 3))
    chex.assert_type(out, jnp.float32)
    d_vars = critic.init(jax.random.PRNGKey(1), out, train=False)
    chex.assert_shape(critic.apply(d_vars, out, train=False), (2, 15, 21, 1))  # 11x11 receptive field


def test_full_size_generator_shape_under_eval_shape():
    generator = Generator(128)
    padded = jax.ShapeDtypeStruct((1, 260, 260, 3), jnp.float32)
    g_vars = jax.eval_shape(lambda x: generator.init(jax.random.PRNGKey(0), x, x, train=False), padded)
    out = jax.eval_shape(lambda v, x: generator.apply(v, x, x, train=False), g_vars, padded)
    assert out.shape == (1, 250, 250, 3)


def test_initialisation_follows_weights_init():
    generator = Generator(64)
    padded = jnp.zeros((1, 40, 40, 3))
    params = generator.init(jax.random.PRNGKey(0), padded, padded, train=False)["params"]
    body_kernel = np.asarray(params["Trunk_0"]["ConvBlock_1"]["Conv_0"]["Conv_0"]["kernel"])
    bn_scale = np.asarray(params["Trunk_0"]["ConvBlock_1"]["BatchNorm_0"]["scale"])
    bias = np.asarray(params["Trunk_0"]["ConvBlock_1"]["Conv_0"]["Conv_0"]["bias"])
    assert abs(body_kernel.std() - 0.02) < 0.002 and abs(body_kernel.mean()) < 0.002
    assert abs(bn_scale.mean() - 1.0) < 0.01 and bn_scale.std() < 0.05
    assert np.abs(bias).max() <= 1 / np.sqrt(64 * 9) and bias.std() > 0  # PyTorch default bias


def test_generator_is_residual_on_the_upsampled_image():
    generator = Generator(8)
    prev = jax.random.normal(jax.random.PRNGKey(2), (1, 30, 30, 3))
    g_vars = generator.init(jax.random.PRNGKey(0), prev, prev, train=False)
    g_vars = jax.tree_util.tree_map(jnp.zeros_like, g_vars)  # tail(...) == 0 -> tanh(0) == 0
    g_vars["batch_stats"] = jax.tree_util.tree_map(jnp.ones_like, g_vars["batch_stats"])
    out = generator.apply(g_vars, prev, prev, train=False)
    np.testing.assert_allclose(out, prev[:, 5:-5, 5:-5], atol=1e-6)
