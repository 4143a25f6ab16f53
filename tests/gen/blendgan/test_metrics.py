"""Fusion scores: exact values on constructed images, and the texture/structure split they measure."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from jaxinterp.gen.blendgan.metrics import fusion_scores, lowpass, lowpass_mse


def test_lowpass_keeps_constants_and_shrinks_by_the_factor():
    image = jnp.full((2, 24, 36, 3), 0.25)
    small = lowpass(image)
    chex.assert_shape(small, (2, 6, 9, 3))
    np.testing.assert_allclose(small, 0.25, atol=1e-6)
    np.testing.assert_allclose(lowpass_mse(jnp.full((1, 24, 36, 3), 0.5), jnp.full((24, 36, 3), -0.5)), 1.0, rtol=1e-6)


def test_fusion_scores_tell_layout_from_fine_texture():
    """A smooth ramp (structure), a noise texture, and their sum: the sum keeps the ramp's low-pass and
    takes the noise's fine patches."""
    y, x = np.meshgrid(np.linspace(-0.5, 0.5, 32), np.linspace(-0.5, 0.5, 48), indexing="ij")
    structure = np.stack([x, y, x * y], axis=-1).astype(np.float32)
    texture = 0.2 * np.asarray(jax.random.normal(jax.random.PRNGKey(0), (32, 48, 3)))
    fused = structure + 0.2 * np.asarray(jax.random.normal(jax.random.PRNGKey(1), (32, 48, 3)))
    scores = fusion_scores(jnp.asarray(fused)[None], structure, texture, jax.random.PRNGKey(2))
    assert scores["swd_finest_to_texture"] < 0.5 * scores["swd_finest_to_structure"], scores
    assert scores["lowpass_mse_to_structure"] < 0.1 * scores["lowpass_mse_to_texture"], scores
    same = fusion_scores(jnp.asarray(structure)[None], structure, texture, jax.random.PRNGKey(2))
    assert same["swd_fine_to_structure"] == 0.0 and same["lowpass_mse_to_structure"] == 0.0
