"""Attribution patching: a first-order estimate of every activation-patching effect at once.

Nanda, "Attribution patching" (2023); Syed, Rager & Conmy, "Attribution patching outperforms automated
circuit discovery" (EAP, 2023). For component c of a site,

    metric(target run with c taken from source) - metric(target run)
        ~= < source_c - target_c , d metric / d activation_c (at the target run) >,

the inner product summed over the activation's non-component axes ("projection" or "embedding"), kept
per prompt ("batch"). One capture of each run plus one forward+backward pass gives all components.

The gradient is taken through `patching.with_sites`: every `PatchSite` is swapped for a layer that adds a
per-layer "attribution_delta" side input to the live activation, and `jax.grad` is taken w.r.t. that delta
at zero (an additive delta keeps the dependence of later sites on earlier ones, which overwriting with a
fixed source would cut).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from penzai import pz

from jaxinterp.mech import patching


@pz.pytree_dataclass
class _AddDelta(pz.nn.Layer):
    """value + attribution_delta[layer] (identity without the side input)."""

    layer: int = dataclasses.field(metadata={"pytree_node": False})

    def __call__(self, value: pz.nx.NamedArray, /, **side_inputs) -> pz.nx.NamedArray:
        delta = side_inputs.get("attribution_delta")
        if delta is None:
            return value
        return value + delta[{"layer": self.layer}]


def with_deltas(model, site: str):
    """A copy of `model` adding the "attribution_delta" side input (stacked on "layer") after every site."""
    sited = patching.with_sites(model, site)
    return pz.select(sited).at_instances_of(patching.PatchSite).apply(lambda p: _AddDelta(p.layer))


@pz.pytree_dataclass
class _MixEmbeddings(pz.nn.Layer):
    """value + mix_alpha * (mix_embeddings - value): the input embeddings moved toward another prompt's."""

    def __call__(self, value: pz.nx.NamedArray, /, **side_inputs) -> pz.nx.NamedArray:
        other = side_inputs.get("mix_embeddings")
        if other is None:
            return value
        return value + side_inputs["mix_alpha"] * (other - value)


def metric_gradient(
    model,
    site: str,
    tokens: pz.nx.NamedArray,
    metric: Callable[[pz.nx.NamedArray], pz.nx.NamedArray],
    toward_tokens: pz.nx.NamedArray | None = None,
    alpha: float = 0.0,
) -> pz.nx.NamedArray:
    """d metric / d activation at every instance of `site` on `tokens`, stacked on "layer".

    `metric` maps logits to a per-prompt {batch} value. It is summed over the batch before
    differentiating; prompts do not interact, so row b of the gradient is the gradient of metric[b].
    With `toward_tokens`, the input embeddings are first moved a fraction `alpha` of the way to those of
    `toward_tokens` (a point on the integrated-gradients path).
    """
    frozen = pz.freeze_params(model)
    mixing = pz.select(with_deltas(frozen, site)).at_instances_of(pz.nn.EmbeddingLookup).insert_after(_MixEmbeddings())
    toward = None
    if toward_tokens is not None:
        toward = pz.select(frozen).at_instances_of(pz.nn.EmbeddingLookup).get_sequence()[0](toward_tokens)
    return _gradient(mixing, frozen, tokens, site, metric, toward, jnp.asarray(alpha, jnp.float32))


@functools.partial(jax.jit, static_argnames=("site", "metric"))
def _gradient(mixing_model, frozen, tokens, site, metric, toward, alpha):
    delta0 = pz.nx.nmap(jnp.zeros_like)(patching.capture(frozen, tokens, site))
    side = {} if toward is None else {"mix_embeddings": toward, "mix_alpha": alpha}

    def total(delta):
        value = metric(mixing_model(tokens, attribution_delta=delta, **side))
        return jnp.sum(value.unwrap(*value.named_shape))

    return jax.grad(total)(delta0)


def attribution_patching(
    model,
    site: str,
    source_tokens: pz.nx.NamedArray,
    target_tokens: pz.nx.NamedArray,
    metric: Callable[[pz.nx.NamedArray], pz.nx.NamedArray],
    steps: int = 1,
) -> pz.nx.NamedArray:
    """Estimated change of `metric` when each component of `site` is patched from source into target.

    Same arguments as `patching.activation_patching`, except that `metric` must return exactly {batch}
    (no "sweep" axis is added). Returns {layer, seq, heads..., batch}: the estimated *change*
    metric(patched) - metric(target); add `metric(model(target_tokens))` to compare with the values that
    `activation_patching` returns.

    steps = 1 is attribution patching (the gradient at the target run). steps > 1 averages the gradient
    over `steps` points (midpoints) of the straight path from the target's input embeddings to the
    source's, as EAP-IG does (Hanna, Pezzelle & Belinkov 2024, "Have faith in faithfulness"): `steps`
    times the cost, and much closer to exact patching where effects are large (the first-order estimate
    saturates; see tests/mech/test_attribution_and_ablation.py for measured correlations).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    source = patching.capture(model, source_tokens, site)
    target = patching.capture(model, target_tokens, site)
    if steps == 1:
        grad = metric_gradient(model, site, target_tokens, metric)
    else:
        points = [
            metric_gradient(model, site, target_tokens, metric, source_tokens, (k + 0.5) / steps) for k in range(steps)
        ]
        grad = sum(points[1:], points[0]) / steps
    axes = patching.component_axes(source)
    summed = [name for name in source.named_shape if name not in axes and name != "batch"]
    product = (source - target) * grad
    effect = pz.nx.nmap(jnp.sum)(product.untag_prefix(*summed)) if summed else product
    return effect.order_as(*axes, "batch")
