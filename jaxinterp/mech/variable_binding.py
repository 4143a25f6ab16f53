"""The variable-binding study of Davies, Nadeau, Prakash, Rott Shaham and Bau (2023) on a model trained in-repo
(`jaxinterp mech variable-binding`).

Paper: on LLaMA-13B, DCM over all 1640 final-token components (40 x 40 heads + 40 MLPs) with two desiderata,
value dependence and operation invariance, finds 9 heads and 1 MLP that carry the variables' values (0.6% of
the components), shared across + and -. Here: a small model trained on `arithmetic`
(`x = 7 ; y = 3 ; x + y =`, see `tasks/arithmetic.py` for how it differs from the paper's prompt), DCM with
the paper's optimiser settings (`circuits.dcm.dcm_variable_binding`) for each sparsity of the paper's sweep
and each seed, and three measurements of the selection on fresh prompts:

  * value accuracy: with the selection patched from a source whose first variable differs, the answer
    becomes the source's;
  * invariance accuracy: patched from a source with the other operation, the answer stays the base's;
  * retrieval kept-only accuracy ("accuracy with only the found components intact"): every final-token
    attention head OUTSIDE the selection is patched from a prompt whose first variable has another value
    (names, the other value and the operation unchanged), the final-token MLPs recompute, and the task
    accuracy (the base's own answer) is measured, next to random head selections of the same size. Only
    attention can move a variable's value to the final token, so this asks whether the selection is the
    route by which the value arrives; the MLPs are left to compute with it.
  * strict kept-only accuracy: every final-token head AND MLP output outside the selection replaced by its
    mean over other prompts, next to the full model and a random selection. Reported, but it cannot
    isolate retrieval: the operation-invariance desideratum excludes by design the heads that carry the
    operation, and the addition itself is computed by final-token MLPs, so mean-ablating "everything
    else" removes the operation and the arithmetic (measured: ~0.1-0.2, the level of a random selection).
    Patching the other MLPs from the source instead switches every answer, because an MLP downstream of
    the found heads already holds the source's sum.

Decisions: 96 training pairs per desideratum (paper 45), 256 test prompts; sparsities 0.06 / 0.09 / 0.12
(the ends and middle of the paper's sweep 0.06-0.12); the model has 4 layers x 4 heads (20 components).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.errors import InputError
from jaxinterp.mech import patching
from jaxinterp.mech.circuits.dcm import dcm_variable_binding, evaluate_binding
from jaxinterp.mech.models.load import load_pretrained
from jaxinterp.mech.study_report import Finding, bar_chart_png, mean_spread, write_report
from jaxinterp.mech.tasks import get_task
from jaxinterp.mech.tasks.arithmetic_desiderata import DesideratumPairs, operation_pairs, value_pairs
from jaxinterp.mech.train import PROGRESS_DIR, TrainConfig, train


@dataclasses.dataclass(frozen=True)
class VariableBindingConfig:
    model: TrainConfig = TrainConfig(task="arithmetic", size="tiny", layers=4, steps=800, learning_rate=3e-3)
    train_pairs: int = 96
    test_pairs: int = 256
    sparsities: tuple[float, ...] = (0.06, 0.09, 0.12)
    lr: float = 1e-2
    iterations: int = 100
    seeds: tuple[int, ...] = (0, 1, 2)
    random_draws: int = 5  # random head selections per (seed, sparsity) for the retrieval control

    def __post_init__(self):
        self.model.check()
        if not self.seeds:
            raise InputError("at least one seed is needed")


def _as_tuple(pairs: DesideratumPairs):
    return pairs.base, pairs.source, pairs.base_answer, pairs.source_answer


def _tokens(array) -> pz.nx.NamedArray:
    return pz.nx.wrap(jnp.asarray(array, jnp.int32)).tag("batch", "seq")


@jax.jit
def _kept_only_logits(sited, tokens, head_means, mlp_means, head_mask, mlp_mask):
    logits = sited(
        pz.nx.wrap(tokens).tag("batch", "seq"),
        heads_source=head_means,
        heads_mask=head_mask,
        mlps_source=mlp_means,
        mlps_mask=mlp_mask,
    )
    return logits[{"seq": -1}].unwrap("batch", "vocabulary")


def _final_token_accuracy(model, tokens, answers, head_source, mlp_source, heads, mlps) -> float:
    """Accuracy of `tokens` with every final-token head / MLP output not in (`heads`, `mlps`) replaced by
    `head_source` / `mlp_source` (captured activations, with or without a batch axis)."""
    layers, seq, n_heads = (head_source.named_shape[k] for k in ("layer", "seq", "heads"))
    head_mask = np.zeros((layers, seq, n_heads), bool)
    head_mask[:, -1, :] = True
    for layer, head in heads:
        head_mask[layer, -1, head] = False
    mlp_mask = np.zeros((layers, seq), bool)
    mlp_mask[:, -1] = True
    mlp_mask[list(mlps), -1] = False
    sited = patching.with_sites(patching.with_sites(model, "head_out", key="heads"), "mlp_out", key="mlps")
    logits = _kept_only_logits(
        sited,
        jnp.asarray(tokens, jnp.int32),
        head_source,
        mlp_source,
        pz.nx.wrap(jnp.asarray(head_mask)).tag("layer", "seq", "heads"),
        pz.nx.wrap(jnp.asarray(mlp_mask)).tag("layer", "seq"),
    )
    return float(np.mean(np.argmax(np.asarray(logits), axis=-1) == np.asarray(answers)))


def kept_only_accuracy(model, tokens, answers, mean_tokens, heads, mlps) -> float:
    """Accuracy with every final-token head / MLP output not in (`heads`, `mlps`) set to its mean."""
    model = pz.freeze_params(model)
    head_means = patching.capture(model, _tokens(mean_tokens), "head_out")
    mlp_means = patching.capture(model, _tokens(mean_tokens), "mlp_out")
    head_means = pz.nx.nmap(jnp.mean)(head_means.untag("batch"))
    mlp_means = pz.nx.nmap(jnp.mean)(mlp_means.untag("batch"))
    return _final_token_accuracy(model, tokens, answers, head_means, mlp_means, heads, mlps)


def retrieval_kept_accuracy(model, pairs: DesideratumPairs, heads) -> float:
    """Accuracy on `pairs.base` (its own answers) with every final-token head not in `heads` patched from
    `pairs.source` (the variable's other value); every final-token MLP recomputes (see the module docstring)."""
    model = pz.freeze_params(model)
    head_source = patching.capture(model, _tokens(pairs.source), "head_out")
    mlp_source = patching.capture(model, _tokens(pairs.source), "mlp_out")
    layers = head_source.named_shape["layer"]
    return _final_token_accuracy(
        model, pairs.base, pairs.base_answer, head_source, mlp_source, heads, list(range(layers))
    )


def _random_selection(n_heads: int, n_mlps: int, layers: int, heads: int, rng: np.random.Generator):
    flat = rng.choice(layers * heads, n_heads, replace=False)
    return [divmod(int(i), heads) for i in flat], [int(i) for i in rng.choice(layers, n_mlps, replace=False)]


def analyse(model, task, seed: int, sparsity: float, cfg: VariableBindingConfig) -> dict[str, Any]:
    """DCM at one (seed, sparsity) and the selection's three accuracies on fresh prompts."""
    train_sets = (value_pairs(task, 100 + seed, cfg.train_pairs), operation_pairs(task, 200 + seed, cfg.train_pairs))
    result = dcm_variable_binding(
        model, *(_as_tuple(p) for p in train_sets), sparsity=sparsity, lr=cfg.lr, iterations=cfg.iterations, seed=seed
    )
    test_sets = (value_pairs(task, 300 + seed, cfg.test_pairs), operation_pairs(task, 400 + seed, cfg.test_pairs))
    tested = evaluate_binding(model, *(_as_tuple(p) for p in test_sets), result.heads, result.mlps)
    examples, means = task.sample(500 + seed, cfg.test_pairs), task.sample(600 + seed, cfg.test_pairs)
    layers, n_heads = result.head_mask.shape
    heads, mlps = [tuple(map(int, h)) for h in result.heads], [int(m) for m in result.mlps]
    random_heads, random_mlps = _random_selection(len(heads), len(mlps), layers, n_heads, np.random.default_rng(seed))
    retrieval_pairs = value_pairs(task, 700 + seed, cfg.test_pairs)
    draws = [
        _random_selection(len(heads), 0, layers, n_heads, np.random.default_rng(1000 * seed + d))[0]
        for d in range(cfg.random_draws)
    ]
    return {
        "seed": seed,
        "sparsity": sparsity,
        "heads": heads,
        "mlps": mlps,
        "components": len(heads) + len(mlps),
        "all_components": layers * n_heads + layers,
        "value_accuracy": tested["value"],
        "invariance_accuracy": tested["invariance"],
        "kept_only_accuracy": kept_only_accuracy(model, examples.tokens, examples.answers, means.tokens, heads, mlps),
        "random_kept_only_accuracy": kept_only_accuracy(
            model, examples.tokens, examples.answers, means.tokens, random_heads, random_mlps
        ),
        "retrieval_kept_accuracy": retrieval_kept_accuracy(model, retrieval_pairs, heads),
        "random_retrieval_kept_accuracy": float(
            np.mean([retrieval_kept_accuracy(model, retrieval_pairs, draw) for draw in draws])
        ),
        "full_accuracy": kept_only_accuracy(
            model,
            examples.tokens,
            examples.answers,
            means.tokens,
            [(i, j) for i in range(layers) for j in range(n_heads)],
            list(range(layers)),
        ),
    }


def findings(results: list[dict]) -> list[Finding]:
    by = {s: [r for r in results if r["sparsity"] == s] for s in dict.fromkeys(r["sparsity"] for r in results)}
    out = []
    for sparsity, rows in by.items():
        share = [r["components"] / r["all_components"] for r in rows]
        out += [
            Finding(
                f"Binding lives in few final-token components (lambda {sparsity})",
                "9 heads + 1 MLP of 1640 (0.6%)",
                f"{mean_spread([r['components'] for r in rows])} of {rows[0]['all_components']} "
                f"({mean_spread(share)}); e.g. heads {rows[0]['heads']}, MLPs {rows[0]['mlps']}",
                bool(np.mean(share) <= 0.5) if share else None,
                f"ours: a larger share is expected with {rows[0]['all_components']} components, not 1640",
            ),
            Finding(
                f"Patching them moves the variable's value (lambda {sparsity})",
                "value dependence holds for the found components",
                f"value accuracy {mean_spread([r['value_accuracy'] for r in rows])}; invariance accuracy "
                f"{mean_spread([r['invariance_accuracy'] for r in rows])}",
                bool(np.mean([r["value_accuracy"] for r in rows]) >= 0.5),
                "bar: patching switches at least half of the answers",
            ),
            Finding(
                f"Only the found components intact: the variable's value still arrives (lambda {sparsity})",
                "(evaluated in the paper by the desiderata's accuracies)",
                f"retrieval kept-only {mean_spread([r['retrieval_kept_accuracy'] for r in rows])}; random heads "
                f"of the same size {mean_spread([r['random_retrieval_kept_accuracy'] for r in rows])}",
                bool(np.mean([r["retrieval_kept_accuracy"] - r["random_retrieval_kept_accuracy"] for r in rows]) > 0.1),
                "bar: at least 0.1 above random selections; every other final-token head carries the variable's "
                "other value, the MLPs recompute",
            ),
            Finding(
                f"Strict kept-only: every other final-token head and MLP mean-ablated (lambda {sparsity})",
                "(not in the paper)",
                f"kept-only {mean_spread([r['kept_only_accuracy'] for r in rows])}; random same size "
                f"{mean_spread([r['random_kept_only_accuracy'] for r in rows])}; full "
                f"{mean_spread([r['full_accuracy'] for r in rows])}",
                None,
                "no bar: this also removes the operation (excluded by the invariance desideratum) and the "
                "MLPs that add, so it cannot isolate retrieval",
            ),
        ]
    return out


def ensure_model(cfg: VariableBindingConfig, folder: Path, show_progress: bool = True):
    if not ((folder / "model.safetensors").is_file() and not (folder / PROGRESS_DIR).exists()):
        train(cfg.model, folder, resume=(folder / PROGRESS_DIR).exists(), show_progress=show_progress)
    return load_pretrained(folder)


def run_study(cfg: VariableBindingConfig, out: str | Path, show_progress: bool = True) -> Path:
    """Trains (or reuses) the model under `out`/model, runs every (seed, sparsity), writes `out`/index.html."""
    start, out = time.time(), Path(out)
    model = ensure_model(cfg, out / "model", show_progress)
    task = get_task(cfg.model.task, **cfg.model.task_settings)
    results = [analyse(model, task, seed, s, cfg) for s in cfg.sparsities for seed in cfg.seeds]
    out.mkdir(parents=True, exist_ok=True)
    bars = {
        f"l={s}": {
            k: (float(np.mean(v)), float(np.std(v)))
            for k, v in {
                "value": [r["value_accuracy"] for r in results if r["sparsity"] == s],
                "invariance": [r["invariance_accuracy"] for r in results if r["sparsity"] == s],
                "kept only": [r["retrieval_kept_accuracy"] for r in results if r["sparsity"] == s],
                "random": [r["random_retrieval_kept_accuracy"] for r in results if r["sparsity"] == s],
            }.items()
        }
        for s in cfg.sparsities
    }
    figure = bar_chart_png(bars, out / "accuracies.png", "accuracy per sparsity")
    seconds = time.time() - start
    return write_report(
        out,
        "Variable binding with desiderata",
        f"DCM over every final-token head and MLP of a model trained in-repo on arithmetic; {len(cfg.seeds)} seeds "
        f"per sparsity; {seconds / 60:.1f} min on this machine. Paper numbers are LLaMA-13B.",
        findings(results),
        [("Desiderata and kept-only accuracies (mean, std over seeds)", figure)],
        {"results": results, "config": dataclasses.asdict(cfg), "seconds": seconds},
    )
