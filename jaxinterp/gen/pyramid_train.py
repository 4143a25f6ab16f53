"""The coarse-to-fine trainer shared by the single-example GANs (SinGAN on images, Catch-A-Waveform on
audio; IDC and BlendGAN are meant to plug in the same way).

What is shared (one mechanism for every model):
  * the per-scale loop: scale n trains on top of the frozen scales 0..n-1 and, when the recipe says so,
    starts from scale n-1's weights (warm start);
  * one jit-compiled program per scale that runs a whole iteration (`Recipe.iteration`), for a stack
    of models with a leading `models` axis sharded over a device mesh (several inputs of the same
    pyramid geometry train at once); on GPU/TPU `iters_per_call` iterations run in one `lax.scan`;
  * the per-scale randomness: iteration i draws from fold_in(key(seed, scale, model), i), so any split
    into calls, and any interrupt + resume, replays the same numbers;
  * checkpoints: every finished scale goes to `<run>/scales/NN` (`pyramid_store`, never retrained by a
    resume); inside a scale the state is saved to the progress folder every `checkpoint_every`
    iterations and on Ctrl-C, and training resumes from there;
  * a NaN/Inf loss stops training with `NonFiniteLossError` naming the model, scale, iteration and the
    last good checkpoint; metrics go to `<run>/metrics.jsonl`, one row per `iters_per_call` iterations;
  * the run around it (`train_run`): run folders refused or checked against their config, run.json and
    the reals written, inputs of the same geometry grouped to train together, one progress bar.
Inside a scale the loop is the shared `jaxinterp.loop.fit`: metrics stay on the device and are read
back (and checked) every `iters_per_call` iterations, not after every compiled call.

What a model supplies is a `Recipe` (a frozen, hashable dataclass holding its config; it keys the
compiled programs): how to initialise a scale's state, what stays fixed while a scale trains
(`scale_data`: the real input, reconstruction noise and input, noise amplitude, masks ...), one
iteration as a pure function, and what a finished scale keeps; and to `train_run`, how its run folder
is checked and written. Nothing here depends on the number of
spatial dimensions: a scale's `spec` is any hashable description the recipe understands (it must have
a `.scale` index), and the real input of a scale may be any pytree (an image, a signal plus a mask).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec

from jaxinterp import loop
from jaxinterp.checkpoint import StepCheckpoints
from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_store as store
from jaxinterp.mesh import MODELS_AXIS, models_mesh, models_sharding, shard_models

# scale -> the progress callback that scale's `loop.fit` reports to.
ScaleProgress = Callable[[int], loop.ProgressCallback]


class Recipe(Protocol):
    """What a single-example pyramid GAN supplies to the shared trainer (see module docstring)."""

    cfg: Any  # has iters_per_call, checkpoint_every, seed
    metric_names: tuple[str, ...]

    @property
    def niter(self) -> int: ...  # iterations per scale

    def warm_start(self, scale: int) -> bool: ...

    def init_state(self, spec, key: jax.Array, warm: dict | None) -> dict: ...

    def scale_data(self, spec, real, frozen: list[dict], key: jax.Array, *extras) -> dict: ...

    def iteration(self, spec, state: dict, data: dict, frozen: list[dict], model_key) -> tuple[dict, dict]: ...

    def record(self, spec, state: dict, data: dict, model_keys: np.ndarray) -> dict: ...

    def frozen_view(self, record: dict) -> dict: ...


@functools.lru_cache(maxsize=64)
def jitted_initialisers(networks: Callable, cfg, scale: int, **init_kwargs) -> tuple[Callable, Callable]:
    """Jitted `init` of the G and D that `networks(cfg, scale)` builds, kept per (config, scale).

    Compiling an initialiser (mostly its random draws) costs seconds on CPU; without the cache every model
    of a group, and every run in one process, compiled its own copy (a 4-image SinGAN group: 4x).
    """
    generator, critic = networks(cfg, scale)
    return (
        jax.jit(functools.partial(generator.init, **init_kwargs)),
        jax.jit(functools.partial(critic.init, **init_kwargs)),
    )


def train_state(g_vars: dict, d_vars: dict, tx_g, tx_d) -> dict:
    """One scale's training state: G and D variables, their optimiser states and the iteration count."""
    return {
        "g": g_vars,
        "d": d_vars,
        "g_opt": tx_g.init(g_vars["params"]),
        "d_opt": tx_d.init(d_vars["params"]),
        "step": jnp.zeros((), jnp.int32),
    }


