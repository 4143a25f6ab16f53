"""The synthetic-neuron benchmark: describe every synthetic neuron, score labels and predictive power.

    summary = run_benchmark("runs/maia")                     # offline describer (the baseline row), seconds
    summary = run_benchmark("runs/maia", describe_unit=agent, judge=backend)

For each neuron of `neurons.synthetic_neurons()` the describer gets the neuron's activation maps over the
embedded dataset's training split (the exemplar pool) and returns a label and a description. Scores:

- **label accuracy** per mode (mono / OR / AND): the label names exactly the ground-truth concepts and structure
  (`describer.label_matches`, word by word over the vocabulary); with a judge model, also the judge's verdict
  on whether the description matches the ground-truth label (MAIA scored this with human 2AFC studies);
- **predictive evaluation** (`predictive.py`): mean activation on 7 positive vs 7 neutral prompts written
  from the description, rendered procedurally; and the same with the descriptions shuffled across neurons (a
  control: a wrong description should not predict the unit).

Writes `results.jsonl` (one line per neuron), `summary.json` and `index.html` (the table) under `out`.
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jaxinterp.agent.backends import ChatBackend, ChatMessage, ChatRequest
from jaxinterp.agent.maia import dataset, describer, neurons, predictive
from jaxinterp.errors import InputError

BAR = {"mono": 0.8, "or": 0.5, "and": 0.5}  # the bar for the offline describer
# (neuron, its maps over the pool, the pool's concept index, the pool) -> (label, description)
DescribeUnit = Callable[[neurons.SyntheticNeuron, np.ndarray, describer.ConceptIndex, dict], tuple[str, str]]


def offline_describe_unit(neuron, maps, index, pool) -> tuple[str, str]:
    """The offline describer as a `DescribeUnit`: (label, description)."""
    d = describer.describe(maps, index)
    return d.label, d.description


JUDGE_PROMPT = """\
A neuron's ground-truth selectivity is: {label}.
An interpretability method described the neuron as:

{description}

Does the description identify the same selectivity (the same concept or concepts, and for "A when B is present" \
the condition)? Answer [ANSWER]: yes or [ANSWER]: no."""


def judge_agrees(judge: ChatBackend, label: str, description: str) -> bool:
    """A judge model's verdict on whether `description` matches the ground-truth `label`."""
    question = [ChatMessage("user", JUDGE_PROMPT.format(label=label, description=description))]
    reply = judge.chat(ChatRequest(question, max_tokens=50, temperature=0)).text
    verdict = reply.lower().split("[answer]:")[-1]
    return "yes" in verdict and "no" not in verdict.replace("not", "")


@dataclasses.dataclass(frozen=True)
class BenchmarkResult:
    summary: dict
    results: Path
    summary_json: Path
    html: Path


def run_benchmark(
    out: str | Path,
    data_dir: str | Path | None = None,
    num_images: int = 1000,
    describe_unit: DescribeUnit = offline_describe_unit,
    method: str = "offline describer",
    judge: ChatBackend | None = None,
    prompt_writer: ChatBackend | None = None,
    num_prompts: int = predictive.NUM_PROMPTS,
    limit: int | None = None,
    seed: int = 0,
    detector_error: float = 0.0,
) -> BenchmarkResult:
    """Describe and score the synthetic neurons (module docstring).

    Args:
        out: Folder for results.jsonl, summary.json, index.html.
        data_dir: TFDS data folder of the exemplar pool (default `out/data`).
        num_images: Images in the pool (the dataset's training split).
        describe_unit: (neuron, activation maps over the pool, concept index, pool) -> (label, description).
        method: Name of the describer in the report.
        judge: Optional chat model that checks descriptions against the ground truth.
        prompt_writer: Optional chat model writing the predictive prompts (default: offline writer).
        num_prompts: Positive and neutral prompts per description (paper: 7).
        limit: At most this many neurons per mode.
        seed: Neuron set and prompt seed.
        detector_error: The neurons' miss rate (their spurious rate is half of it); 0 = exact neurons.
    """
    if num_images < 50:
        raise InputError(f"num_images must be at least 50 (the describer needs exemplars), got {num_images}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    source = dataset.load_source(data_dir or out / "data", "train", num_train=num_images, num_test=50)
    pool = dataset.stack(source)
    masks = dataset.batch_masks(pool)
    index = describer.ConceptIndex(masks)
    keys = np.arange(len(pool["image"]))
    chosen = []
    for mode in neurons.MODES:
        all_neurons = neurons.synthetic_neurons(seed, miss=detector_error, spurious=detector_error / 2)
        of_mode = [n for n in all_neurons if n.mode == mode]
        chosen += of_mode[:limit] if limit else of_mode
    records = []
    for neuron in chosen:
        label, text = describe_unit(neuron, neuron.activation_maps(masks, keys), index, pool)
        records.append(
            {
                "neuron": neuron.name,
                "mode": neuron.mode,
                "truth": neuron.label,
                "label": label,
                "description": text,
                "label_correct": describer.label_matches(label, neuron.mode, neuron.concepts),
                "judge_correct": None if judge is None else judge_agrees(judge, neuron.label, text),
            }
        )
    # Predictive evaluation of each description, and of a description from another neuron (shuffled control).
    shift = np.roll(np.arange(len(records)), len(records) // 2 + 1)
    for i, (neuron, record) in enumerate(zip(chosen, records, strict=True)):
        activation = predictive.neuron_activation(neuron)
        for key, text in (("predictive", record["label"]), ("control", records[shift[i]]["label"])):
            if prompt_writer is None:
                pos, neu = predictive.offline_prompts(text, num_prompts, seed=seed + i)
            else:
                pos, neu = predictive.llm_prompts(prompt_writer, text, num_prompts)
            record[key] = predictive.evaluate(activation, pos, neu).to_json()
    summary = summarize(records, method, len(pool["image"]))
    summary["detector_error"] = detector_error
    summary["elapsed_seconds"] = round(time.time() - start, 1)
    results = out / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in records))
    summary_json = out / "summary.json"
    summary_json.write_text(json.dumps(summary, indent=2))
    page = write_html(out / "index.html", summary, records)
    return BenchmarkResult(summary, results, summary_json, page)


