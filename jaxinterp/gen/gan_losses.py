"""Adversarial losses shared by the GANs in gen/, for images (`b h w c`) and signals (`b t c`) alike.

WGAN-GP as SinGAN uses it (Gulrajani et al. 2017; official `calc_gradient_penalty`): one scalar
interpolation coefficient per step, the gradient norm taken over channels at each position (pixel or
sample), then the mean of (norm - 1)^2 over positions, times lambda (0.1 in SinGAN, 0.01 in
Catch-A-Waveform).

Masks (inpainting: CAW's hole, IDC's masked critic): `score_mask` marks the critic outputs that count
(1 = keep). The critic losses become means over kept scores, and the penalty differentiates only the
sum of kept scores, with each gradient norm multiplied by `norm_scale` before subtracting 1 (CAW's
`mask_ratio` = all scores / kept scores); the mean stays over every input position, as upstream's.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def masked_mean(x: Array, mask: Array | None = None) -> Float[Array, ""]:
    """mean(x) or, with a 0/1 `mask` broadcastable to x, the mean over the kept entries."""
    if mask is None:
        return jnp.mean(x)
    mask = jnp.broadcast_to(mask, x.shape).astype(x.dtype)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def gradient_penalty(
    critic: Callable[[Array], Array],
    real: Float[Array, "*b c"],
    fake: Float[Array, "*b c"],
    key: Array,
    weight: float,
    score_mask: Array | None = None,
    norm_scale: float | Array = 1.0,
) -> Float[Array, ""]:
    """lambda * mean_positions((s * ||d critic / d x_hat||_channels - 1)^2) at x_hat = a*real + (1-a)*fake.

    `critic` maps an input to a score map; its sum (over `score_mask`'s kept scores, if given) is
    differentiated (grad_outputs = ones). `s` = `norm_scale`.
    """
    alpha = jax.random.uniform(key, ())
    interpolates = alpha * real + (1.0 - alpha) * fake

    def total(x):
        scores = critic(x)
        return jnp.sum(scores if score_mask is None else scores * score_mask)

    grads = jax.grad(total)(interpolates)
    squared = jnp.sum(grads**2, axis=-1)
    # sqrt with torch's zero subgradient at 0: positions no kept score sees have exactly zero gradient.
    positive = squared > 0
    norms = jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)
    return weight * jnp.mean((norm_scale * norms - 1.0) ** 2)


def wgan_critic_loss(score_real: Array, score_fake: Array, mask: Array | None = None) -> Float[Array, ""]:
    """-E[D(x)] + E[D(G(z))] (the critic maximises the gap), over the scores `mask` keeps."""
    return -masked_mean(score_real, mask) + masked_mean(score_fake, mask)


def wgan_generator_loss(score_fake: Array, mask: Array | None = None) -> Float[Array, ""]:
    """-E[D(G(z))]."""
    return -masked_mean(score_fake, mask)
