"""mech/metrics.py, mech/attribution.py, mech/ablation.py on tiny random llama-like models."""

import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz

from jaxinterp.mech import ablation, attribution, metrics, patching
from tests.mech.test_patching import CLEAN, CORRUPT, tiny_llama, tokens, unwrap_logits

CORRECT, WRONG = jnp.array([4, 7]), jnp.array([9, 1])


def logit_diff(logits):
    return patching.logit_difference(logits, CORRECT, WRONG)


def scaled_llama(scale):
    """A tiny llama with every parameter multiplied by `scale` (small scales: nearly linear model)."""
    model = tiny_llama()
    for parameter in pz.unbind_params(model)[1]:
        parameter.value = parameter.value * scale
    return model


# ---------------------------------------------------------------- metrics


def hand_logits():
    # batch 2, seq 2, vocabulary 3; only the last position matters below.
    values = np.zeros((2, 2, 3), np.float32)
    values[0, -1] = np.log([1.0, 2.0, 1.0])  # probabilities 1/4, 1/2, 1/4
    values[1, -1] = np.log([3.0, 1.0, 0.0 + 1e-30])  # probabilities 3/4, 1/4, ~0
    values[:, 0] = [0.0, 0.0, 10.0]  # position 0: argmax 2
    return pz.nx.wrap(jnp.asarray(values)).tag("batch", "seq", "vocabulary")


def test_target_probability_and_accuracy_known_values():
    logits = hand_logits()
    ids = jnp.array([1, 1])
    np.testing.assert_allclose(metrics.target_probability(logits, ids).unwrap("batch"), [0.5, 0.25], rtol=1e-6)
    np.testing.assert_array_equal(metrics.target_accuracy(logits, ids).unwrap("batch"), [1.0, 0.0])
    np.testing.assert_array_equal(
        metrics.target_accuracy(logits, jnp.array([2, 2]), position=0).unwrap("batch"), [1, 1]
    )
    # An extra axis broadcasts (e.g. a patching sweep).
    swept = pz.nx.stack([logits, logits * 0.0], "sweep")
    probs = metrics.target_probability(swept, ids).unwrap("sweep", "batch")
    np.testing.assert_allclose(probs, [[0.5, 0.25], [1 / 3, 1 / 3]], rtol=1e-6)


def test_normalised_effect_and_relative_change_known_values():
    np.testing.assert_allclose(metrics.normalised_effect(jnp.array([1.0, 3.0, 2.0]), 3.0, 1.0), [0.0, 1.0, 0.5])
    np.testing.assert_allclose(metrics.relative_probability_change(jnp.array([0.3, 0.1]), 0.2), [0.5, -0.5], rtol=1e-6)
    named = pz.nx.wrap(jnp.array([2.0, 4.0])).tag("batch")
    np.testing.assert_allclose(ablation.faithfulness(named, 4.0).unwrap("batch"), [0.5, 1.0])


# ---------------------------------------------------------------- attribution patching


# Weight scale per site at which the random model is close enough to linear for a first-order estimate
# while the effects stay measurable (attention sites need larger weights to move the softmax at all).
NEAR_LINEAR_SCALE = dict.fromkeys(patching.SITES, 0.3) | dict.fromkeys(("mlp_out", *patching.INSIDE_ATTENTION), 0.6)


@pytest.mark.parametrize("site", patching.SITES)
def test_attribution_patching_tracks_activation_patching(site):
    model = scaled_llama(NEAR_LINEAR_SCALE[site])
    exact = patching.activation_patching(model, site, CLEAN, CORRUPT, logit_diff)
    estimate = attribution.attribution_patching(model, site, CLEAN, CORRUPT, logit_diff)
    axes = [*patching.component_axes(patching.capture(model, CLEAN, site)), "batch"]
    assert list(estimate.named_shape) == axes
    effect = (exact - logit_diff(model(CORRUPT))).unwrap(*axes).ravel()
    estimated = estimate.unwrap(*axes).ravel()
    assert np.abs(effect).max() > 1e-2  # not vacuous
    correlation = np.corrcoef(effect, estimated)[0, 1]
    assert correlation > 0.9, correlation