def summarize(records: list[dict], method: str, num_images: int) -> dict:
    """Per-mode label accuracy (and judge accuracy) and predictive means, from the per-neuron records."""
    rows = {}
    for mode in neurons.MODES:
        rs = [r for r in records if r["mode"] == mode]
        if not rs:
            continue
        judged = [r["judge_correct"] for r in rs if r["judge_correct"] is not None]
        rows[mode] = {
            "n": len(rs),
            "label_accuracy": float(np.mean([r["label_correct"] for r in rs])),
            "judge_accuracy": float(np.mean(judged)) if judged else None,
            "bar": BAR[mode],
            "predictive_positive": float(np.mean([r["predictive"]["positive"] for r in rs])),
            "predictive_neutral": float(np.mean([r["predictive"]["neutral"] for r in rs])),
            "predictive_wins": float(np.mean([r["predictive"]["gap"] > 0 for r in rs])),
            "control_positive": float(np.mean([r["control"]["positive"] for r in rs])),
            "control_neutral": float(np.mean([r["control"]["neutral"] for r in rs])),
        }
    return {"method": method, "num_images": num_images, "modes": rows}


def table(summary: dict) -> str:
    """The summary as a Markdown table."""
    lines = [
        "| mode | n | label accuracy (bar) | judge | predictive pos / neutral | wins | control pos / neutral |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in summary["modes"].items():
        judge = "-" if r["judge_accuracy"] is None else f"{r['judge_accuracy']:.2f}"
        lines.append(
            f"| {mode} | {r['n']} | {r['label_accuracy']:.2f} (>= {r['bar']}) | {judge} | "
            f"{r['predictive_positive']:.2f} / {r['predictive_neutral']:.2f} | {r['predictive_wins']:.2f} | "
            f"{r['control_positive']:.2f} / {r['control_neutral']:.2f} |"
        )
    return "\n".join(lines)


def write_html(path: Path, summary: dict, records: list[dict]) -> Path:
    """The summary table and every neuron's label, ground truth and predictive means, as one page."""
    rows = "".join(
        f"<tr><td>{html.escape(r['neuron'])}</td><td>{r['mode']}</td><td>{html.escape(r['truth'])}</td>"
        f"<td>{html.escape(r['label'])}</td><td>{'yes' if r['label_correct'] else 'no'}</td>"
        f"<td>{r['predictive']['positive']:.2f} / {r['predictive']['neutral']:.2f}</td></tr>"
        for r in records
    )
    head = "".join(
        f"<tr><td>{m}</td><td>{r['n']}</td><td>{r['label_accuracy']:.2f}</td><td>{r['bar']}</td>"
        f"<td>{r['predictive_positive']:.2f} / {r['predictive_neutral']:.2f}</td>"
        f"<td>{r['control_positive']:.2f} / {r['control_neutral']:.2f}</td></tr>"
        for m, r in summary["modes"].items()
    )
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>MAIA synthetic neurons</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style>"
        f"<h1>MAIA synthetic neurons: {html.escape(summary['method'])}</h1>"
        f"<p>{summary['num_images']} pool images. Label accuracy = the label names the ground-truth concepts and "
        "structure; predictive = mean activation on images of prompts written from the description (positive / "
        "neutral); the control uses another neuron's description.</p>"
        "<table><tr><th>mode</th><th>n</th><th>label accuracy</th><th>bar</th><th>predictive</th><th>control</th>"
        f"</tr>{head}</table><h2>Neurons</h2><table><tr><th>neuron</th><th>mode</th><th>truth</th><th>label</th>"
        f"<th>correct</th><th>predictive</th></tr>{rows}</table>\n"
    )
    return path
