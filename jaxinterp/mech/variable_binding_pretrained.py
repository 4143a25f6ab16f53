"""The variable-binding study on a pretrained checkpoint (`jaxinterp mech variable-binding --model PATH`):
accuracy first, and a stop where the model is at chance.

Prompt, the paper's (Davies et al. 2023) as text through the model's own tokenizer:

    x = 57\\ny = 23\\nx + y =   -> the first token of " 80"

x, y in 10..99, operations + and - (non-negative results), the prompt ending in "= " as the paper's does.
The answer token is the first token of the result (LLaMA and SmolLM2 split numbers into digits, so it is
the leading digit, as the paper scores it). Every prompt has one length (two-digit operands); a tokenizer
that breaks this is an `InputError`.

Chance is not 1 / 10: leading digits of sums and differences are not uniform. Decision: chance is the
majority baseline, the accuracy of always answering the most frequent answer token of the evaluation
prompts, and the model is above chance when its accuracy exceeds that by more than `z` binomial
standard errors (as in `entity_tracking.pretrained`). At chance the report says so and stops. Above chance
the report says the model does the task; the DCM search of the in-repo study
(`variable_binding.analyse`) samples word-level prompts itself and does not run on text prompts yet.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from jaxinterp.errors import InputError
from jaxinterp.hf import load_tokenizer
from jaxinterp.mech.circuits import mean_ablation
from jaxinterp.mech.models.load import load_pretrained
from jaxinterp.mech.study_report import Finding, bar_chart_png, write_report
from jaxinterp.mech.tasks.base import rng

OPS = ("+", "-")


@dataclasses.dataclass(frozen=True)
class PretrainedBindingConfig:
    prompts: int = 100  # per operation
    z: float = 2.0
    seed: int = 0

    def __post_init__(self):
        if self.prompts < 1 or self.z < 0:
            raise InputError(f"need prompts >= 1 and z >= 0, got {self.prompts} and {self.z}")


def prompt(x: int, y: int, op: str) -> tuple[str, int]:
    """The paper's prompt and its result."""
    return f"x = {x}\ny = {y}\nx {op} y = ", x + y if op == "+" else x - y


def sample(tokenizer, op: str, seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """([n, seq] token ids, [n] answer token ids) of `n` prompts with operation `op`."""
    gen, texts, answers = rng(seed), [], []
    while len(texts) < n:
        x, y = (int(v) for v in gen.integers(10, 100, size=2))
        text, result = prompt(x, y, op)
        if result < 0:
            continue
        texts.append(text)
        answers.append(tokenizer(str(result), add_special_tokens=False)["input_ids"][0])
    ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
    if len({len(row) for row in ids}) != 1:
        raise InputError("the variable-binding prompts tokenise to different lengths with this tokenizer")
    return np.asarray(ids, np.int32), np.asarray(answers, np.int32)


def accuracy_table(model, tokenizer, cfg: PretrainedBindingConfig) -> dict[str, dict[str, Any]]:
    """op -> accuracy, the majority baseline, the bar and the verdict."""
    table = {}
    for k, op in enumerate(OPS):
        tokens, answers = sample(tokenizer, op, 50_000 + 10 * cfg.seed + k, cfg.prompts)
        predicted = np.argmax(mean_ablation.last_logits(model, tokens, 64), axis=-1)
        chance = float(np.max(np.unique(answers, return_counts=True)[1]) / len(answers))
        bar = chance + cfg.z * float(np.sqrt(chance * (1 - chance) / len(answers)))
        accuracy = float(np.mean(predicted == answers))
        table[op] = {"accuracy": accuracy, "chance": chance, "bar": bar, "above_chance": accuracy > bar}
    return table


def run_pretrained_binding(model_path: str | Path, out: str | Path, cfg=PretrainedBindingConfig()) -> Path:
    """Accuracy per operation on the checkpoint folder `model_path`, the decision, `<out>/index.html`."""
    start, out = time.time(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(model_path)
    table = accuracy_table(load_pretrained(model_path), tokenizer, cfg)
    above = all(row["above_chance"] for row in table.values())
    results = {"model": str(model_path), "accuracy": table, "above_chance": above, "config": dataclasses.asdict(cfg)}
    findings = [
        Finding(
            f"The model computes x {op} y (first digit)",
            "LLaMA-13B does the task (the paper studies it)",
            f"{row['accuracy']:.2f} on {cfg.prompts} prompts; majority baseline {row['chance']:.2f}",
            bool(row["above_chance"]),
            f"above chance = above {row['bar']:.2f} (baseline + {cfg.z:g} standard errors)",
        )
        for op, row in table.items()
    ]
    verdict = (
        "above chance on both operations: the DCM search does not run on text prompts yet"
        if above
        else "at chance: stopped, no binding components searched"
    )
    findings.append(Finding("Decision", "(a circuit study needs a model that does the task)", verdict, above))
    bars = {op: {"model": (row["accuracy"], 0.0), "chance": (row["chance"], 0.0)} for op, row in table.items()}
    figure = bar_chart_png(bars, out / "accuracy.png", "first-digit accuracy")
    results["seconds"] = time.time() - start
    (out / "results.json").write_text(json.dumps(results))
    intro = (
        f"Variable binding (Davies et al. 2023) on the pretrained checkpoint {model_path}: the paper's prompts "
        f"('x = 57\\ny = 23\\nx + y = ') through its own tokenizer; {results['seconds'] / 60:.1f} min."
    )
    return write_report(out, "Variable binding on a pretrained model", intro, findings, [("Accuracy", figure)], results)
