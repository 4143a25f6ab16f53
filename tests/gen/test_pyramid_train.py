"""The shared pyramid trainer on a toy recipe (a noisy pull of a vector towards its input, per scale): the
run set-up of `train_run`, chunked calls (the GPU path: a `lax.scan` per call, sharded over devices, the
remainder one by one) replaying single calls, metrics rows, resume, and the non-finite stop's message."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.errors import InputError, NonFiniteLossError
from jaxinterp.gen import pyramid_store, pyramid_train
from jaxinterp.mesh import models_mesh, shard_models


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    niter: int = 10
    iters_per_call: int = 5
    checkpoint_every: int = 5
    seed: int = 0
    poison: int = -1  # the model index whose loss turns NaN from iteration 7 on (-1: none)


@dataclasses.dataclass(frozen=True)
class Spec:
    scale: int


@dataclasses.dataclass(frozen=True)
class ToyRecipe:
    """`pyramid_train.Recipe`: w moves 20% of the way to (real + the coarser scales' w) per iteration,
    plus noise drawn from fold_in(model key, iteration)."""

    cfg: ToyConfig
    metric_names = ("loss", "noise")

    @property
    def niter(self) -> int:
        return self.cfg.niter

    def warm_start(self, scale: int) -> bool:
        return False

    def init_state(self, spec, key, warm):
        return {"w": jnp.zeros(3), "step": jnp.zeros((), jnp.int32)}

    def scale_data(self, spec, real, frozen, key):
        return {"target": real + sum((f["w"] for f in frozen), jnp.zeros(3)), "index": real[0]}

    def iteration(self, spec, state, data, frozen, model_key):
        noise = 0.01 * jax.random.normal(jax.random.fold_in(model_key, state["step"]), (3,))
        w = state["w"] + 0.2 * (data["target"] - state["w"]) + noise
        loss = jnp.mean((w - data["target"]) ** 2)
        bad = (data["index"] == self.cfg.poison) & (state["step"] >= 6)
        return {"w": w, "step": state["step"] + 1}, {"loss": jnp.where(bad, jnp.nan, loss), "noise": noise[0]}

    def record(self, spec, state, data, model_keys):
        return {"w": state["w"]}

    def frozen_view(self, record):
        return record


def _train(tmp_path, cfg, count=8, on_chunk=None, resume=False):
    """A run of `count` toy members (input i = [i, 0, 0]), 2 scales each, all in one group."""
    run_dirs = [tmp_path / f"m{i}" for i in range(count)]

    def write(i):
        pyramid_store.write_run_json(run_dirs[i], "toy", cfg, {}, {"input": i})
        return [np.array([i, 0.0, 0.0], np.float32)] * 2

    pyramid_train.train_run(
        "toy",
        cfg,
        run_dirs,
        check=lambda i: None,
        write=write,
        plan=lambda i: pyramid_train.Plan(((ToyRecipe(cfg), 2),), Spec),
        group=lambda i: "all",
        resume=resume,
        show_progress=False,
        on_chunk=on_chunk,
    )
    return [[pyramid_store.load_scale(d, n)["w"] for n in range(2)] for d in run_dirs]


def test_compiled_chunk_puts_iterations_first_over_sharded_models():
    """8 models over 4 devices (2 each: the vmap path): 3 iterations in one call give [3, 8] metrics, the
    same as 3 calls of one iteration ([8] each)."""
    recipe, spec, mesh = ToyRecipe(ToyConfig()), Spec(0), models_mesh(8)
    assert mesh.size == 4
    state = shard_models(pyramid_train.stack([recipe.init_state(spec, None, None)] * 8), mesh)
    data = shard_models({"target": np.ones((8, 3), np.float32), "index": np.arange(8.0)}, mesh)
    keys = shard_models(np.stack([np.asarray(jax.random.PRNGKey(i)) for i in range(8)]), mesh)
    chunked, metrics = pyramid_train.compiled_chunk(recipe, spec, 3, mesh)(state, data, [], keys)
    assert metrics["loss"].shape == (3, 8)
    single = state
    for i in range(3):
        single, m = pyramid_train.compiled_chunk(recipe, spec, 1, mesh)(single, data, [], keys)
        assert m["loss"].shape == (8,)
        np.testing.assert_allclose(m["noise"], metrics["noise"][i], rtol=1e-6)
    np.testing.assert_allclose(chunked["w"], single["w"], rtol=1e-6)


def test_chunks_with_a_remainder_replay_single_calls_and_log_every_iters_per_call(tmp_path, monkeypatch):
    cfg = ToyConfig(niter=12)
    single = _train(tmp_path / "single", cfg)  # on CPU: one iteration per call
    monkeypatch.setattr(pyramid_train, "iterations_per_call", lambda cfg: 5)  # the GPU path: 5, 5, 1, 1
    chunked = _train(tmp_path / "chunked", cfg)
    np.testing.assert_allclose(np.asarray(chunked), np.asarray(single), rtol=1e-5)
    for run in ("single", "chunked"):
        rows = [json.loads(line) for line in (tmp_path / run / "m3" / "metrics.jsonl").read_text().splitlines()]
        assert [(r["scale"], r["iteration"]) for r in rows] == [(0, 5), (0, 10), (0, 12), (1, 5), (1, 10), (1, 12)]
    # Each model trained towards its own input, on top of its own coarser scale.
    a = 0.8**12  # w_t = target (1 - 0.8^t) + noise; scale 1's target is the input plus scale 0's w
    np.testing.assert_allclose(np.asarray(single)[:, 1, 0], np.arange(8) * (2 - a) * (1 - a), atol=0.05)


def test_interrupted_and_resumed_run_equals_the_uninterrupted_one(tmp_path):
    cfg = ToyConfig()
    want = _train(tmp_path / "whole", cfg)

    def interrupt(scale, iteration):
        if (scale, iteration) == (1, 7):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "cut", cfg, on_chunk=interrupt)
    assert pyramid_store.finished_scales(tmp_path / "cut" / "m0") == 1
    with pytest.raises(InputError, match="--resume"):
        _train(tmp_path / "cut", cfg)
    got = _train(tmp_path / "cut", cfg, resume=True)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_non_finite_loss_names_the_model_scale_step_and_last_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError) as err:
        _train(tmp_path, ToyConfig(poison=5))
    message = str(err.value)
    assert "non-finite loss at scale 0, step 7 (" in message and str(tmp_path / "m5") in message
    assert "last good checkpoint: iteration 5 of this scale" in message
