"""The one fit loop every trainer in jaxinterp runs: GAN pyramids, ASAPNet, in-repo transformers, DCM masks,
the Deep-Image-Prior pre-fill, SimCLR encoders and MAIA's subject models.

A trainer supplies a compiled step and the loop does the rest, the same way for everyone:

  * **calls**: `step(state, batch, rng) -> (state, metrics)`, the batch drawn by `batch_for(step_index)`
    (a function of the index, so a resumed run sees the same data) and the same `rng` every call (the
    step folds its own counter in). A call may advance `steps_per_call` steps at once (a `lax.scan`,
    see `scanned`); its metrics then carry a leading axis of that length. A `remainder_step` of one step
    runs the steps that a whole call would overshoot, one by one.
  * **no host sync per step**: metrics stay on the device until a log step (every `log_every` steps, the
    last step, before a checkpoint and on Ctrl-C); then they are read back once, checked for NaN/Inf
    and handed to `on_log`. A non-finite metric raises `NonFiniteLossError` naming the first bad step
    (and, through `describe`, which model of a stack), and the last good checkpoint. A checkpoint is
    only written after the metrics up to it were read back finite, so "last good" is true.
  * **buffer donation**: `jit_step` compiles a step with its state donated; the loop never keeps a
    reference to a donated state.
  * **checkpoints and resume**: with a `Checkpointing`, the loop resumes from the newest checkpoint,
    saves every `every` steps (never on the final step unless `save_final`) and on Ctrl-C (then
    re-raises). Because the batch is a function of the index and the randomness is folded from the step,
    an interrupted and resumed run replays the numbers of an uninterrupted one exactly.
  * **progress**: a rich bar (`progress_bar`) or any `Progress` callback; `describe_progress` turns the
    last logged metrics into the bar's text.
  * **early stop**: `after_call(step_index, state)` runs after every call; returning True ends the loop.

Why one loop: three hand-written copies had drifted (one synced every step, one raised FloatingPointError,
one checkpointed a state that was already NaN); a fix now lands everywhere at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import jax
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from jaxinterp.checkpoint import StepCheckpoints
from jaxinterp.errors import NonFiniteLossError

State = Any
Metrics = dict[str, Any]
# progress(steps done, steps just advanced, text or None): how the loop reports.
ProgressCallback = Callable[[int, int, str | None], None]


def jit_step(step: Callable, **jit_kwargs) -> Callable:
    """`jax.jit(step)` with its first argument (the state) donated: the old state's buffers are reused."""
    return jax.jit(step, donate_argnums=0, **jit_kwargs)


def scanned(step: Callable, length: int) -> Callable:
    """`length` calls of `step(state, batch, rng)` as one `lax.scan` over the same batch and rng; the
    metrics come back stacked on a leading axis of `length`. Jit the result (e.g. with `jit_step`)."""

    def run(state, batch, rng):
        def body(carry, _):
            return step(carry, batch, rng)

        return jax.lax.scan(body, state, None, length=length)

    return run


@dataclasses.dataclass
class Checkpointing:
    """Where and how often a loop saves its state.

    `pack(state)` is the tree written (default: the state itself) and `unpack(tree)` turns a restored tree
    back into a state (default: identity); `restore` needs a target of the packed tree's structure, which
    `pack(state)` of the initial state provides.
    """

    checkpoints: StepCheckpoints
    every: int
    pack: Callable[[State], Any] = lambda state: state
    unpack: Callable[[Any], State] = lambda tree: tree
    save_final: bool = False

    def resume(self, state: State) -> tuple[State, int | None]:
        """The newest saved state and its step, or (state, None) when nothing was saved."""
        latest = self.checkpoints.latest_step()
        if latest is None:
            return state, None
        return self.unpack(self.checkpoints.restore(latest, target=jax.device_get(self.pack(state)))), latest

    def save(self, step: int, state: State) -> None:
        self.checkpoints.save(step, self.pack(state))

    def last_good(self) -> str:
        latest = self.checkpoints.latest_step()
        return f"step {latest} in {self.checkpoints.directory}" if latest is not None else "none"


@contextmanager
def progress_bar(total: int, label: str, show: bool = True, completed: int = 0) -> Iterator[ProgressCallback]:
    """A rich progress bar of `total` steps; yields the callback `fit` takes as `progress`."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not show, transient=False) as bar:
        task = bar.add_task(label, total=total, completed=completed)

        def report(done: int, advanced: int, text: str | None) -> None:
            if text is None:  # no new text: keep the last one shown
                bar.update(task, completed=done)
            else:
                bar.update(task, completed=done, description=f"{label} {text}")

        yield report


def _stack(pending: list[tuple[int, int, Metrics]]) -> dict[str, np.ndarray]:
    """Host copies of the pending calls' metrics, one row per step: {name: [steps, ...]}."""
    host = jax.device_get([m for _, _, m in pending])
    out: dict[str, list[np.ndarray]] = {}
    for (_, length, _), metrics in zip(pending, host, strict=True):
        for name, value in metrics.items():
            value = np.asarray(value)
            out.setdefault(name, []).append(value[None] if length == 1 else value)
    return {name: np.concatenate(values, axis=0) for name, values in out.items()}


def _first_non_finite(block: dict[str, np.ndarray]) -> tuple[int, str, tuple[int, ...]] | None:
    """(row, metric, index within the row) of the earliest NaN/Inf in a block of rows, or None."""
    first = None
    for name, values in block.items():
        bad = ~np.isfinite(values)
        if bad.any():
            where = tuple(int(i[0]) for i in np.nonzero(bad))
            if first is None or where[0] < first[0]:
                first = (where[0], name, where[1:])
    return first


