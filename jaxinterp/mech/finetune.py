"""Fine-tuning a loaded pretrained penzai model on a task's prompts, with the one training loop (`loop.fit`).

The caller gives the prompts as batches `{"tokens": [b, s], "answers": [b], "answer_index": [b]}` (rows
right-padded to one length; causal attention makes the padding invisible to the prompt), a function of the
step index so that a run is reproducible. The loss is the cross-entropy of each prompt's answer token at
its `answer_index`, nothing else: the model already speaks English, the task is to name the right object
(or number). Only those positions go through the output projection (the vocabulary matrix of SmolLM2 is
49152 x 576, a fifth of the model's compute if applied at every position).

Two methods:
  * "lora" (Hu et al. 2021): every attention and MLP matrix W of the blocks gets a trainable low-rank
    update W + U V (U: [embedding, rank], random / sqrt(embedding); V: [rank, other axes], zero, so the
    fine-tune starts at the pretrained model exactly; scale alpha / rank = 1). Embeddings, norms and the
    output projection stay frozen. After training the update is merged, so the result has the pretrained
    model's structure and every tool (patching, circuits) runs on it unchanged.
  * "full": every parameter is trained.

Decision: LoRA is the default. (1) Memory: a full fine-tune keeps gradients and two Adam moments of every
parameter, ~2.2 GB more for SmolLM2-135M (the loader unties its input and output embeddings, which then
drift apart), LoRA of rank 16 ~0.1 GB; on a shared 2-core machine with other jobs that decides whether it
runs at all. (2) It skips the weight gradients of the embeddings and output projection. (3) The question is
whether fine-tuning enhances a mechanism the pretrained model has (Prakash et al. study Goat-7B, a LoRA
fine-tune of LLaMA-7B, beside full fine-tunes): a low-rank change of the blocks keeps the base model's
structure and cannot rebuild the vocabulary. Measured on SmolLM2-135M, 12 steps of 8 boxes prompts (2-4
boxes), default learning rates, on the shared 2-core machine: LoRA answer loss 4.71 -> 0.41, peak memory
2.7 GB, 89 s; full 4.71 -> 1.06, 4.3 GB, 122 s (compile included, other jobs running).

Optimiser: `mech.train.optimizer` (AdamW, warmup + cosine decay to 10%, global-norm clipping at 1) with its
weight decay on matrices; default learning rates 1e-3 (LoRA) and 3e-5 (full, a common rate for a fully
fine-tuned small LM).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int
from penzai import pz

from jaxinterp import loop
from jaxinterp.errors import InputError
from jaxinterp.mech.train import ParamLayout, TrainConfig, bind, optimizer, split

METHODS = ("lora", "full")
DEFAULT_LR = {"lora": 1e-3, "full": 3e-5}
# Parameter label suffixes (penzai llamalike) that get a LoRA update.
LORA_TARGETS = (
    "attention/query.weights",
    "attention/key.weights",
    "attention/value.weights",
    "attention/output.weights",
    "mlp/gating_linear.weights",
    "mlp/value_linear.weights",
    "mlp/out_linear.weights",
)


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    """One fine-tune. `learning_rate` None = `DEFAULT_LR[method]`."""

    steps: int = 100
    method: str = "lora"
    learning_rate: float | None = None
    lora_rank: int = 16
    batch_size: int = 8
    warmup_steps: int = 10
    weight_decay: float = 0.0
    seed: int = 0
    log_every: int = 10

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"fine-tune method must be one of {', '.join(METHODS)}, got {self.method!r}")
        for name in ("steps", "lora_rank", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"fine-tune {name} must be >= 1, got {getattr(self, name)}")

    def rate(self) -> float:
        return DEFAULT_LR[self.method] if self.learning_rate is None else self.learning_rate

    def optimizer(self) -> optax.GradientTransformation:
        cfg = TrainConfig(
            steps=self.steps, learning_rate=self.rate(), warmup_steps=self.warmup_steps, weight_decay=self.weight_decay
        )
        return optimizer(cfg)


@dataclasses.dataclass
class FinetuneResult:
    """The fine-tuned model (LoRA merged), every step's loss and answer accuracy, and the wall time."""

    model: object
    history: list[dict[str, float]]
    seconds: float
    trainable_parameters: int


def lora_targets(layout: ParamLayout) -> list[int]:
    """Indices (in `layout` order) of the matrices that get a LoRA update."""
    return [i for i, label in enumerate(layout.labels) if label.endswith(LORA_TARGETS)]


def _lora_init(layout: ParamLayout, params: list[jax.Array], targets: list[int], rank: int, key) -> list:
    factors = []
    for i, k in zip(targets, jax.random.split(key, len(targets)), strict=True):
        axes, shape = layout.axes[i], params[i].shape
        emb = shape[axes.index("embedding")]
        rest = tuple(s for a, s in zip(axes, shape, strict=True) if a != "embedding")
        u = jax.random.normal(k, (emb, rank), params[i].dtype) / np.sqrt(emb)
        factors += [u, jnp.zeros((rank, *rest), params[i].dtype)]
    return factors  # flat [U, V, U, V, ...]: `optimizer` masks weight decay on a flat list of arrays


