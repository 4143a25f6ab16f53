"""Adversarial losses shared by the GANs in gen/.

WGAN-GP as SinGAN uses it (Gulrajani et al. 2017; official `calc_gradient_penalty`): one scalar
interpolation coefficient per step, the gradient norm taken over channels at each pixel, then the
mean of (norm - 1)^2 over pixels, times lambda (0.1 in SinGAN).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def gradient_penalty(
    critic: Callable[[Array], Array],
    real: Float[Array, "*b h w c"],
    fake: Float[Array, "*b h w c"],
    key: Array,
    weight: float,
) -> Float[Array, ""]:
    """lambda * mean_pixels((||d critic / d x_hat||_channels - 1)^2) at x_hat = a*real + (1-a)*fake.

    `critic` maps an image to a score map; its sum is differentiated (grad_outputs = ones).
    """
    alpha = jax.random.uniform(key, ())
    interpolates = alpha * real + (1.0 - alpha) * fake
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(interpolates)
    norms = jnp.sqrt(jnp.sum(grads**2, axis=-1))
    return weight * jnp.mean((norms - 1.0) ** 2)


def wgan_critic_loss(score_real: Array, score_fake: Array) -> Float[Array, ""]:
    """-E[D(x)] + E[D(G(z))] (the critic maximises the gap)."""
    return -jnp.mean(score_real) + jnp.mean(score_fake)


def wgan_generator_loss(score_fake: Array) -> Float[Array, ""]:
    """-E[D(G(z))]."""
    return -jnp.mean(score_fake)