def fit(
    step: Callable[[State, Any, Any], tuple[State, Metrics]],
    state: State,
    total_steps: int,
    *,
    batch_for: Callable[[int], Any] | None = None,
    rng: Any = None,
    start: int = 0,
    steps_per_call: int = 1,
    remainder_step: Callable[[State, Any, Any], tuple[State, Metrics]] | None = None,
    log_every: int = 50,
    checkpointing: Checkpointing | None = None,
    on_log: Callable[[int, dict[str, np.ndarray]], None] | None = None,
    after_call: Callable[[int, State], bool | None] | None = None,
    progress: ProgressCallback | None = None,
    describe_progress: Callable[[dict[str, np.ndarray]], str] | None = None,
    label: str = "training",
    describe: Callable[[tuple[int, ...]], str] | None = None,
    keep_history: bool = True,
) -> tuple[State, dict[str, np.ndarray]]:
    """Runs `step` from the resumed (or 0th) step until `total_steps` (or `after_call` says stop).

    Args:
      step: the compiled step `(state, batch, rng) -> (state, metrics)`, advancing `steps_per_call` steps
        (metrics then stacked on a leading axis of that length); it should donate its state (`jit_step`).
      state: the initial state (replaced by the checkpoint when resuming); consumed.
      total_steps: the step count to reach.
      batch_for: the batch of the call starting at a step index; None passes None.
      rng: passed unchanged to every call.
      start: the steps `state` has already taken (when no checkpoint is resumed).
      steps_per_call: steps one call advances; a last call that would overshoot is not made smaller, so
        `total_steps` (and checkpoint/log intervals) should be multiples of it, unless `remainder_step`
        is given.
      remainder_step: a compiled step of one step (metrics without the leading axis); when given, the
        steps where a whole call of `step` would overshoot `total_steps` run one by one through it (a
        scan of 1000 steps per call, and then 7 single steps for a total of 2007).
      log_every: steps between metric read-backs (and non-finite checks); rounded up to whole calls.
      checkpointing: resume, periodic and Ctrl-C saves (see `Checkpointing`).
      on_log: (steps done, {metric: [steps since the last log, ...]}) after each read-back.
      after_call: (steps done, state) after every call; True stops the loop early.
      progress: advanced after every call; `progress_bar` makes one.
      describe_progress: the progress text from the last read-back block.
      label: names the run in errors ("scale 3", "mech train").
      describe: words for the index of a bad value inside a step's metric (e.g. which model of a stack).
      keep_history: return every read-back row; False returns an empty history (long runs).

    Returns:
      The final state and the metrics of every step this call ran, {metric: [steps, ...]} (host arrays).

    Raises:
      NonFiniteLossError: a metric became NaN/Inf; names the step and the last good checkpoint.
      KeyboardInterrupt: after saving the state when checkpointing (unless its metrics were non-finite).
    """
    done = start
    if checkpointing is not None:
        state, resumed = checkpointing.resume(state)
        done = start if resumed is None else resumed
    if progress is not None:
        progress(done, done, None)
    pending: list[tuple[int, int, Metrics]] = []  # (first step, steps, device metrics) not yet read back
    history: list[dict[str, np.ndarray]] = []
    since_log = 0

    def read_back() -> None:
        nonlocal since_log
        if not pending:
            return
        block = _stack(pending)
        first_step = pending[0][0]
        pending.clear()
        since_log = 0
        bad = _first_non_finite(block)
        if bad is not None:
            row, name, index = bad
            who = f" ({describe(index)})" if describe is not None and index else ""
            kept = checkpointing.last_good() if checkpointing is not None else "none"
            raise NonFiniteLossError(
                f"non-finite {name} at {label} step {first_step + row + 1}{who}; training stopped, "
                f"last good checkpoint: {kept}"
            )
        if keep_history:
            history.append(block)
        if on_log is not None:
            on_log(first_step + len(next(iter(block.values()), ())), block)
        if progress is not None and describe_progress is not None:
            progress(done, 0, describe_progress(block))

    try:
        while done < total_steps:
            whole = remainder_step is None or done + steps_per_call <= total_steps
            length = steps_per_call if whole else 1
            state, metrics = (step if whole else remainder_step)(
                state, None if batch_for is None else batch_for(done), rng
            )
            pending.append((done, length, metrics))
            done += length
            since_log += length
            if progress is not None:
                progress(done, length, None)
            stop = bool(after_call(done, state)) if after_call is not None else False
            finished = stop or done >= total_steps
            saving = checkpointing is not None and (
                (done % checkpointing.every == 0 and not finished) or (finished and checkpointing.save_final)
            )
            if since_log >= log_every or finished or saving:
                read_back()
            if saving:
                checkpointing.save(done, state)
            if stop:
                break
    except KeyboardInterrupt:
        read_back()  # raises instead when the unsaved steps went non-finite: never save a bad state
        alive = not any(getattr(x, "is_deleted", lambda: False)() for x in jax.tree_util.tree_leaves(state))
        if checkpointing is not None and alive and checkpointing.checkpoints.latest_step() != done:
            checkpointing.save(done, state)
        raise
    return state, concat_history(history)


def concat_history(blocks: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Joins read-back blocks into {metric: [steps, ...]}."""
    if not blocks:
        return {}
    return {name: np.concatenate([b[name] for b in blocks], axis=0) for name in blocks[0]}


def history_rows(history: dict[str, np.ndarray]) -> list[dict[str, float]]:
    """{metric: [steps]} of scalar metrics as one dict of floats per step (for JSON and plots)."""
    names = list(history)
    count = len(history[names[0]]) if names else 0
    return [{name: float(history[name][i]) for name in names} for i in range(count)]