@dataclasses.dataclass(frozen=True)
class ConfigRecipe:
    """A `Recipe` built from a model's module functions that take its config first.

    Subclasses set `metric_names`, `niter_field` (the config field with the iterations per scale),
    `kept` (what a finished scale keeps from the scale data besides G and D), and the functions
    `init_fn(cfg, spec, key, warm)`, `data_fn(cfg, spec, real, frozen, key, *extras)` and
    `iteration_fn(cfg, spec, state, data, frozen, model_key)` (as staticmethods). The config must have
    `channels(scale)`: G_n and D_n start from G_{n-1}, D_{n-1} when their channel counts match.
    """

    cfg: Any
    metric_names: ClassVar[tuple[str, ...]] = ()
    niter_field: ClassVar[str] = "niter"
    kept: ClassVar[tuple[str, ...]] = ()
    init_fn: ClassVar[Callable]
    data_fn: ClassVar[Callable]
    iteration_fn: ClassVar[Callable]

    @property
    def niter(self) -> int:
        return getattr(self.cfg, self.niter_field)

    def warm_start(self, scale: int) -> bool:
        return self.cfg.channels(scale) == self.cfg.channels(scale - 1)

    def init_state(self, spec, key: jax.Array, warm: dict | None) -> dict:
        return self.init_fn(self.cfg, spec, key, warm)

    def scale_data(self, spec, real, frozen: list[dict], key: jax.Array, *extras) -> dict:
        return self.data_fn(self.cfg, spec, real, frozen, key, *extras)

    def iteration(self, spec, state: dict, data: dict, frozen: list[dict], model_key) -> tuple[dict, dict]:
        return self.iteration_fn(self.cfg, spec, state, data, frozen, model_key)

    def record(self, spec, state: dict, data: dict, model_keys: np.ndarray) -> dict:
        return {"g": state["g"], "d": state["d"], **{k: data[k] for k in self.kept}}

    @classmethod
    def frozen_view(cls, record: dict) -> dict:
        """The part of a finished scale that later scales need (the critic is dropped)."""
        return {"g": record["g"], **{k: record[k] for k in cls.kept}}


def run_cascade(
    apply_scale: Callable[[int, dict, Any, Any], Any],
    upsample: Callable[[int, Any], Any],
    scales: Sequence[dict],
    noises: Sequence[Any],
    prev: Any,
) -> Any:
    """Runs frozen scales coarse to fine: `prev` enters scale 0, each later scale i gets
    `upsample(i, output of scale i-1)`; scale i maps (its record, its noise, its input) with
    `apply_scale(i, scales[i], noises[i], x)`. Pure and jittable: the trainers call it inside their
    compiled step (a random input for the scale being trained) and the applications to generate.
    """
    x = prev
    for i, (scale, noise) in enumerate(zip(scales, noises, strict=True)):
        if i > 0:
            x = upsample(i, x)
        x = apply_scale(i, scale, noise, x)
    return x


def iterations_per_call(cfg) -> int:
    """How many iterations one compiled call runs: `cfg.iters_per_call` in a `lax.scan` on GPU/TPU,
    one on CPU, where XLA runs convolutions inside loops ~6-10x slower (measured on JAX 0.10, see
    bench/README.md); there a Python loop of calls costs < 1 ms per iteration."""
    return 1 if jax.default_backend() == "cpu" else cfg.iters_per_call


