"""Training small LLaMA-style transformers on the synthetic tasks of `jaxinterp.mech.tasks`, in-repo.

A run trains one penzai `llamalike_common` transformer (swiglu MLP, RoPE, RMSNorm, untied embeddings) from
scratch and writes a folder that IS a Hugging Face LLaMA checkpoint: `config.json` (transformers 5 form),
`model.safetensors`, the task's word-level tokenizer, and `task.json` (task, settings, final accuracy).
`jaxinterp.mech.models.load.load_pretrained(folder)` and `transformers.AutoModelForCausalLM.from_pretrained(folder)`
both read it, so every mech tool (patching, attribution, ablation) runs on the trained model.

Decisions:
  * Loss: cross-entropy of the answer token at the last position, plus `TrainConfig.prompt_loss_weight`
    (default 1) times the mean next-token loss over the prompt. The prompt term is on by default because
    the answer alone is one supervised position per prompt, too little signal to get past the plateau of
    two-step circuits: on `induction` the copied segment's own tokens are induction targets too, and
    with the prompt loss `tiny` jumps from ~20% to 100% at ~1300 steps, while with the answer loss alone
    it is still at 20% after 3000 steps. Random prompt words only add a constant floor to that term.
  * Data: step s trains on `task.sample(seed_s, batch_size)` with seed_s derived from (seed, s), a fresh
    batch every step (the tasks have far more prompts than a run sees); evaluation uses its own seed and
    always `task.sample`. A task with a `training_batch(seed, n)` method (`boxes`) trains on that instead:
    its own prompts (e.g. a mixture of formats and sizes, right-padded) with a target and a loss weight per
    position (e.g. auxiliary targets at chosen tokens); the loss is then the weighted mean cross-entropy
    and `prompt_loss_weight` is unused (the task's weights say it).
  * Optimiser: AdamW (b2 = 0.98), linear warmup then cosine decay to 10% of the peak learning rate,
    global-norm clipping at 1; weight decay only on matrices (not on RMSNorm scales).
  * Parameters travel as a list of plain arrays (penzai's `unbind_params` order) plus their axis names,
    so optax and orbax see an ordinary pytree; `bind` re-attaches them to the parameter-free model.
  * Resuming: the whole training state (params, optimiser state, step) is saved with orbax in
    `<out>/progress/` every `checkpoint_every` steps and on Ctrl-C; step s's data and the schedule depend
    only on (config, s), so an interrupted and resumed run reproduces the uninterrupted one.
  * The loop is `jaxinterp.loop.fit`: the step's metrics stay on the device and are read back (and checked
    for NaN/Inf) every `LOG_EVERY` steps, before each checkpoint and at the end, not after every step; an
    `on_step` callback asks for every step's metrics and so reads them back every step. The accuracy
    target (`stop_at_accuracy`) is checked after every `stop_check_every`-th step, as before.

Axis names of the model are penzai's (see `jaxinterp/mech/models/llamalike.py`): batch, seq, embedding,
vocabulary, neurons, heads, projection.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int
from penzai import pz
from penzai.models.transformer import model_parts
from penzai.models.transformer.variants import llamalike_common as llc

from jaxinterp import hf, loop
from jaxinterp.checkpoint import StepCheckpoints
from jaxinterp.errors import InputError
from jaxinterp.mech.models.hf_export import save_llamalike
from jaxinterp.mech.tasks import Task, get_task
from jaxinterp.mech.tasks.base import BOS, PAD, UNK, Examples, word_ids
from jaxinterp.mech.word_tokenizer import save_tokenizer

TASK_FILE = "task.json"
CONFIG_FILE = "train_config.json"
PROGRESS_DIR = "progress"
LOG_EVERY = 50  # steps between metric read-backs (and NaN checks) when nobody asks for every step


@dataclasses.dataclass(frozen=True)
class ModelSize:
    """Width and depth of a LLaMA-style model; `mlp_hidden` defaults to 4 * d_model."""

    layers: int
    d_model: int
    heads: int
    mlp_hidden: int | None = None


SIZES = {
    "tiny": ModelSize(layers=2, d_model=64, heads=4),
    # tiny with a third layer: `boxes` needs it (query label -> its context occurrence -> last token), and
    # `--task boxes --size tiny3 --steps 2000` reaches ~95% (3 boxes); 2 layers stay at chance.
    "tiny3": ModelSize(layers=3, d_model=64, heads=4),
    "small": ModelSize(layers=4, d_model=128, heads=4),
    "medium": ModelSize(layers=6, d_model=256, heads=8),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run. `layers`, `d_model`, `heads`, `mlp_hidden` override the `size` preset.

    Defaults: `jaxinterp mech train --task induction --size tiny` runs 3000 steps in 1-2 minutes on 2
    CPU cores and reaches 100% eval accuracy (the phase transition comes at ~1300 steps; 3000 steps keeps
    the cosine-decayed learning rate high enough until then; `prompt_loss_weight = 1` is what makes it
    learn, see the module docstring). `boxes` (3 boxes) needs 3 layers and its `training_batch` (auxiliary
    label targets, a mixture of formats and box counts): `--size tiny3 --steps 2000` reaches ~95% in ~3
    minutes; with 2 layers it stays on the ~33% plateau. See the README for the runs.

    `init_from`: a trained run folder whose weights start this run (fine-tuning); its architecture and
    vocabulary size must be this run's (`tasks.shared_vocabulary` lets two tasks share one vocabulary).
    The optimiser state and schedule start fresh.

    `stop_at_accuracy`: stop as soon as the evaluation accuracy (checked every `stop_check_every` steps on
    the `eval_size` evaluation prompts) reaches it; `steps` is then a budget (the schedule still spans it).
    The entity-tracking study uses it for a base model that solves the task well but not perfectly, as
    LLaMA-7B does (0.66 in Prakash et al.): `boxes` jumps from ~0.6 to ~1.0 within a few hundred steps,
    so a fixed step count lands on either side of the band depending on the seed.
    """

    task: str = "boxes"
    task_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    size: str = "tiny"
    layers: int | None = None
    d_model: int | None = None
    heads: int | None = None
    mlp_hidden: int | None = None
    steps: int = 3000
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    prompt_loss_weight: float = 1.0
    seed: int = 0
    checkpoint_every: int = 500
    eval_size: int = 512
    init_from: str | None = None
    stop_at_accuracy: float | None = None
    stop_check_every: int = 50

    def model_size(self) -> ModelSize:
        """The preset `size` with the explicit fields applied; `InputError` for an unknown or bad size."""
        if self.size not in SIZES:
            raise InputError(f"unknown model size {self.size!r}; known sizes: {', '.join(SIZES)}")
        base = SIZES[self.size]
        changes = {k: getattr(self, k) for k in ("layers", "d_model", "heads", "mlp_hidden") if getattr(self, k)}
        size = dataclasses.replace(base, **changes)
        if size.d_model % size.heads:
            raise InputError(f"d_model {size.d_model} is not a multiple of heads {size.heads}")
        return size

    def check(self) -> None:
        """Raises `InputError` for settings no run can use."""
        self.model_size()
        for name in ("steps", "batch_size", "checkpoint_every", "eval_size", "stop_check_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise InputError(f"seed must be >= 0, got {self.seed}")
        if self.stop_at_accuracy is not None and not 0.0 < self.stop_at_accuracy <= 1.0:
            raise InputError(f"stop_at_accuracy must be in (0, 1], got {self.stop_at_accuracy}")


def model_config(cfg: TrainConfig, vocab_size: int) -> llc.LlamalikeTransformerConfig:
    """Penzai config of the model a run trains (multi-head attention, one KV head per query head)."""
    size = cfg.model_size()
    return llc.LlamalikeTransformerConfig(
        num_kv_heads=size.heads,
        query_head_multiplier=1,
        embedding_dim=size.d_model,
        projection_dim=size.d_model // size.heads,
        mlp_hidden_dim=size.mlp_hidden or 4 * size.d_model,
        num_decoder_blocks=size.layers,
        vocab_size=vocab_size,
        mlp_variant="swiglu",
        tie_embedder_and_logits=False,
    )


@dataclasses.dataclass(frozen=True)
class ParamLayout:
    """The parameter-free model and, per parameter (in `unbind_params` order), its label and axis names."""

    model_def: Any
    labels: tuple[str, ...]
    axes: tuple[tuple[str, ...], ...]


def split(model: model_parts.TransformerLM) -> tuple[ParamLayout, list[jax.Array]]:
    """Model -> (layout, plain parameter arrays), the optax/orbax-friendly form."""
    model_def, values = pz.unbind_params(model, freeze=True)
    axes = tuple(tuple(v.value.named_shape) for v in values)
    arrays = [v.value.unwrap(*names) for v, names in zip(values, axes, strict=True)]
    return ParamLayout(model_def, tuple(v.label for v in values), axes), arrays


def bind(layout: ParamLayout, params: list[jax.Array], mutable: bool = False) -> model_parts.TransformerLM:
    """Plain parameter arrays -> a callable penzai model (inverse of `split`).

    Frozen `ParameterValue`s by default (pure, for jit); `mutable=True` gives `Parameter`s like
    `load_pretrained`'s models.
    """
    values = [
        pz.ParameterValue(value=pz.nx.wrap(p).tag(*names), label=label)
        for p, names, label in zip(params, layout.axes, layout.labels, strict=True)
    ]
    return pz.bind_variables(layout.model_def, values, unfreeze_as_copy=mutable)


def optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    """AdamW with warmup + cosine decay and global-norm clipping (see the module docstring)."""
    warmup = min(cfg.warmup_steps, cfg.steps // 2)  # a short run still gets a decay phase
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, warmup, cfg.steps, end_value=0.1 * cfg.learning_rate
    )
    return optax.chain(
        optax.clip_by_global_norm(cfg.grad_clip),
        optax.adamw(schedule, b2=0.98, weight_decay=cfg.weight_decay, mask=lambda ps: [p.ndim >= 2 for p in ps]),
    )


def losses(
    layout: ParamLayout, params: list[jax.Array], tokens: Int[Array, "b s"], answers: Int[Array, " b"], prompt_w: float
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """(training loss, metrics): answer cross-entropy at the last position (+ weighted prompt next-token loss)."""
    logits = bind(layout, params)(pz.nx.wrap(tokens).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary")
    last = logits[:, -1]
    answer_loss = optax.softmax_cross_entropy_with_integer_labels(last, answers).mean()
    accuracy = (jnp.argmax(last, axis=-1) == answers).mean()
    loss = answer_loss
    if prompt_w:
        loss = loss + prompt_w * optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1], tokens[:, 1:]).mean()
    return loss, {"loss": answer_loss, "accuracy": accuracy}


def weighted_losses(
    layout: ParamLayout,
    params: list[jax.Array],
    tokens: Int[Array, "b s"],
    targets: Int[Array, "b s"],
    weights: Float[Array, "b s"],
    answer_index: Int[Array, " b"],
) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
    """(training loss, metrics) of a task's `TrainingBatch`: the weighted mean cross-entropy of every
    position's target; the metrics are those of the answer (at `answer_index`), like `losses`."""
    logits = bind(layout, params)(pz.nx.wrap(tokens).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary")
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    loss = (ce * weights).sum() / jnp.maximum(weights.sum(), 1e-9)
    rows = jnp.arange(tokens.shape[0])
    last, answers = logits[rows, answer_index], targets[rows, answer_index]
    accuracy = (jnp.argmax(last, axis=-1) == answers).mean()
    return loss, {"loss": ce[rows, answer_index].mean(), "accuracy": accuracy}


def make_train_step(cfg: TrainConfig, layout: ParamLayout) -> Callable:
    """The jit-compiled `train_step(state, batch, rng) -> (state, metrics)`; `state` is donated.

    `state` = {"params": list of arrays, "opt_state": optax state, "step": int32}; `batch` =
    {"tokens": [b, s], "answers": [b]}, or the fields of a `TrainingBatch` (`training_batch`). `rng` is
    folded with the step for any randomness of a step; the model has no dropout, so the step uses none today.
    """
    tx = optimizer(cfg)

    def train_step(state, batch, rng):
        del rng  # no dropout in LLaMA-style models: nothing random in a step
        params = state["params"]
        if "weights" in batch:  # a task's TrainingBatch: its own targets and weights
            loss_fn = weighted_losses
            args = (batch["tokens"], batch["targets"], batch["weights"], batch["answer_index"])
        else:
            loss_fn, args = losses, (batch["tokens"], batch["answers"], cfg.prompt_loss_weight)
        (_, metrics), grads = jax.value_and_grad(loss_fn, argnums=1, has_aux=True)(layout, params, *args)
        updates, opt_state = tx.update(grads, state["opt_state"], params)
        params = optax.apply_updates(params, updates)
        return {"params": params, "opt_state": opt_state, "step": state["step"] + 1}, metrics

    return loop.jit_step(train_step)


def init_state(cfg: TrainConfig, task: Task) -> tuple[llc.LlamalikeTransformerConfig, ParamLayout, dict]:
    """Model config, parameter layout and the initial training state (penzai's per-parameter init keys)."""
    mcfg = model_config(cfg, len(task.vocabulary()))
    model = llc.build_llamalike_transformer(mcfg, init_base_rng=jax.random.key(cfg.seed), name="transformer")
    layout, params = split(model)
    if cfg.init_from is not None:
        params = _pretrained_params(cfg.init_from, layout, params)
    state = {"params": params, "opt_state": optimizer(cfg).init(params), "step": jnp.zeros((), jnp.int32)}
    return mcfg, layout, state


def _pretrained_params(folder: str, layout: ParamLayout, fresh: list[jax.Array]) -> list[jax.Array]:
    """The parameters of the run folder `folder` in `layout`'s order; `InputError` unless they have the shapes
    of `fresh` (this run's initial parameters)."""
    from jaxinterp.mech.models.load import load_pretrained

    if not (Path(folder) / "config.json").is_file():
        raise InputError(f"init_from: no trained run folder at {folder}")
    loaded = {v.label: v.value for v in pz.unbind_params(load_pretrained(folder), freeze=True)[1]}
    params = []
    for label, names, init in zip(layout.labels, layout.axes, fresh, strict=True):
        value = loaded.get(label)
        if value is None or tuple(value.named_shape.get(n, -1) for n in names) != init.shape:
            raise InputError(f"init_from: {folder} does not fit this run at {label} (size or vocabulary differ)")
        params.append(jnp.asarray(value.unwrap(*names), init.dtype))
    return params


def batch_seed(cfg: TrainConfig, stream: int, step: int = 0) -> int:
    """Seed of a task batch: stream 0 = training step `step`, stream 1 = evaluation."""
    return int(np.random.SeedSequence([cfg.seed, stream, step]).generate_state(1)[0])


def training_batch(task: Task, seed: int, n: int) -> dict[str, jax.Array]:
    """One training batch: the task's `training_batch` where it has one (e.g. `boxes`: auxiliary targets
    and a mixture of formats), else `sample` (answer + `prompt_loss_weight` times the prompt loss)."""
    if hasattr(task, "training_batch"):
        return {k: jnp.asarray(v) for k, v in dataclasses.asdict(task.training_batch(seed, n)).items()}
    examples = task.sample(seed, n)
    return {"tokens": jnp.asarray(examples.tokens), "answers": jnp.asarray(examples.answers)}


def make_evaluate(layout: ParamLayout) -> Callable[[list[jax.Array], Examples], dict[str, float]]:
    """`evaluate(params, examples) -> {"loss", "accuracy"}` on one batch, the forward pass jit-compiled."""
    metrics_fn = jax.jit(lambda params, tokens, answers: losses(layout, params, tokens, answers, 0.0)[1])

    def evaluate(params: list[jax.Array], examples: Examples) -> dict[str, float]:
        metrics = metrics_fn(params, jnp.asarray(examples.tokens), jnp.asarray(examples.answers))
        return {k: float(v) for k, v in metrics.items()}

    return evaluate


@dataclasses.dataclass
class TrainResult:
    """A finished run: the trained model, its folder, the per-step metrics and the final evaluation."""

    model: model_parts.TransformerLM
    folder: Path
    history: list[dict[str, float]]
    eval: dict[str, float]
    seconds: float


def _config_json(cfg: TrainConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def _prepare_folder(cfg: TrainConfig, out: Path, resume: bool) -> StepCheckpoints:
    saved = out / CONFIG_FILE
    if resume and saved.is_file():
        previous = json.loads(saved.read_text())
        if previous != _config_json(cfg):
            diff = sorted(k for k in set(previous) | set(_config_json(cfg)) if previous.get(k) != _config_json(cfg)[k])
            raise InputError(f"{out} was trained with other settings ({', '.join(diff)}); use another --out")
    elif not resume and (out / PROGRESS_DIR).exists():
        raise InputError(f"{out} holds an unfinished run; add --resume to continue it or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(_config_json(cfg), indent=2) + "\n")
    return StepCheckpoints(out / PROGRESS_DIR)


def train(
    cfg: TrainConfig,
    out: str | Path,
    *,
    resume: bool = False,
    show_progress: bool = True,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Trains a model on `cfg.task` and writes the HF checkpoint folder `out` (see the module docstring).

    Args:
      cfg: the run's settings.
      out: run folder; its `progress/` sub-folder holds the resumable state until the run finishes.
      resume: continue from the newest checkpoint in `out` (the settings must match the saved ones).
      show_progress: draw a rich progress bar with the running loss and accuracy.
      on_step: called for every step with (steps done, that step's metrics), right after it; giving it makes
        the loop read the metrics back after every step (a host sync), otherwise every `LOG_EVERY` steps.

    Returns:
      The trained model, the folder, per-step metrics and the evaluation on `cfg.eval_size` fresh prompts.

    Raises:
      InputError: unknown task or size, bad settings, or `out` holding another run.
      NonFiniteLossError: the loss became NaN/Inf (names the step and the folder; the last good checkpoint
        stays on disk: a checkpoint is only written once the metrics up to it were read back finite).
      KeyboardInterrupt: after saving the state, so `resume=True` continues from there.
    """
    cfg.check()
    task = get_task(cfg.task, **cfg.task_settings)
    out = Path(out)
    checkpoints = _prepare_folder(cfg, out, resume)  # refuses a leftover run unless `resume`
    mcfg, layout, state = init_state(cfg, task)
    evaluate, eval_examples = make_evaluate(layout), task.sample(batch_seed(cfg, 1), cfg.eval_size)
    history: list[dict[str, float]] = []

    def record(done: int, block: dict[str, np.ndarray]) -> None:
        """Appends a read-back block's steps to `history` (numbered) and hands each to `on_step`."""
        rows = loop.history_rows(block)
        for i, metrics in enumerate(rows):
            step = done - len(rows) + i + 1
            history.append({"step": step, **metrics})
            if on_step is not None:
                on_step(step, metrics)

    def describe(_block: dict[str, np.ndarray]) -> str:
        recent = history[-20:]
        loss, accuracy = np.mean([h["loss"] for h in recent]), np.mean([h["accuracy"] for h in recent])
        return f"loss {loss:.3f} acc {accuracy:.2f}"

    def reached_target(done: int, state: dict) -> bool:
        return _reached_target(cfg, done, functools.partial(evaluate, state["params"], eval_examples))

    checkpointing = loop.Checkpointing(
        checkpoints, every=cfg.checkpoint_every, unpack=lambda tree: jax.tree_util.tree_map(jnp.asarray, tree)
    )
    start = time.perf_counter()
    with loop.progress_bar(cfg.steps, f"{cfg.task} {cfg.size}", show=show_progress) as progress:
        state, _ = loop.fit(
            make_train_step(cfg, layout),
            state,
            cfg.steps,
            batch_for=lambda step: training_batch(task, batch_seed(cfg, 0, step), cfg.batch_size),
            rng=jax.random.key(cfg.seed + 1),
            log_every=1 if on_step is not None else LOG_EVERY,
            checkpointing=checkpointing,
            on_log=record,
            after_call=reached_target,
            progress=progress,
            describe_progress=describe,
            label=f"mech train {out}",
            keep_history=False,
        )
    params = state["params"]
    result = {**evaluate(params, eval_examples), "steps_run": int(state["step"])}
    model = bind(layout, params, mutable=True)
    export(model, mcfg, task, cfg, result, out)
    checkpoints.delete_all()
    return TrainResult(model, out, history, result, time.perf_counter() - start)


def _reached_target(cfg: TrainConfig, step: int, evaluate: Callable[[], dict[str, float]]) -> bool:
    """True when `cfg.stop_at_accuracy` is set, `step` is a check step and the evaluation reaches it."""
    if cfg.stop_at_accuracy is None or step % cfg.stop_check_every or step >= cfg.steps:
        return False
    return evaluate()["accuracy"] >= cfg.stop_at_accuracy


def export(
    model: model_parts.TransformerLM,
    mcfg: llc.LlamalikeTransformerConfig,
    task: Task,
    cfg: TrainConfig,
    evaluation: dict[str, float],
    out: Path,
) -> None:
    """Writes the HF checkpoint (config + safetensors), the tokenizer and `task.json` into `out`."""
    ids = word_ids(task.vocabulary())
    save_llamalike(model, mcfg, out, bos_token_id=ids[BOS], pad_token_id=ids[PAD], unk_token_id=ids[UNK])
    save_tokenizer(task.vocabulary(), out)
    info = {
        "task": task.name,
        "settings": task.settings(),
        "size": cfg.size,
        "steps": cfg.steps,
        "steps_run": evaluation.get("steps_run", cfg.steps),
        "seed": cfg.seed,
        "eval_accuracy": evaluation["accuracy"],
        "eval_loss": evaluation["loss"],
        "eval_size": cfg.eval_size,
    }
    (out / TASK_FILE).write_text(json.dumps(info, indent=2) + "\n")


def read_task_file(folder: str | Path) -> dict[str, Any]:
    """The `task.json` of a trained run folder; `InputError` if it is missing or unreadable."""
    path = Path(folder) / TASK_FILE
    if not path.is_file():
        raise InputError(f"{path} is missing (not a folder written by `jaxinterp mech train`); pass --task")
    return hf.read_json(path)
