"""mech/circuits/dcm.py: exact limits of the DCM masks, recovery of planted components by both variants, one
compile per step across runs, and NaN losses stopping with `NonFiniteLossError`."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz

from jaxinterp.errors import NonFiniteLossError
from jaxinterp.mech import patching
from jaxinterp.mech.circuits import dcm
from tests.compiles import count_compiles
from tests.mech.tiny_models import tiny_llama

GROUP = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]  # every head of tiny_llama(3, 1)
PLANTED_HEADS = [(0, 1), (1, 2)]
capture = jax.jit(patching.capture, static_argnames="site")  # the references run compiled too (eager is slow)
patched_logits = jax.jit(patching.patched_logits)
call = jax.jit(lambda model, tokens, **side_inputs: model(tokens, **side_inputs))


def prompts(seed, n, length):
    rng = np.random.default_rng(seed)
    return rng.integers(3, 37, (n, length)).astype(np.int32)


def last_logits(logits):
    return np.asarray(logits[{"seq": -1}].unwrap("batch", "vocabulary"))


def head_patch_by_where(model, base, source, heads, base_positions, source_positions):
    """Reference: the boolean `where` patch of `patching`, source and mask built with numpy indexing."""
    captured = capture(model, pz.nx.wrap(jnp.asarray(source)).tag("batch", "seq"), "head_out")
    axes = patching.component_axes(captured)
    head_axes = [name for name in axes if name not in ("layer", "seq")]
    values = np.asarray(captured.unwrap("layer", "batch", "seq", *head_axes, "projection"))
    per_group = axes.get("query_heads", 1)
    full = np.zeros((values.shape[0], base.shape[0], base.shape[1], *values.shape[3:]), values.dtype)
    mask = np.zeros(full.shape[:-1], bool)
    for b in range(base.shape[0]):
        for layer, head in heads:
            index = (head,) if len(head_axes) == 1 else divmod(head, per_group)
            full[(layer, b, base_positions[b], *index)] = values[(layer, b, source_positions[b], *index)]
            mask[(layer, b, base_positions[b], *index)] = True
    logits = patched_logits(
        patching.with_sites(model, "head_out"),
        pz.nx.wrap(jnp.asarray(base)).tag("batch", "seq"),
        pz.nx.wrap(jnp.asarray(full)).tag("layer", "batch", "seq", *head_axes, "projection"),
        pz.nx.wrap(jnp.asarray(mask)).tag("layer", "batch", "seq", *head_axes),
    )
    return last_logits(logits)


def test_mask_of_ones_is_the_base_run_and_zeros_the_boolean_group_patch():
    """Grouped-query model (flat head = group * 2 + query head), per-prompt positions, a longer source."""
    model = pz.freeze_params(tiny_llama(2, 2))  # parameters as arrays: the model is a jit argument
    base, source = prompts(1, 4, 6), prompts(2, 4, 8)
    base_positions, source_positions = np.array([5, 2, 4, 3]), np.array([1, 7, 4, 6])
    heads = [(0, 3), (1, 0), (1, 2)]
    args = (model, base, source, heads, base_positions, source_positions)
    ones = dcm.group_logits(*args, np.ones(3, np.float32))
    unpatched = last_logits(model(pz.nx.wrap(jnp.asarray(base)).tag("batch", "seq")))
    np.testing.assert_allclose(ones, unpatched, rtol=0, atol=1e-6)
    zeros = dcm.group_logits(*args, np.zeros(3, np.float32))
    reference = head_patch_by_where(*args)
    np.testing.assert_allclose(zeros, reference, rtol=0, atol=1e-6)
    assert np.abs(reference - unpatched).max() > 1e-2  # the patch matters: the comparison is not vacuous
    # Source weights in between move the logits continuously between the two.
    half = dcm.group_logits(*args, np.full(3, 0.5, np.float32))
    assert 0 < np.abs(half - unpatched).max() < np.abs(reference - unpatched).max()


def test_dcm_group_recovers_planted_heads():
    """Targets = the model's answer with two planted heads of six patched at the last token."""
    model = pz.freeze_params(tiny_llama(3, 1))  # parameters as arrays: the model is a jit argument
    n, length = 384, 6  # 192 training prompts: 6 steps of 32 per epoch, 12 in all
    base, source = prompts(10, n, length), prompts(11, n, length)
    last = np.full(n, length - 1)
    targets = head_patch_by_where(model, base, source, PLANTED_HEADS, last, last).argmax(-1)
    unpatched = dcm.evaluate_group(model, base, source, targets, GROUP, [], last, last)
    assert unpatched < 0.5  # most targets differ from the base answer

    result = dcm.dcm_group(model, base, source, targets, GROUP, last, last, seed=0)
    assert set(PLANTED_HEADS) <= set(result.heads)
    assert len(result.heads) <= len(PLANTED_HEADS) + 1  # the sparsity term keeps the others unpatched
    assert result.test_accuracy >= 0.9 and result.eval_accuracy >= 0.9
    assert result.mask.shape == (len(GROUP),) and np.all((result.mask >= 0) & (result.mask <= 1))
    assert len(result.losses) == 2 * (n // 2 // 32) and result.losses[-1] < result.losses[0]

    fresh_base, fresh_source = prompts(12, 64, length), prompts(13, 64, length)
    fresh_last = np.full(64, length - 1)
    fresh_targets = head_patch_by_where(model, fresh_base, fresh_source, PLANTED_HEADS, fresh_last, fresh_last)
    fresh = (fresh_base, fresh_source, fresh_targets.argmax(-1), GROUP)
    assert dcm.evaluate_group(model, *fresh, result.heads, fresh_last, fresh_last) >= 0.9
    assert dcm.evaluate_group(model, *fresh, [], fresh_last, fresh_last) < 0.5


def binding_answers(model, base, source, head, mlp):
    """Reference answers: argmax with `head` and the MLP of layer `mlp` patched at the last token (boolean)."""
    sited = patching.with_sites(patching.with_sites(model, "head_out", "h"), "mlp_out", "m")
    named_base, named_source = (pz.nx.wrap(jnp.asarray(t)).tag("batch", "seq") for t in (base, source))
    heads, mlps = capture(model, named_source, "head_out"), capture(model, named_source, "mlp_out")
    layers, length = heads.named_shape["layer"], base.shape[1]
    head_mask = np.zeros((layers, length, heads.named_shape["heads"]), bool)
    head_mask[head[0], -1, head[1]] = True
    mlp_mask = np.zeros((layers, length), bool)
    mlp_mask[mlp, -1] = True
    logits = call(
        sited,
        named_base,
        h_source=heads,
        h_mask=pz.nx.wrap(jnp.asarray(head_mask)).tag("layer", "seq", "heads"),
        m_source=mlps,
        m_mask=pz.nx.wrap(jnp.asarray(mlp_mask)).tag("layer", "seq"),
    )
    plain, own = (last_logits(call(model, t)) for t in (named_base, named_source))
    return last_logits(logits).argmax(-1), plain.argmax(-1), own


def planted_pairs(model, seed, n, length=6):
    """Value pairs: the planted components switch the answer (source answer = the patched one). Operation
    pairs: they leave it alone although the source prompt's own answer differs."""
    base, source = prompts(seed, 8 * n, length), prompts(seed + 1, 8 * n, length)
    patched, plain, source_logits = binding_answers(model, base, source, (1, 1), 0)
    own = source_logits.argmax(-1)
    value = np.flatnonzero(patched != plain)[:n]
    operation = np.flatnonzero((patched == plain) & (own != plain))[:n]
    assert len(value) == n and len(operation) == n
    return (
        (base[value], source[value], plain[value], patched[value]),
        (base[operation], source[operation], plain[operation], own[operation]),
    )


def test_dcm_variable_binding_recovers_a_planted_head_and_mlp():
    model = pz.freeze_params(tiny_llama(3, 1))  # parameters as arrays: the model is a jit argument
    value_pairs, operation_pairs = planted_pairs(model, 20, 64)
    result = dcm.dcm_variable_binding(model, value_pairs, operation_pairs)
    assert (1, 1) in result.heads and 0 in result.mlps
    assert len(result.heads) + len(result.mlps) <= 3  # of 8 components
    assert result.value_accuracy >= 0.9 and result.invariance_accuracy >= 0.9
    assert result.head_mask.shape == (2, 3) and result.mlp_mask.shape == (2,)
    assert result.losses["value"][-1] < result.losses["value"][0]

    fresh_value, fresh_operation = planted_pairs(model, 30, 32)
    found = dcm.evaluate_binding(model, fresh_value, fresh_operation, result.heads, result.mlps)
    assert found["value"] >= 0.9 and found["invariance"] >= 0.9
    nothing = dcm.evaluate_binding(model, fresh_value, fresh_operation, [], [])
    assert nothing == {"value": 0.0, "invariance": 1.0}  # by construction: the desiderata need the patch


def _random_pairs(seed, n=8, length=5):
    rng = np.random.default_rng(seed)
    return (prompts(seed, n, length), prompts(seed + 1, n, length), *rng.integers(3, 37, (2, n)).astype(np.int32))


def test_repeated_runs_reuse_the_compiled_steps():
    """Both variants' steps are module-level compiled functions: a second run with the same shapes compiles
    nothing new (the binding step used to be jitted inside its factory, once per call)."""
    model = pz.freeze_params(tiny_llama(3, 1))
    base, source = prompts(40, 16, 5), prompts(41, 16, 5)
    last, targets = np.full(16, 4), np.random.default_rng(0).integers(3, 37, 16)
    group_args = (model, base, source, targets, GROUP, last, last)
    dcm.dcm_group(*group_args, batch_size=4, epochs=1)
    binding_args = (model, _random_pairs(42), _random_pairs(44))
    dcm.dcm_variable_binding(*binding_args, iterations=2)
    with count_compiles() as compiles:
        dcm.dcm_group(*group_args, batch_size=4, epochs=1, seed=1, sparsity=0.02)
        dcm.dcm_variable_binding(*binding_args, iterations=3, sparsity=0.05)
    assert compiles == []


def test_non_finite_losses_stop_both_variants_with_the_step():
    model = pz.freeze_params(tiny_llama(3, 1))
    base, source = prompts(40, 16, 5), prompts(41, 16, 5)
    last, targets = np.full(16, 4), np.random.default_rng(0).integers(3, 37, 16)
    # A NaN sparsity weight makes the very first loss NaN.
    with pytest.raises(NonFiniteLossError, match=r"loss at DCM group step 1\b"):
        dcm.dcm_group(model, base, source, targets, GROUP, last, last, batch_size=4, sparsity=float("nan"))
    # The first value loss is finite (the mask starts at 1); the NaN update poisons the invariance loss after it.
    with pytest.raises(NonFiniteLossError, match=r"invariance at DCM variable binding step 1\b"):
        dcm.dcm_variable_binding(model, _random_pairs(42), _random_pairs(44), iterations=4, sparsity=float("nan"))
