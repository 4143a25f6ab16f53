"""The entity-tracking study on a pretrained checkpoint (`jaxinterp mech entity-tracking --model PATH`).

Protocol:
  1. Accuracy by number of boxes (2, 3, 4, 5, 7 by default; the paper's prompts have 7) on text prompts
     through the model's own tokenizer (`text_prompts`), top-1 at the last token, `prompts` per count.
     Chance is 1 / boxes: a model that names one of the context's objects at random. Next to it, the share
     of answers that are one of the prompt's objects at all ("in context").
  2. Optionally (`finetune`, `--finetune-steps N`) fine-tune the model on boxes prompts (`mech.finetune`,
     LoRA by default, see there), with the box counts `train_box_counts`, on prompts drawn from other
     seeds than the evaluation's, and measure the table again.
  3. The decision: the studied model (the fine-tune if there is one) is "above chance" on `study_boxes`
     boxes when its accuracy exceeds 1 / boxes by more than `z` binomial standard errors at chance,
     sqrt(p (1 - p) / n) with p = 1 / boxes (z = 2: one-sided ~2%). At chance the study stops there and
     the report says so: a circuit of a model that does not do the task explains nothing.
  4. Above chance: the circuit by path patching (`circuits.discovery`, the paper's rounds and ours) on
     the multi-head copy of the model (`mech.ungroup_heads`, for grouped-query models such as SmolLM2),
     evaluated by mean ablation (`circuits.mean_ablation`): faithfulness, random circuits of the same
     group sizes (uniform and outside the circuit) and every head ablated.

Decisions:
  * Cost: path patching runs one forward pass per sender head per prompt (two with receivers), and
    SmolLM2 has 270 heads, so `sizes.path_patching` is small (16 by default against the paper's 300) and
    the three segment rounds of `discovery` (queried "is" / "in" / "Box") are off unless
    `segment_rounds`: they were added for 3-layer models that read the object from its segment's tokens.
  * Which heads: the paper's rule, the top-k of each round (`settings.top_k`, 8 / 4 / 4 / 4 of 270
    heads against the paper's 20 / 5 / 10 / 5 of 1024), with no minimum effect (`min_effect` 0), not the
    1% threshold the word-level study uses on 3-layer models. Measured: SmolLM2 after 60 LoRA steps
    (3 boxes: 1.00, the answer's probability near 1) had no head whose path moved p(answer) by more than
    0.21% in the first round, so the 1% rule kept nothing and the circuit was empty (0 nodes; every head
    mean-ablated: 0.09). A model with 270 heads spreads the work over many; each alone moves little.
  * Measured on SmolLM2-135M-Instruct (shared 2-core CPU, other jobs running): at chance on 2/3/4/5/7
    boxes (0.37/0.17/0.20/0.10/0.07 on 60 prompts); after 30 LoRA steps (batch 8, 2-4 boxes, 95 s)
    1.00/0.98/0.88/0.85/0.53; the circuit (8 discovery prompts) has 25 nodes of 7020 and keeps 0.30 of
    the accuracy (random circuits of its size 0.03, every head ablated 0.00); discovery took 27 min. The
    structure-reader, label-matcher and object-reader rounds scored every head below 0.01% there, so
    their top-k picks are noise: with 8 prompts only the last-token rounds and the detectors separate.
  * The evaluation, mean and discovery prompts are those of `text_prompts` with the seeds
    `analysis.evaluate_circuit` uses for the word-level study (10_000 + seed and 20_000 + seed); that
    function samples word-level prompts itself, so its few lines are repeated here for text prompts.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxinterp.errors import InputError
from jaxinterp.hf import load_tokenizer, read_config
from jaxinterp.mech.circuits import mean_ablation
from jaxinterp.mech.circuits.discovery import discover_circuit
from jaxinterp.mech.entity_tracking.analysis import AnalysisSizes, DiscoverySettings
from jaxinterp.mech.entity_tracking.text_prompts import TextBoxes, training_batch
from jaxinterp.mech.finetune import FinetuneConfig, finetune
from jaxinterp.mech.models.load import load_pretrained
from jaxinterp.mech.tasks.boxes_counterfactuals import EntityExamples
from jaxinterp.mech.ungroup_heads import ungroup_heads

SEGMENT_ROLES = ("queried_is", "queried_in", "queried_box")


@dataclasses.dataclass(frozen=True)
class PretrainedStudyConfig:
    """The study on a pretrained model (module docstring)."""

    box_counts: tuple[int, ...] = (2, 3, 4, 5, 7)
    prompts: int = 60  # per box count (the issue measured SmolLM2 on 60)
    study_boxes: int = 3  # the count the decision and the circuit use (the trained study's)
    z: float = 2.0
    finetune: FinetuneConfig | None = None
    train_box_counts: tuple[int, ...] = (2, 3, 4)
    sizes: AnalysisSizes = AnalysisSizes(path_patching=16, evaluation=64, mean=64, random_draws=5)
    settings: DiscoverySettings = DiscoverySettings(min_effect=0.0)  # the paper's top-k rule (module docstring)
    segment_rounds: bool = False
    and_before_last: bool = True
    seed: int = 0

    def __post_init__(self):
        counts = (*self.box_counts, *self.train_box_counts, self.study_boxes)
        if min(counts) < 2:
            raise InputError(f"box counts must be >= 2, got {sorted(set(counts))}")
        if self.study_boxes not in self.box_counts:
            raise InputError(f"study_boxes {self.study_boxes} must be one of the box counts {self.box_counts}")
        if self.prompts < 1 or self.z < 0:
            raise InputError(f"need prompts >= 1 and z >= 0, got {self.prompts} and {self.z}")


def chance_bar(boxes: int, n: int, z: float) -> float:
    """The accuracy a model must exceed to be above chance: 1/boxes + z * sqrt(p (1-p) / n), p = 1/boxes."""
    p = 1.0 / boxes
    return p + z * float(np.sqrt(p * (1 - p) / n))


def above_chance(accuracy: float, boxes: int, n: int, z: float) -> bool:
    return accuracy > chance_bar(boxes, n, z)


def predictions(model, examples: EntityExamples) -> np.ndarray:
    """[n] the top-1 token at the last position."""
    return np.argmax(mean_ablation.last_logits(model, examples.tokens, 64), axis=-1)


def score(predicted: np.ndarray, examples: EntityExamples, object_ids: set[int]) -> dict[str, float]:
    """accuracy and in_context: the share of predictions that are one of the prompt's own objects."""
    in_context = [
        int(p) in object_ids and int(p) in set(row.tolist()) for p, row in zip(predicted, examples.tokens, strict=True)
    ]
    return {"accuracy": float(np.mean(predicted == examples.answers)), "in_context": float(np.mean(in_context))}