def test_metric_gradient_matches_finite_difference():
    model = tiny_llama()
    grad = attribution.metric_gradient(model, "resid_post", CORRUPT, logit_diff)
    activations = patching.capture(model, CORRUPT, "resid_post")
    direction = pz.nx.wrap(
        jnp.asarray(np.random.default_rng(0).normal(size=activations.unwrap(*activations.named_shape).shape))
    ).tag(*activations.named_shape)
    deltas = attribution.with_deltas(model, "resid_post")
    eps = 1e-2

    def total(scale):
        value = logit_diff(deltas(CORRUPT, attribution_delta=direction * scale))
        return float(jnp.sum(value.unwrap("batch")))

    numeric = (total(eps) - total(-eps)) / (2 * eps)
    analytic = float(jnp.sum((grad * direction).unwrap(*grad.named_shape)))
    np.testing.assert_allclose(numeric, analytic, rtol=2e-2)


# ---------------------------------------------------------------- ablation


def all_keep(model, site, value=True):
    axes = patching.component_axes(patching.capture(model, CLEAN, site))
    return pz.nx.wrap(jnp.full(tuple(axes.values()), value)).tag(*axes), axes


@pytest.mark.parametrize("site", patching.SITES)
def test_keeping_every_component_changes_nothing(site):
    model = tiny_llama()
    keep, _ = all_keep(model, site)
    for ablate in (ablation.mean_ablated_logits, ablation.resample_ablated_logits):
        logits = ablate(model, site, CLEAN, CORRUPT, keep)
        np.testing.assert_array_equal(unwrap_logits(logits), unwrap_logits(model(CLEAN)))


@pytest.mark.parametrize("site", patching.SITES)
def test_resample_ablation_from_the_prompts_themselves_is_identity(site):
    model = tiny_llama()
    rng = np.random.default_rng(1)
    _, axes = all_keep(model, site)
    keep = pz.nx.wrap(jnp.asarray(rng.random(tuple(axes.values())) < 0.5)).tag(*axes)
    logits = ablation.resample_ablated_logits(model, site, CLEAN, CLEAN, keep)
    np.testing.assert_array_equal(unwrap_logits(logits), unwrap_logits(model(CLEAN)))
    # ... whereas resampling from other prompts changes the logits.
    other = ablation.resample_ablated_logits(model, site, CLEAN, CORRUPT, keep)
    assert not np.allclose(unwrap_logits(other), unwrap_logits(model(CLEAN)), atol=1e-3)


def test_mean_ablating_the_last_residual_gives_the_mean_residual_logits():
    model = tiny_llama()
    reference = tokens([[1, 6, 2, 3, 2], [3, 9, 1, 8, 5], [0, 2, 4, 6, 8]])
    keep, _ = all_keep(model, "resid_post")
    keep = pz.nx.nmap(lambda k: k.at[-1].set(False))(keep.untag_prefix("layer")).tag_prefix("layer")
    logits = unwrap_logits(ablation.mean_ablated_logits(model, "resid_post", CLEAN, reference, keep))
    # Every prompt now gets the same logits, those of the (position-wise) mean last residual.
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-6)
    residual = patching.capture(model, reference, "resid_post")[{"layer": -1}]
    mean = pz.nx.nmap(lambda a: jnp.mean(a, axis=0))(residual.untag_prefix("batch"))
    final_norm, unembed = model.body.sublayers[-2:]
    expected = unembed(final_norm(mean)).unwrap("seq", "vocabulary")
    np.testing.assert_allclose(logits[0], expected, atol=1e-5)
    np.testing.assert_allclose(logits[:, -1], np.broadcast_to(expected[-1], (2, expected.shape[-1])), atol=1e-5)