@functools.lru_cache(maxsize=64)
def compiled_chunk(recipe: Recipe, spec, length: int, mesh) -> Callable:
    """The program that trains one scale for `length` iterations, for a stack of models:
    (state, data, frozen, model keys) -> (state, metrics).

    Every leaf has a leading `models` axis, sharded over `mesh`; each device runs its own models
    (`shard_map`), a single one without `vmap` (so no grouped convolutions), several with it. Metrics come
    in the layout `loop.fit` reads, iterations first: [models] for one iteration, [length, models] else.
    """

    def one_model(state, data, frozen, model_key):
        if length == 1:
            return recipe.iteration(spec, state, data, frozen, model_key)

        def body(carry, _):
            return recipe.iteration(spec, carry, data, frozen, model_key)

        return jax.lax.scan(body, state, None, length=length)

    def local_models(state, data, frozen, model_keys):
        if model_keys.shape[0] == 1:
            squeeze = functools.partial(jax.tree_util.tree_map, lambda x: x[0])
            state, metrics = one_model(squeeze(state), squeeze(data), squeeze(frozen), model_keys[0])
            models_last = functools.partial(jax.tree_util.tree_map, lambda m: m[..., None])
            return jax.tree_util.tree_map(lambda x: x[None], state), models_last(metrics)
        state, metrics = jax.vmap(one_model)(state, data, frozen, model_keys)
        return state, jax.tree_util.tree_map(lambda m: jnp.moveaxis(m, 0, -1), metrics)

    if mesh.size == 1:
        # shard_map on one device made the CPU program ~20x slower (JAX 0.10): plain jit instead.
        # Outputs keep the inputs' sharding, so the next call hits the same compiled program.
        return jax.jit(local_models, out_shardings=models_sharding(mesh))
    spec_models = PartitionSpec(MODELS_AXIS)
    spec_metrics = spec_models if length == 1 else PartitionSpec(None, MODELS_AXIS)
    return jax.jit(
        jax.shard_map(
            local_models, mesh=mesh, in_specs=spec_models, out_specs=(spec_models, spec_metrics), check_vma=False
        )
    )


@functools.lru_cache(maxsize=64)
def compiled_scale_data(recipe: Recipe, spec, sharding) -> Callable:
    """`recipe.scale_data` for a stack of models: (reals, frozen, keys, *extras) -> data."""
    return jax.jit(jax.vmap(functools.partial(recipe.scale_data, spec)), out_shardings=sharding)


def stack(trees: Sequence) -> Any:
    """Stacks pytrees of the same structure on a new leading (models) axis, as host arrays."""
    return jax.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *trees)


def unstack(tree, count: int) -> list:
    return [jax.tree_util.tree_map(lambda x, i=i: np.asarray(x[i]), tree) for i in range(count)]


@dataclasses.dataclass
class Member:
    """One model of a group that trains together: where it lives, its real input per scale, and its
    position in the user's list (which seeds its randomness)."""

    run_dir: Path
    reals: list  # per scale; any pytree (image, signal, signal + mask)
    index: int