def accuracy_table(model, tasks: dict[int, TextBoxes], cfg: PretrainedStudyConfig) -> dict[str, dict[str, Any]]:
    """boxes -> accuracy, in_context, chance, the above-chance bar and the verdict, on `cfg.prompts` prompts."""
    table = {}
    for boxes in cfg.box_counts:
        task = tasks[boxes]
        object_ids = {int(task.tokenizer(" " + o, add_special_tokens=False)["input_ids"][0]) for o in task.objects}
        examples = task.sample(30_000 + 100 * cfg.seed + boxes, cfg.prompts)
        row = score(predictions(model, examples), examples, object_ids)
        bar = chance_bar(boxes, cfg.prompts, cfg.z)
        table[str(boxes)] = {**row, "chance": 1.0 / boxes, "bar": bar, "above_chance": row["accuracy"] > bar}
    return table


def _discovery_pairs(task: TextBoxes, cfg: PretrainedStudyConfig) -> tuple[EntityExamples, EntityExamples]:
    clean, noise = task.path_patching_pairs(cfg.seed, cfg.sizes.path_patching)
    if cfg.segment_rounds:
        return clean, noise
    drop = lambda ex: dataclasses.replace(  # noqa: E731
        ex, positions={k: v for k, v in ex.positions.items() if k not in SEGMENT_ROLES}
    )
    return drop(clean), drop(noise)


def circuit_study(model, task: TextBoxes, cfg: PretrainedStudyConfig) -> dict[str, Any]:
    """Discovery and mean-ablation evaluation on a multi-head model (module docstring, step 4)."""
    start = time.perf_counter()
    clean, noise = _discovery_pairs(task, cfg)
    s = cfg.settings
    found = discover_circuit(
        model, clean, noise, top_k=dict(s.top_k), min_effect=s.min_effect, either_sign=s.either_sign
    )
    circuit, discovery_seconds = found.circuit, time.perf_counter() - start
    examples = task.sample(10_000 + cfg.seed, cfg.sizes.evaluation)
    means = mean_ablation.mean_head_outputs(model, task.mean_prompts(20_000 + cfg.seed, cfg.sizes.mean).tokens)
    args = (model, examples.tokens, examples.answers, means, circuit, examples.positions)
    result = mean_ablation.faithfulness(*args)
    uniform = mean_ablation.random_baseline(*args, draws=cfg.sizes.random_draws, seed=cfg.seed)
    outside = mean_ablation.random_baseline(*args, draws=cfg.sizes.random_draws, seed=cfg.seed, outside=True)
    layers, seq, heads = mean_ablation.head_axes(model, examples.tokens[:1])
    nothing = np.zeros((len(examples.answers), layers, seq, heads), bool)
    empty = mean_ablation.circuit_accuracy(model, examples.tokens, examples.answers, means, nothing)
    return {
        "circuit": circuit.to_json(),
        "groups": {g: len(h) for g, h in circuit.groups.items()},
        "nodes": circuit.size(),
        "heads": layers * heads,
        "all_nodes": layers * heads * seq,
        "scores": {g: v.tolist() for g, v in found.scores.items()},
        **result,
        "random_accuracy": uniform["mean"],
        "random_std": uniform["std"],
        "random_outside_accuracy": outside["mean"],
        "random_outside_std": outside["std"],
        "empty_accuracy": empty,
        "discovery_seconds": discovery_seconds,
        "seconds": time.perf_counter() - start,
    }


