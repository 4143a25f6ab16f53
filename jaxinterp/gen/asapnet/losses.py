"""The losses of the SPADE recipe that ASAPNet trains with (tamarott/ASAPNet `models/pix2pix_model.py`,
`models/networks/loss.py`, from NVlabs/SPADE).

* Hinge GAN loss (`gan_mode=hinge`), each term averaged over the `num_D` discriminators' score maps:
    D: mean_D mean(relu(1 - D(real))) + mean_D mean(relu(1 + D(fake)))
    G: -mean_D mean(D(fake))
* Feature matching: the L1 (mean absolute) distance between the discriminators' intermediate features of
  fake and real (the final score map excluded), each term weighted lambda_feat / num_D (lambda_feat = 10),
  the real features treated as constants.
* VGG perceptual loss: sum over relu1_1 ... relu5_1 of w_i * L1(vgg_i(fake), vgg_i(real)) with
  w = (1/32, 1/16, 1/8, 1/4, 1), times lambda_vgg = 10; the real features are constants.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

VGG_LAYER_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)  # official VGGLoss.weights


def hinge_d_loss(real_preds: Sequence[Sequence[Array]], fake_preds: Sequence[Sequence[Array]]) -> Float[Array, ""]:
    """mean_D mean(relu(1 - D(real))) + mean_D mean(relu(1 + D(fake))), on each D's last output."""
    real = jnp.mean(jnp.stack([jnp.mean(jax.nn.relu(1.0 - p[-1])) for p in real_preds]))
    fake = jnp.mean(jnp.stack([jnp.mean(jax.nn.relu(1.0 + p[-1])) for p in fake_preds]))
    return real + fake


def hinge_g_loss(fake_preds: Sequence[Sequence[Array]]) -> Float[Array, ""]:
    """-mean_D mean(D(fake)), on each D's last output."""
    return -jnp.mean(jnp.stack([jnp.mean(p[-1]) for p in fake_preds]))


def feature_matching_loss(
    fake_preds: Sequence[Sequence[Array]], real_preds: Sequence[Sequence[Array]], weight: float = 10.0
) -> Float[Array, ""]:
    """sum_D sum_layers (weight / num_D) * mean|f_fake - f_real| over every output but each D's last."""
    total = jnp.zeros(())
    for fake, real in zip(fake_preds, real_preds, strict=True):
        for f, r in zip(fake[:-1], real[:-1], strict=True):
            total = total + jnp.mean(jnp.abs(f - jax.lax.stop_gradient(r))) * (weight / len(fake_preds))
    return total


def vgg_loss(
    fake_feats: Sequence[Array],
    real_feats: Sequence[Array],
    weight: float = 10.0,
    layer_weights: Sequence[float] = VGG_LAYER_WEIGHTS,
) -> Float[Array, ""]:
    """weight * sum_i layer_weights[i] * mean|vgg_i(fake) - vgg_i(real)|."""
    total = jnp.zeros(())
    for w, f, r in zip(layer_weights, fake_feats, real_feats, strict=True):
        total = total + w * jnp.mean(jnp.abs(f - jax.lax.stop_gradient(r)))
    return weight * total