def unique_run_dirs(out: Path, inputs: Sequence[str]) -> list[Path]:
    """`out` for one input; `out/<stem>` (deduplicated) for several."""
    if len(inputs) == 1:
        return [out]
    dirs, seen = [], {}
    for source in inputs:
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(str(source).removeprefix("builtin:")).stem) or "input"
        seen[stem] = seen.get(stem, 0) + 1
        dirs.append(out / (stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"))
    return dirs


@contextmanager
def progress_bar(total: int, label: str, show: bool) -> Iterator[ScaleProgress]:
    """One `loop.progress_bar` over all iterations of all scales; yields, per scale, the callback that
    scale's `loop.fit` reports to (the bar's text names the scale)."""
    with loop.progress_bar(total, label, show) as report:
        completed = 0

        def for_scale(scale: int) -> loop.ProgressCallback:
            def progress(done: int, advanced: int, text: str | None) -> None:
                nonlocal completed
                completed += advanced
                report(completed, advanced, f"scale {scale}")

            return progress

        yield for_scale


@dataclasses.dataclass(frozen=True)
class Plan:
    """How a group of members trains: `stages`, in order, are (recipe, number of scales it trains up to),
    so IDC's unmasked coarse scales and masked fine scales each keep their own schedule; `spec_for(n)`
    describes scale n."""

    stages: tuple[tuple[Recipe, int], ...]
    spec_for: Callable[[int], Any]

    @property
    def num_scales(self) -> int:
        return self.stages[-1][1]

    def niter(self, scale: int) -> int:
        return next(recipe.niter for recipe, upto in self.stages if scale < upto)


def train_run(
    label: str,
    cfg,
    run_dirs: Sequence[Path],
    *,
    check: Callable[[int], None],
    write: Callable[[int], list],
    plan: Callable[[int], Plan],
    group: Callable[[int], Hashable] = lambda index: index,
    progress_dir: Callable[[int], Path] | None = None,
    resume: bool = False,
    show_progress: bool = True,
    on_chunk: Callable[[int, int], None] | None = None,
) -> None:
    """Trains the pyramids of a run, the way every single-example GAN's `train` does: member i (input i)
    lives in `run_dirs[i]`; members whose `group` keys are equal train together as one sharded program.

    A folder that already holds a run (run.json) is refused without `resume`, else `check(i)` raises
    InputError when its run is from another config; then `write(i)` writes member i's run.json and reals
    and returns its real input per scale. `plan(i)` says how member i's group trains (the group's first
    member is asked). A scale in progress is checkpointed to `progress_dir(group number)` (default
    `<run_dirs[0]>/progress`), finished scales to `<run>/scales/`, which a resume skips.

    Args:
      label: the progress bar's name ("SinGAN").
      cfg: the config (`iters_per_call`, `checkpoint_every`, `seed`; validated by the config itself).
      show_progress: draw a progress bar.
      on_chunk: called as on_chunk(scale, iteration) after each compiled call (hooks and tests).

    Raises:
      InputError: an existing run in a folder without `resume`, or `check`'s.
      NonFiniteLossError: a loss became NaN/Inf (the last good checkpoint stays on disk).
    """
    run_dirs = [Path(d) for d in run_dirs]
    for index, run_dir in enumerate(run_dirs):
        if (run_dir / "run.json").exists():
            if not resume:
                raise InputError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
            check(index)
    groups: dict[Hashable, list[Member]] = {}
    for index, run_dir in enumerate(run_dirs):
        groups.setdefault(group(index), []).append(Member(run_dir, write(index), index))
    plans = [plan(members[0].index) for members in groups.values()]
    total = sum(
        sum(p.niter(n) for n in range(min(store.finished_scales(m.run_dir) for m in members), p.num_scales))
        for members, p in zip(groups.values(), plans, strict=True)
    )
    progress_dir = progress_dir or (lambda _: run_dirs[0] / "progress")
    with progress_bar(total, label, show_progress) as progress:
        for number, (members, p) in enumerate(zip(groups.values(), plans, strict=True)):
            for recipe, upto in p.stages:
                # The trainer skips finished scales, so a resume continues in the right stage.
                train_members(recipe, members, upto, p.spec_for, progress_dir(number), progress, on_chunk)


def train_members(
    recipe: Recipe,
    members: Sequence[Member],
    num_scales: int,
    spec_for: Callable[[int], Any],
    progress_dir: Path,
    progress: ScaleProgress,
    on_chunk: Callable[[int, int], None] | None,
) -> None:
    """Trains the scales below `num_scales` that are not finished yet for every member (one group of
    equal geometry), saving each finished scale into the member's run folder."""
    num_models = len(members)
    start = min(store.finished_scales(m.run_dir) for m in members)
    records = [stack([store.load_scale(m.run_dir, n) for m in members]) for n in range(start)]
    for n in range(start, num_scales):
        record = train_scale(
            recipe,
            members,
            spec_for(n),
            records,
            progress_dir / f"scale{n:02d}",
            progress(n),
            on_chunk,
            warm_start=n > 0 and recipe.warm_start(n),
        )
        for m, member_record in zip(members, unstack(record, num_models), strict=True):
            store.save_scale(m.run_dir, n, member_record)
        StepCheckpoints(progress_dir / f"scale{n:02d}").delete_all()
        records.append(record)


@dataclasses.dataclass
class _ScaleCheckpointing(loop.Checkpointing):
    """The in-scale checkpoints; before the first one, the finished scales are what is kept."""

    def last_good(self) -> str:
        latest = self.checkpoints.latest_step()
        return f"iteration {latest} of this scale in {self.checkpoints.directory}" if latest else "the finished scales"


def train_scale(
    recipe: Recipe,
    members: Sequence[Member],
    spec,
    records: list,
    checkpoint_dir: Path,
    progress: loop.ProgressCallback | None,
    on_chunk: Callable[[int, int], None] | None,
    warm_start: bool,
    extras: tuple = (),
) -> dict:
    """Trains scale `spec.scale` of every member (stacked on a `models` axis) on top of the frozen
    `records` (scales 0..n-1, stacked) with `loop.fit`; resumes from `checkpoint_dir`. Returns the
    finished scale's record (host arrays, stacked).

    The loop's state is {"state": training state, "data": scale data} (both checkpointed, as the scale
    data of a resumed scale must be the saved one); a call runs `iterations_per_call` iterations, the
    ones a whole call would overshoot one by one. Every `iters_per_call` iterations the metrics are
    read back, checked, and each member's means appended to its `metrics.jsonl`.

    `extras`: further stacked arrays passed to `recipe.scale_data` (e.g. SinGAN paint's colour centres).
    """
    n = spec.scale
    cfg = recipe.cfg
    num_models = len(members)
    mesh = models_mesh(num_models)
    sharding = models_sharding(mesh)
    root = jax.random.PRNGKey(cfg.seed)
    member_keys = [jax.random.fold_in(jax.random.fold_in(root, n), m.index) for m in members]
    # Iteration i uses fold_in(model_key, i); set-up randomness comes from a separate branch.
    model_keys = np.stack([np.asarray(jax.random.fold_in(k, 0)) for k in member_keys])
    setup_keys = np.stack([np.asarray(jax.random.split(jax.random.fold_in(k, 1))) for k in member_keys])
    frozen = shard_models([recipe.frozen_view(r) for r in records[:n]], mesh)
    reals = shard_models(stack([m.reals[n] for m in members]), mesh)
    data = compiled_scale_data(recipe, spec, sharding)(
        reals, frozen, shard_models(setup_keys[:, 0], mesh), *(shard_models(e, mesh) for e in extras)
    )
    warm = unstack(records[n - 1], num_models) if warm_start else [None] * num_models
    state = stack([recipe.init_state(spec, setup_keys[i, 1], warm[i]) for i in range(num_models)])

    def as_step(length: int) -> Callable:
        program = compiled_chunk(recipe, spec, length, mesh)

        def step(current: dict, batch, keys):
            new, metrics = program(current["state"], current["data"], frozen, keys)
            return {"state": new, "data": current["data"]}, metrics

        return step

    def log(done: int, block: dict[str, np.ndarray]) -> None:
        for i, m in enumerate(members):
            row = {"scale": n, "iteration": done}
            row.update({k: float(np.mean(block[k][:, i])) for k in recipe.metric_names})
            with open(m.run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")

    per_call = iterations_per_call(cfg)
    final, _ = loop.fit(
        as_step(per_call),
        shard_models({"state": state, "data": data}, mesh),
        recipe.niter,
        rng=shard_models(model_keys, mesh),
        steps_per_call=per_call,
        remainder_step=as_step(1) if per_call > 1 else None,
        log_every=cfg.iters_per_call,
        checkpointing=_ScaleCheckpointing(
            StepCheckpoints(checkpoint_dir), cfg.checkpoint_every, unpack=lambda tree: shard_models(tree, mesh)
        ),
        on_log=log,
        after_call=None if on_chunk is None else lambda done, _: on_chunk(n, done),
        progress=progress,
        label=f"scale {n},",
        describe=lambda index: str(members[index[0]].run_dir),
        keep_history=False,
    )
    return jax.device_get(recipe.record(spec, final["state"], final["data"], model_keys))
