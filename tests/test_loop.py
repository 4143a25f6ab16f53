"""The shared fit loop: loss goes down, resume replays exactly, NaN stops with the right step, no bad saves,
scanned calls equal single steps, one compile."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxinterp.checkpoint import StepCheckpoints
from jaxinterp.errors import NonFiniteLossError
from jaxinterp.loop import Checkpointing, fit, history_rows, jit_step, scanned

TARGET = np.linspace(-1.0, 1.0, 8).astype(np.float32)
TX = optax.sgd(1.0)


def batch_for(i: int) -> np.ndarray:
    """A batch that depends on the step index only (noisy targets)."""
    return TARGET + 0.01 * np.random.default_rng(i).standard_normal(8).astype(np.float32)


def _step(state, batch, rng):
    noise = 1e-3 * jax.random.normal(jax.random.fold_in(rng, state["step"]), batch.shape)

    def loss_fn(w):
        return jnp.mean((w - batch - noise) ** 2)

    loss, grad = jax.value_and_grad(loss_fn)(state["w"])
    updates, opt = TX.update(grad, state["opt"])
    return {"w": optax.apply_updates(state["w"], updates), "opt": opt, "step": state["step"] + 1}, {"loss": loss}


def initial():
    w = jnp.zeros(8)
    return {"w": w, "opt": TX.init(w), "step": jnp.zeros((), jnp.int32)}


def test_loss_goes_down_and_history_has_every_step():
    step = jit_step(chex.assert_max_traces(_step, n=1))
    state, history = fit(step, initial(), 60, batch_for=batch_for, rng=jax.random.key(0), log_every=7)
    chex.assert_shape(history["loss"], (60,))
    assert history["loss"][-1] < 0.01 * history["loss"][0]
    assert int(state["step"]) == 60
    assert len(history_rows(history)) == 60


def test_interrupt_and_resume_replays_the_uninterrupted_run(tmp_path):
    step = jit_step(_step)
    want, _ = fit(step, initial(), 40, batch_for=batch_for, rng=jax.random.key(1))

    def interrupt_at_23(done, state):
        if done == 23:
            raise KeyboardInterrupt

    ckpt = Checkpointing(StepCheckpoints(tmp_path / "ckpt"), every=10)

    def run(**hooks):  # a fresh initial state each time: the step donates it
        return fit(step, initial(), 40, batch_for=batch_for, rng=jax.random.key(1), checkpointing=ckpt, **hooks)

    with pytest.raises(KeyboardInterrupt):
        run(after_call=interrupt_at_23)
    assert ckpt.checkpoints.latest_step() == 23
    resumed_from = []
    got, history = run(progress=lambda done, adv, text: resumed_from.append(done))
    assert resumed_from[0] == 23 and len(history["loss"]) == 17
    np.testing.assert_array_equal(np.asarray(got["w"]), np.asarray(want["w"]))


def test_non_finite_names_the_first_bad_step_and_keeps_the_last_good_checkpoint(tmp_path):
    def poisoned(state, batch, rng):
        state, metrics = _step(state, batch, rng)
        return state, {"loss": jnp.where(state["step"] >= 13, jnp.nan, metrics["loss"])}

    ckpt = Checkpointing(StepCheckpoints(tmp_path / "ckpt"), every=5)
    with pytest.raises(NonFiniteLossError, match=r"loss at demo step 13\b.*step 10 in"):
        fit(
            jit_step(poisoned),
            initial(),
            40,
            batch_for=batch_for,
            rng=jax.random.key(0),
            checkpointing=ckpt,
            label="demo",
        )
    assert ckpt.checkpoints.latest_step() == 10  # the save at 15 came after the NaN: never written


def test_describe_names_the_model_of_a_stack():
    def stacked(state, batch, rng):
        return state + 1, {"loss": jnp.where((state >= 2) & (jnp.arange(3) == 1), jnp.inf, 0.0)}

    with pytest.raises(NonFiniteLossError, match=r"step 3 \(model 1\)"):
        fit(jit_step(stacked), jnp.zeros(3), 10, describe=lambda index: f"model {index[0]}")


def test_scanned_calls_equal_single_steps():
    single, h1 = fit(jit_step(_step), initial(), 12, batch_for=lambda i: TARGET, rng=jax.random.key(2))
    chunked, h4 = fit(
        jit_step(scanned(_step, 4)), initial(), 12, batch_for=lambda i: TARGET, rng=jax.random.key(2), steps_per_call=4
    )
    np.testing.assert_allclose(np.asarray(chunked["w"]), np.asarray(single["w"]), rtol=1e-6)
    np.testing.assert_allclose(h4["loss"], h1["loss"], rtol=1e-5)


def test_after_call_stops_early():
    state, history = fit(
        jit_step(_step), initial(), 100, batch_for=batch_for, rng=jax.random.key(0), after_call=lambda d, s: d >= 9
    )
    assert int(state["step"]) == 9 and len(history["loss"]) == 9


def test_remainder_step_finishes_a_total_that_is_not_a_multiple_of_the_call():
    single, h1 = fit(jit_step(_step), initial(), 11, batch_for=lambda i: TARGET, rng=jax.random.key(3))
    calls = []
    chunked, h4 = fit(
        jit_step(scanned(_step, 4)),
        initial(),
        11,
        batch_for=lambda i: TARGET,
        rng=jax.random.key(3),
        steps_per_call=4,
        remainder_step=jit_step(_step),
        progress=lambda done, advanced, text: calls.append(advanced),
    )
    assert int(chunked["step"]) == 11 and calls == [0, 4, 4, 1, 1, 1]
    np.testing.assert_allclose(np.asarray(chunked["w"]), np.asarray(single["w"]), rtol=1e-6)
    np.testing.assert_allclose(h4["loss"], h1["loss"], rtol=1e-5)


def test_progress_bar_keeps_the_last_text_between_log_steps(monkeypatch):
    import jaxinterp.loop as loop

    updates = []

    class Recording(loop.Progress):
        def update(self, task, **fields):
            updates.append(fields)
            super().update(task, **fields)

    monkeypatch.setattr(loop, "Progress", Recording)
    with loop.progress_bar(10, "demo", show=False) as report:
        report(3, 3, "loss 0.5")
        report(4, 1, None)
    assert updates == [{"completed": 3, "description": "demo loss 0.5"}, {"completed": 4}]