def merged(layout: ParamLayout, base: list[jax.Array], targets: list[int], factors: list) -> list[jax.Array]:
    """The base parameters with each target's update U V added (in the weight's own axis order);
    `factors` = [U, V] per target, flat."""
    params = list(base)
    for i, u, v in zip(targets, factors[::2], factors[1::2], strict=True):
        delta = jnp.tensordot(u, v, axes=1)  # [embedding, other axes in order]
        params[i] = base[i] + jnp.moveaxis(delta, 0, layout.axes[i].index("embedding"))
    return params


def _lm_head(model):
    return (
        pz.select(model).at_instances_of(pz.nn.Linear).where(lambda lin: lin.weights.label.endswith("lm_head.weights"))
    )


def answer_logits(model, tokens: Int[Array, "b s"], answer_index: Int[Array, " b"]) -> Float[Array, "b vocabulary"]:
    """Logits at each row's `answer_index`; the output projection runs at those positions only when the
    model has a separate `lm_head` Linear (else on every position, then gathered)."""
    named = pz.nx.wrap(tokens).tag("batch", "seq")
    rows = jnp.arange(tokens.shape[0])
    head = _lm_head(model)
    if head.count() != 1:
        return model(named).unwrap("batch", "seq", "vocabulary")[rows, answer_index]
    linear = head.get()
    hidden = head.set(pz.nn.Identity())(named).unwrap("batch", "seq", "embedding")[rows, answer_index]
    return linear(pz.nx.wrap(hidden).tag("batch", "embedding")).unwrap("batch", "vocabulary")


def make_step(cfg: FinetuneConfig, layout: ParamLayout, targets: list[int]) -> Callable:
    """The jitted `step(state, batch, rng) -> (state, metrics)`; state = {"trainable", "opt_state", "step"},
    donated; for LoRA the batch also carries the base parameters ("base"), which are not donated."""
    tx = cfg.optimizer()

    def loss_fn(trainable, batch):
        params = merged(layout, batch["base"], targets, trainable) if cfg.method == "lora" else trainable
        logits = answer_logits(bind(layout, params), batch["tokens"], batch["answer_index"])
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["answers"]).mean()
        return loss, {"loss": loss, "accuracy": (jnp.argmax(logits, -1) == batch["answers"]).mean()}

    def step(state, batch, rng):
        del rng  # nothing random in a step (no dropout)
        (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["trainable"], batch)
        updates, opt_state = tx.update(grads, state["opt_state"], state["trainable"])
        trainable = optax.apply_updates(state["trainable"], updates)
        return {"trainable": trainable, "opt_state": opt_state, "step": state["step"] + 1}, metrics

    return loop.jit_step(step)


def finetune(
    model, batch_for: Callable[[int], dict[str, np.ndarray]], cfg: FinetuneConfig, show_progress: bool = True
) -> FinetuneResult:
    """Fine-tunes `model` (not modified) on `batch_for(step)` for `cfg.steps` steps (module docstring).

    Raises:
      InputError: LoRA on a model without the llamalike attention / MLP matrices.
      NonFiniteLossError: the loss became NaN/Inf (names the step).
    """
    layout, params = split(model)  # the model's own buffers: never donated
    targets = lora_targets(layout) if cfg.method == "lora" else []
    if cfg.method == "lora":
        if not targets:
            raise InputError("LoRA needs LLaMA-like attention / MLP matrices; use method 'full' for this model")
        trainable, base = _lora_init(layout, params, targets, cfg.lora_rank, jax.random.key(cfg.seed)), params
    else:
        trainable, base = [jnp.copy(p) for p in params], None  # the step donates (consumes) its state
    state = {"trainable": trainable, "opt_state": cfg.optimizer().init(trainable), "step": jnp.zeros((), jnp.int32)}
    count = sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(trainable))
    history: list[dict[str, float]] = []

    def record(done: int, block: dict[str, np.ndarray]) -> None:
        rows = loop.history_rows(block)
        history.extend({"step": done - len(rows) + i + 1, **row} for i, row in enumerate(rows))

    def describe(_block) -> str:
        recent = history[-cfg.log_every :]
        return f"loss {np.mean([h['loss'] for h in recent]):.3f} acc {np.mean([h['accuracy'] for h in recent]):.2f}"

    start = time.perf_counter()
    with loop.progress_bar(cfg.steps, f"fine-tune ({cfg.method})", show=show_progress) as progress:
        state, _ = loop.fit(
            make_step(cfg, layout, targets),
            state,
            cfg.steps,
            batch_for=lambda step: {k: jnp.asarray(v) for k, v in batch_for(step).items()} | {"base": base},
            rng=jax.random.key(cfg.seed),
            log_every=cfg.log_every,
            on_log=record,
            progress=progress,
            describe_progress=describe,
            label=f"fine-tune ({cfg.method})",
            keep_history=False,
        )
    final = merged(layout, base, targets, state["trainable"]) if targets else state["trainable"]
    return FinetuneResult(bind(layout, final, mutable=True), history, time.perf_counter() - start, count)
