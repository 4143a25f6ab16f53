"""The ASAPNet/SPADE training step: first-step losses recomputed by hand, learning on a synthetic label->image
pair, one trace, data-parallel parity on 4 CPU devices, NaN stop and checkpoint resume."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.checkpoint import StepCheckpoints
from jaxinterp.errors import InputError, NonFiniteLossError
from jaxinterp.gen.asapnet.discriminator import MultiscaleDiscriminator, discriminate
from jaxinterp.gen.asapnet.losses import feature_matching_loss, hinge_d_loss, hinge_g_loss, vgg_loss
from jaxinterp.gen.asapnet.train import (
    TrainConfig,
    data_mesh,
    fit,
    init_state,
    make_train_step,
    replicate,
    shard_batch,
)
from jaxinterp.gen.asapnet.vgg import PerceptualNet, VGG19Features
from tests.compiles import count_compiles

H, W, K = 16, 32, 3
PALETTE = np.array([[0.8, -0.6, 0.2], [-0.7, 0.5, 0.9], [0.1, 0.9, -0.8]], np.float32)
SHIFTS = (0, 8, 16, 24)  # every batch has 4 examples (one per forced CPU device): one compiled step serves all
# Tiny D (ndf 4); lr_G raised from the official 1e-4 so that 60 steps visibly learn the colouring (L1 ~0.6 -> ~0.2).
CFG = TrainConfig(ndf=4, lr_g=2e-3, lr_d=4e-4, niter=1000, niter_decay=0)


class TinyGenerator(nn.Module):
    """Conv3x3(8) -> ReLU -> Conv1x1(3) -> tanh: can learn a per-label colouring."""

    @nn.compact
    def __call__(self, labels):
        return jnp.tanh(nn.Conv(3, (1, 1))(nn.relu(nn.Conv(8, (3, 3))(labels))))


def pair(shift: int = 0):
    """A fixed label map (blocks of 3 classes, rolled by `shift`) and its colouring."""
    y, x = np.mgrid[:H, :W]
    label = np.roll((y // 8 + x // 8) % K, shift, axis=1)
    return np.eye(K, dtype=np.float32)[label], PALETTE[label]


def batch_of(shifts):
    labels, images = zip(*(pair(s) for s in shifts), strict=True)
    return {"labels": jnp.asarray(np.stack(labels)), "image": jnp.asarray(np.stack(images))}


def copy(tree):
    return jax.tree_util.tree_map(jnp.array, tree)


@pytest.fixture(scope="module")
def setup():
    """One initial state and one compiled step (with a tiny random VGG) shared by the tests; each test copies
    the state, since steps donate it."""
    gen = TinyGenerator()
    vgg_module = VGG19Features(widths=(2, 3, 3, 4, 4))
    shapes = jax.eval_shape(vgg_module.init, jax.random.PRNGKey(5), jnp.zeros((1, H, W, 3)))
    rng = np.random.default_rng(5)  # numpy draws: random initialisers are slow to compile on CPU
    vgg = PerceptualNet(vgg_module, jax.tree_util.tree_map(lambda x: rng.normal(0, 0.3, x.shape).astype("f4"), shapes))
    state = init_state(gen, CFG, batch_of(SHIFTS), jax.random.PRNGKey(0))
    return gen, vgg, jax.device_get(state), make_train_step(gen, CFG, vgg=vgg)


def test_first_step_metrics_equal_losses_recomputed_by_hand_in_upstream_order(setup):
    gen, vgg, before, step = setup
    batch = batch_of([5, 6, 7, 9])
    new, metrics = step(copy(before), batch, jax.random.PRNGKey(2))
    disc = MultiscaleDiscriminator(CFG.num_d, CFG.n_layers_d, CFG.ndf)

    @jax.jit
    def by_hand(labels, real, new_g_vars):
        def g_losses(g_params):
            fake = gen.apply({"params": g_params}, labels)
            fp, rp, spectral = discriminate(disc, before.d_params, before.d_spectral, labels, fake, real)
            terms = {
                "g_gan": hinge_g_loss(fp),
                "g_feat": feature_matching_loss(fp, rp, 10.0),
                "g_vgg": vgg_loss(vgg(fake), vgg(real), 10.0),
                "l1": jnp.mean(jnp.abs(fake - real)),
            }
            return terms["g_gan"] + terms["g_feat"] + terms["g_vgg"], (terms, spectral)

        g_grads, (terms, spectral) = jax.grad(g_losses, has_aux=True)(before.g_vars["params"])

        # D step: scored on the fake of the *updated* G, after the G step's power iteration.
        def d_loss(d_params):
            new_fake = gen.apply(new_g_vars, labels)
            fp2, rp2, spectral2 = discriminate(disc, d_params, spectral, labels, new_fake, real)
            return hinge_d_loss(rp2, fp2), spectral2

        (terms["d_loss"], spectral2), d_grads = jax.value_and_grad(d_loss, has_aux=True)(before.d_params)
        return terms, spectral2, g_grads, d_grads

    expected, spectral2, g_grads, d_grads = by_hand(batch["labels"], batch["image"], new.g_vars)
    assert set(metrics) == set(expected)
    for k in expected:
        np.testing.assert_allclose(metrics[k], expected[k], rtol=1e-4, atol=1e-6, err_msg=k)
    assert float(metrics["g_vgg"]) > 0
    # beta1 = 0, so Adam's first moment after one step is the gradient itself.
    chex.assert_trees_all_close(new.g_opt[0].mu, g_grads, rtol=1e-4, atol=1e-7)
    chex.assert_trees_all_close(new.d_opt[0].mu, d_grads, rtol=1e-4, atol=1e-7)
    chex.assert_trees_all_close(new.d_spectral, spectral2, atol=1e-5)
    assert int(new.step) == 1


def test_training_lowers_l1_to_the_target_and_traces_once(setup):
    _, _, state0, step = setup
    batch = batch_of(SHIFTS)
    state, first = fit(copy(state0), lambda i: batch, 1, step_fn=step, show_progress=False)
    with count_compiles() as compiles:  # steps 2-60 reuse the step compiled for step 1
        state, history = fit(state, lambda i: batch, 60, step_fn=step, show_progress=False)
    history = first + history
    l1 = np.array([m["l1"] for m in history])
    assert len(l1) == 60 and int(state.step) == 60
    assert l1[-5:].mean() < 0.6 * l1[:5].mean(), l1
    assert all(np.isfinite(list(m.values())).all() for m in history)
    assert compiles == []


def test_data_parallel_step_matches_single_device(setup):
    gen, vgg, state0, step = setup
    batch = batch_of([0, 3, 8, 11])  # one example per device
    mesh = data_mesh()
    assert mesh.size == 4  # tests/conftest.py forces 4 CPU devices
    single, m_single = step(copy(state0), batch, jax.random.PRNGKey(0))
    sharded_step = make_train_step(gen, CFG, vgg=vgg, mesh=mesh)
    sharded_batch = shard_batch(batch, mesh)
    assert len(sharded_batch["image"].sharding.device_set) == 4
    sharded, m_sharded = sharded_step(replicate(copy(state0), mesh), sharded_batch, jax.random.PRNGKey(0))
    assert sharded.g_vars["params"]["Conv_0"]["kernel"].sharding.is_fully_replicated
    for k in m_single:
        np.testing.assert_allclose(m_single[k], m_sharded[k], atol=1e-5, rtol=1e-5, err_msg=k)
    # beta1 = 0, so Adam's first moment after one step is the gradient itself.
    for opt in ("g_opt", "d_opt"):
        chex.assert_trees_all_close(getattr(single, opt)[0].mu, getattr(sharded, opt)[0].mu, atol=1e-6, rtol=1e-4)
    # New parameters agree, except the biases of the D score maps: while every score is inside the hinge margin
    # their gradient is exactly 0 (= -mean(1) + mean(1)), and Adam (g / (sqrt(v) + eps)) blows the rounding
    # noise of the sharded sums up to ~lr; their gradients are compared above.
    chex.assert_trees_all_close(single.g_vars, sharded.g_vars, atol=1e-5, rtol=1e-5)
    for i in range(CFG.num_d):
        final = f"Conv_{CFG.n_layers_d}"
        for d in (single, sharded):
            d.d_params[f"d{i}"][final]["bias"] = 0.0 * d.d_params[f"d{i}"][final]["bias"]
    chex.assert_trees_all_close(single.d_params, sharded.d_params, atol=1e-5, rtol=1e-5)
    chex.assert_trees_all_close(single.d_spectral, sharded.d_spectral, atol=1e-5, rtol=1e-5)
    with pytest.raises(InputError, match="divisible"):
        shard_batch(batch_of([0, 1, 2]), mesh)


def test_resume_after_interrupt_continues_to_the_same_params(setup, tmp_path):
    _, _, state0, step = setup
    batches = {i: batch_of([i, i + 1, i + 2, i + 3]) for i in range(6)}  # a different batch at every step

    full, _ = fit(copy(state0), batches.__getitem__, 6, step_fn=step, show_progress=False)

    def interrupted(i):
        if i == 4:
            raise KeyboardInterrupt
        return batches[i]

    with pytest.raises(KeyboardInterrupt):
        fit(copy(state0), interrupted, 6, step_fn=step, checkpoint_dir=tmp_path, checkpoint_every=3, show_progress=0)
    checkpoints = StepCheckpoints(tmp_path)
    assert checkpoints.latest_step() == 4  # every 3 steps, and on Ctrl-C
    assert sorted(int(p.name) for p in tmp_path.iterdir() if p.name.isdigit()) == [3, 4]

    resumed, history = fit(
        copy(state0), batches.__getitem__, 6, step_fn=step, checkpoint_dir=tmp_path, show_progress=False
    )
    assert len(history) == 2 and int(resumed.step) == 6
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(resumed), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_non_finite_loss_stops_with_the_step(setup):
    _, _, state0, step = setup
    bad = batch_of(SHIFTS)
    bad["image"] = bad["image"].at[0, 0, 0, 0].set(jnp.nan)
    with pytest.raises(NonFiniteLossError, match=r"at training step 1\b"):
        fit(copy(state0), lambda i: bad, 3, step_fn=step, show_progress=False)


def test_tiny_asapnet_trains_a_step():
    from jaxinterp.gen.asapnet.generator import make_generator

    gen = make_generator("asapnet", K, 32, 64, lr_width=16, lr_max_width=32, lr_depth=1, hr_width=16, hr_depth=3)
    rng = np.random.default_rng(0)
    labels = np.eye(K, dtype=np.float32)[rng.integers(0, K, size=(2, 32, 64))]
    batch = {"labels": jnp.asarray(labels), "image": jnp.asarray(rng.uniform(-1, 1, (2, 32, 64, 3)), jnp.float32)}
    state = init_state(gen, CFG, batch, jax.random.PRNGKey(0))
    before = jax.device_get(state)
    new, history = fit(state, lambda i: batch, 2, step_fn=make_train_step(gen, CFG), show_progress=False)
    assert int(new.step) == 2 and all(np.isfinite(v) for m in history for v in m.values())
    assert all(m["g_vgg"] == 0.0 for m in history)  # no VGG weights: the term is dropped
    changed = jax.tree_util.tree_map(lambda a, b: bool(np.any(np.asarray(a) != b)), new.g_vars, before.g_vars)
    assert all(jax.tree_util.tree_leaves(changed))  # every generator parameter got a gradient
