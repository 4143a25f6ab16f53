"""Multiscale PatchGAN against a torch.nn reference with the official layout (its outputs stored in
tests/fixtures); the SPADE losses on hand-made inputs whose values are known."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.gen.asapnet.discriminator import SPECTRAL, MultiscaleDiscriminator, discriminate
from jaxinterp.gen.asapnet.losses import feature_matching_loss, hinge_d_loss, hinge_g_loss, vgg_loss
from tests.fixtures import reference, unflatten

B, H, W, K = 2, 16, 32, 3


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.eye(K, dtype=np.float32)[rng.integers(0, K, size=(B, H, W))]
    image = rng.uniform(-1, 1, size=(B, H, W, 3)).astype(np.float32)
    return jnp.asarray(labels), jnp.asarray(image)


def test_discriminator_output_shapes_at_both_scales():
    disc = MultiscaleDiscriminator(num_d=2, n_layers=4, ndf=4)
    labels, image = _inputs()
    variables = jax.eval_shape(disc.init, jax.random.PRNGKey(0), labels, image)
    preds, _ = jax.eval_shape(functools.partial(disc.apply, mutable=[SPECTRAL]), variables, labels, image)
    # torch sizes: k4 p2 -> floor((n + 4 - 4) / s) + 1; the second D sees a 3x3/s2/p1 average pool (8 x 16).
    expected = [
        [(B, 9, 17, 4), (B, 5, 9, 8), (B, 3, 5, 16), (B, 4, 6, 32), (B, 5, 7, 1)],
        [(B, 5, 9, 4), (B, 3, 5, 8), (B, 2, 3, 16), (B, 3, 4, 32), (B, 4, 5, 1)],
    ]
    assert len(preds) == 2
    for per_d, shapes in zip(preds, expected, strict=True):
        chex.assert_shape(list(per_d), shapes)
        chex.assert_type(list(per_d), jnp.float32)


@pytest.fixture(scope="module")
def tiny_d():
    """One initialised D shared by the tests below (initialisers are slow to compile on CPU)."""
    disc = MultiscaleDiscriminator(num_d=2, n_layers=4, ndf=4)
    labels, image = _inputs(1)
    return disc, labels, image, jax.jit(disc.init)(jax.random.PRNGKey(1), labels, image)


def test_discriminator_matches_torch_reference_with_spectral_instance_norm():
    """Against torch.nn with the official layout (spectral-normed, instance-normed middle convs) in training
    mode, one power iteration per forward as in the Flax pass: every layer's output and the updated u.
    torch's outputs, for the stored variables and inputs, are in tests/fixtures/asapnet_discriminator.npz."""
    ref = reference("asapnet_discriminator")
    disc = MultiscaleDiscriminator(num_d=2, n_layers=4, ndf=4)
    variables = {"params": unflatten(ref, "params"), SPECTRAL: unflatten(ref, SPECTRAL)}
    labels, image = jnp.asarray(ref["labels"]), jnp.asarray(ref["image"])
    shapes = jax.eval_shape(disc.init, jax.random.PRNGKey(0), labels, image)
    chex.assert_trees_all_equal_shapes_and_dtypes(variables, dict(shapes))
    preds, updated = jax.jit(functools.partial(disc.apply, mutable=[SPECTRAL]))(variables, labels, image)
    for i in range(2):
        for j in range(5):
            np.testing.assert_allclose(preds[i][j], ref[f"pred_{i}_{j}"], atol=2e-5, rtol=1e-4)
            if 0 < j < 4:
                new_u = updated[SPECTRAL][f"d{i}"][f"SpectralNorm_{j - 1}"][f"Conv_{j}/kernel/u"][0]
                np.testing.assert_allclose(new_u, ref[f"u_{i}_{j}"], atol=1e-5)


def test_discriminate_splits_one_pass_over_fake_then_real(tiny_d):
    disc, labels, real, variables = tiny_d
    fake = -real
    fake_preds, real_preds, spectral = jax.jit(functools.partial(discriminate, disc))(
        variables["params"], variables[SPECTRAL], labels, fake, real
    )
    both, updated = jax.jit(functools.partial(disc.apply, mutable=[SPECTRAL]))(
        variables, jnp.concatenate([labels, labels]), jnp.concatenate([fake, real])
    )
    for i in range(2):
        for j in range(5):
            np.testing.assert_array_equal(fake_preds[i][j], both[i][j][:B])
            np.testing.assert_array_equal(real_preds[i][j], both[i][j][B:])
    chex.assert_trees_all_equal(spectral, updated[SPECTRAL])
    # The power iteration moved u (so the state really is carried forward).
    u_key = "Conv_1/kernel/u"
    assert not np.allclose(spectral["d0"]["SpectralNorm_0"][u_key], variables[SPECTRAL]["d0"]["SpectralNorm_0"][u_key])


def _preds(*finals):
    """Per-D predictions whose intermediate features are irrelevant here (zeros)."""
    return tuple((jnp.zeros((1, 2, 2, 4)), jnp.asarray(f, jnp.float32).reshape(1, 1, -1, 1)) for f in finals)


def test_hinge_losses_have_known_values():
    real = _preds([2.0, 0.5], [-1.0])  # relu(1 - x): D0 (0 + 0.5) / 2 = 0.25, D1 2.0 -> mean 1.125
    fake = _preds([-2.0, 0.0], [3.0])  # relu(1 + x): D0 (0 + 1) / 2 = 0.5, D1 4.0 -> mean 2.25
    np.testing.assert_allclose(float(hinge_d_loss(real, fake)), 1.125 + 2.25, rtol=1e-6)
    np.testing.assert_allclose(float(hinge_g_loss(fake)), -((-1.0 + 3.0) / 2), rtol=1e-6)  # -mean_D mean D(fake)


def test_feature_matching_is_weighted_l1_over_intermediates_only():
    fake = (
        (jnp.ones((1, 2, 2, 1)), jnp.full((1, 1, 2, 3), 3.0), jnp.full((1, 1, 1, 1), 100.0)),
        (jnp.asarray([0.0, 4.0]).reshape(1, 1, 2, 1), jnp.full((1, 1, 1, 1), -50.0)),
    )
    real = (
        (jnp.zeros((1, 2, 2, 1)), jnp.ones((1, 1, 2, 3)), jnp.zeros((1, 1, 1, 1))),
        (jnp.zeros((1, 1, 2, 1)), jnp.zeros((1, 1, 1, 1))),
    )
    # lambda / num_D = 10 / 2 = 5 times (|1 - 0| + |3 - 1| + mean(|0|, |4|)) = 5 * (1 + 2 + 2); score maps ignored.
    np.testing.assert_allclose(float(feature_matching_loss(fake, real, 10.0)), 25.0, rtol=1e-6)
    grad_real = jax.grad(lambda r: feature_matching_loss(fake, r, 10.0))(real)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree_util.tree_leaves(grad_real))  # real is a constant


def test_vgg_loss_uses_spade_layer_weights():
    diffs = (1.0, 2.0, 3.0, 4.0, 5.0)
    fake = [jnp.full((1, 5 - i, 3, 2), d) for i, d in enumerate(diffs)]
    real = [jnp.zeros_like(f) for f in fake]
    expected = 10.0 * (1 / 32 * 1 + 1 / 16 * 2 + 1 / 8 * 3 + 1 / 4 * 4 + 1.0 * 5)
    np.testing.assert_allclose(float(vgg_loss(fake, real, 10.0)), expected, rtol=1e-6)
