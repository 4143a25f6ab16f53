"""WGAN-GP against independent computations."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.gen.gan_losses import gradient_penalty


def test_gradient_penalty_of_a_linear_critic_is_exact():
    # D(x) = x . W per pixel: the gradient at any point is W, so the penalty is known in closed form.
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(1, 6, 5, 3)).astype(np.float32)
    real = jnp.asarray(rng.normal(size=(1, 6, 5, 3)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(1, 6, 5, 3)), jnp.float32)
    penalty = gradient_penalty(lambda x: jnp.sum(x * weights, -1), real, fake, jax.random.PRNGKey(0), 0.1)
    expected = 0.1 * np.mean((np.linalg.norm(weights, axis=-1) - 1.0) ** 2)
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)


def test_gradient_penalty_matches_finite_differences_for_a_nonlinear_critic():
    rng = np.random.default_rng(1)
    kernel = jnp.asarray(rng.normal(size=(3, 3, 2, 1)), jnp.float64 if jax.config.x64_enabled else jnp.float32)

    def critic(x):
        y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.tanh(y)

    real = jnp.asarray(rng.normal(size=(1, 5, 4, 2)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(1, 5, 4, 2)), jnp.float32)
    key = jax.random.PRNGKey(3)
    alpha = float(jax.random.uniform(key, ()))
    x_hat = np.asarray(alpha * real + (1 - alpha) * fake, np.float64)

    def f(x):
        return float(jnp.sum(critic(jnp.asarray(x, jnp.float32))))

    eps = 1e-3
    grads = np.zeros_like(x_hat)
    for idx in np.ndindex(x_hat.shape):
        up, down = x_hat.copy(), x_hat.copy()
        up[idx] += eps
        down[idx] -= eps
        grads[idx] = (f(up) - f(down)) / (2 * eps)
    expected = 0.1 * np.mean((np.linalg.norm(grads, axis=-1) - 1.0) ** 2)
    np.testing.assert_allclose(float(gradient_penalty(critic, real, fake, key, 0.1)), expected, rtol=2e-2)


def test_masked_losses_count_only_the_kept_scores_and_work_on_signals():
    from jaxinterp.gen.gan_losses import wgan_critic_loss

    rng = np.random.default_rng(2)
    # A 1-D linear critic D(x)[t] = w . x[t] on (b, t, c) signals: gradient w where the score is kept, 0 elsewhere.
    w = rng.normal(size=(2,)).astype(np.float32)
    real = jnp.asarray(rng.normal(size=(1, 8, 2)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(1, 8, 2)), jnp.float32)
    mask = jnp.asarray([1, 1, 0, 0, 1, 1, 1, 1], jnp.float32)[None, :]
    penalty = gradient_penalty(lambda x: x @ w, real, fake, jax.random.PRNGKey(0), 0.01, mask, norm_scale=8 / 6)
    norm = 8 / 6 * np.linalg.norm(w)
    expected = 0.01 * (6 * (norm - 1) ** 2 + 2 * (0 - 1) ** 2) / 8
    np.testing.assert_allclose(float(penalty), expected, rtol=1e-5)
    scores_real, scores_fake = real @ w, fake @ w
    keep = np.asarray(mask, bool)
    expected_loss = -np.asarray(scores_real)[keep].mean() + np.asarray(scores_fake)[keep].mean()
    np.testing.assert_allclose(float(wgan_critic_loss(scores_real, scores_fake, mask)), expected_loss, rtol=1e-5)


def test_penalty_gradient_is_finite_where_no_kept_score_sees_the_input():
    # Positions 0-1 reach only a dropped score: their input gradient is exactly 0, whose norm must not
    # give a NaN second derivative (torch's norm has subgradient 0 there).
    w = jnp.asarray([0.5, -1.5], jnp.float32)
    real, fake = jnp.ones((1, 4, 2)), jnp.zeros((1, 4, 2))
    mask = jnp.asarray([[0, 1, 1, 1]], jnp.float32)

    def penalty(scale):
        return gradient_penalty(lambda x: scale * (x @ w), real, fake, jax.random.PRNGKey(0), 0.01, mask)

    grad = jax.grad(penalty)(1.0)
    assert np.isfinite(float(grad)) and float(grad) != 0.0