def _tasks(tokenizer, cfg: PretrainedStudyConfig) -> dict[int, TextBoxes]:
    counts = sorted({*cfg.box_counts, *cfg.train_box_counts, cfg.study_boxes})
    return {k: TextBoxes.for_tokenizer(tokenizer, k, cfg.and_before_last) for k in counts}


def _finetune(model, tasks: dict[int, TextBoxes], cfg: PretrainedStudyConfig, pad_id: int, show_progress: bool):
    train_tasks = {k: tasks[k] for k in cfg.train_box_counts}
    length = max(t.sample(0, 1).tokens.shape[1] for t in train_tasks.values())
    ft = cfg.finetune

    def batch_for(step: int) -> dict[str, np.ndarray]:
        batch = training_batch(train_tasks, 1_000_000 + 10_000 * ft.seed + step, ft.batch_size, length, pad_id)
        return dataclasses.asdict(batch)

    return finetune(model, batch_for, ft, show_progress)


def run_pretrained_study(
    model_path: str | Path, out: str | Path, cfg: PretrainedStudyConfig = PretrainedStudyConfig(), show_progress=True
) -> Path:
    """Runs the protocol of the module docstring on the checkpoint folder `model_path`; writes
    `<out>/index.html`, `numbers.json`, `results.json` and figures; returns the page.

    Raises:
      InputError: a missing folder, tokenizer or unsupported model; objects or labels that are not single
        tokens for this tokenizer.
    """
    from jaxinterp.mech.entity_tracking import pretrained_report

    start, out = time.time(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = read_config(model_path)
    tokenizer = load_tokenizer(model_path)
    model = load_pretrained(model_path)
    tasks = _tasks(tokenizer, cfg)
    say = print if show_progress else (lambda *_: None)
    results: dict[str, Any] = {"model": str(model_path), "config": dataclasses.asdict(cfg)}
    results["before"] = accuracy_table(model, tasks, cfg)
    say("accuracy before: " + ", ".join(f"{k} boxes {v['accuracy']:.2f}" for k, v in results["before"].items()))
    studied = model
    if cfg.finetune is not None:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        tuned = _finetune(model, tasks, cfg, pad_id, show_progress)
        studied = tuned.model
        results["finetune"] = {
            "method": cfg.finetune.method,
            "steps": cfg.finetune.steps,
            "learning_rate": cfg.finetune.rate(),
            "trainable_parameters": tuned.trainable_parameters,
            "seconds": tuned.seconds,
            "history": tuned.history,
        }
        results["after"] = accuracy_table(studied, tasks, cfg)
        say("accuracy after: " + ", ".join(f"{k} boxes {v['accuracy']:.2f}" for k, v in results["after"].items()))
    row = results["after" if cfg.finetune is not None else "before"][str(cfg.study_boxes)]
    decision_accuracy, bar = row["accuracy"], row["bar"]
    results["decision"] = {"boxes": cfg.study_boxes, "accuracy": decision_accuracy, "bar": bar}
    results["decision"]["above_chance"] = row["above_chance"]
    if row["above_chance"]:
        say(f"{cfg.study_boxes} boxes: {decision_accuracy:.2f} > {bar:.2f}, above chance; finding the circuit")
        results["circuit"] = circuit_study(ungroup_heads(studied, config), tasks[cfg.study_boxes], cfg)
        say(f"circuit: {results['circuit']['nodes']} nodes, faithfulness {results['circuit']['faithfulness']:.2f}")
    else:
        say(f"{cfg.study_boxes} boxes: {decision_accuracy:.2f} <= {bar:.2f}, at chance; no circuit drawn")
    results["seconds"] = time.time() - start
    (out / "results.json").write_text(json.dumps(results))
    return pretrained_report.write(out, results)
