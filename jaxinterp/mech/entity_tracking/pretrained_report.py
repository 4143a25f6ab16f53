"""The report of `entity_tracking.pretrained`: the accuracy table, the decision, the fine-tune and the circuit.

Built from `study_report` (findings beside the paper's numbers, bar charts, numbers.json) and `heatmaps`
(path-patching scores per round). Paper numbers (LLaMA-7B; `../shared/references/mech.md` §0, 1.4-1.5):
accuracy 0.66 on 7 boxes; 72 (head, position) nodes of 32 x 32 heads at 3 positions; faithfulness 1.00;
random circuits of the same size 0.00.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jaxinterp.mech import heatmaps
from jaxinterp.mech.entity_tracking.report import SHORT
from jaxinterp.mech.study_report import Finding, bar_chart_png, write_report


def _accuracy_findings(results: dict[str, Any]) -> list[Finding]:
    before, after = results["before"], results.get("after")
    out = []
    for boxes, row in before.items():
        ours = f"{row['accuracy']:.2f} (answers a context object {row['in_context']:.2f})"
        studied = row
        if after is not None:
            studied = after[boxes]
            ours = f"before {ours}; after fine-tuning {studied['accuracy']:.2f} ({studied['in_context']:.2f})"
        out.append(
            Finding(
                f"Entity tracking with {boxes} boxes is above chance",
                "LLaMA-7B 0.66 on 7 boxes" if boxes == "7" else "(the paper tests 7 boxes)",
                ours,
                bool(studied["above_chance"]),
                f"chance {row['chance']:.2f}; above chance = above {row['bar']:.2f} (chance + 2 standard errors)",
            )
        )
    return out


def _finetune_finding(results: dict[str, Any]) -> Finding:
    ft = results["finetune"]
    history = ft["history"]
    first = np.mean([h["loss"] for h in history[:10]]) if history else float("nan")
    last = np.mean([h["loss"] for h in history[-10:]]) if history else float("nan")
    return Finding(
        "Fine-tuning on the task",
        "Goat-7B (LoRA) / FLoat-7B: 0.66 -> 0.82 (fine-tuned on arithmetic, not on boxes)",
        f"{ft['method']}, {ft['steps']} steps, lr {ft['learning_rate']:g}, {ft['trainable_parameters']:,} trainable "
        f"parameters, {ft['seconds'] / 60:.1f} min; answer loss {first:.2f} (first 10 steps) -> {last:.2f} (last 10)",
        None,
        "fine-tuned on boxes prompts of other seeds than the evaluation's",
    )


def _circuit_findings(circuit: dict[str, Any]) -> list[Finding]:
    groups = ", ".join(f"{SHORT[g]} {n}" for g, n in circuit["groups"].items() if n)
    share = circuit["nodes"] / circuit["all_nodes"]
    return [
        Finding(
            "A small circuit is faithful (everything else mean-ablated)",
            "72 nodes; faithfulness 1.00",
            f"{circuit['nodes']} nodes ({groups or 'none'}) = {share:.3f} of all (head, position) nodes; "
            f"faithfulness {circuit['faithfulness']:.2f} (circuit {circuit['circuit_accuracy']:.2f} / full "
            f"{circuit['full_accuracy']:.2f})",
            bool(circuit["faithfulness"] >= 0.9) if np.isfinite(circuit["faithfulness"]) else None,
            f"bar: >= 0.9; discovery {circuit['discovery_seconds'] / 60:.1f} min",
        ),
        Finding(
            "A random circuit of the same size fails",
            "0.00-0.01",
            f"drawn outside the circuit {circuit['random_outside_accuracy']:.2f} +- {circuit['random_outside_std']:.2f}"
            f"; uniform {circuit['random_accuracy']:.2f} +- {circuit['random_std']:.2f}; every head ablated "
            f"{circuit['empty_accuracy']:.2f}",
            bool(circuit["random_outside_accuracy"] <= 0.15),
            "bar: outside-the-circuit draws <= 0.15",
        ),
    ]


def findings(results: dict[str, Any]) -> list[Finding]:
    out = _accuracy_findings(results)
    if "finetune" in results:
        out.append(_finetune_finding(results))
    decision = results["decision"]
    verdict = "above chance: circuit drawn" if decision["above_chance"] else "at chance: stopped, no circuit drawn"
    out.append(
        Finding(
            f"Decision on {decision['boxes']} boxes",
            "(a circuit study needs a model that does the task)",
            f"{decision['accuracy']:.2f} vs bar {decision['bar']:.2f}: {verdict}",
            bool(decision["above_chance"]),
        )
    )
    if "circuit" in results:
        out += _circuit_findings(results["circuit"])
    return out


def figures(out: Path, results: dict[str, Any]) -> list[tuple[str, Path]]:
    tables = {"before": results["before"], **({"after": results["after"]} if "after" in results else {})}
    bars = {
        f"{boxes} boxes": {
            **{name: (table[boxes]["accuracy"], 0.0) for name, table in tables.items()},
            "chance": (results["before"][boxes]["chance"], 0.0),
        }
        for boxes in results["before"]
    }
    figs = [("Accuracy by number of boxes (top-1 at the last token)", bar_chart_png(bars, out / "boxes.png", "acc"))]
    circuit = results.get("circuit")
    if circuit is None:
        return figs
    faith = {
        "accuracy": {
            "full": (circuit["full_accuracy"], 0.0),
            "circuit": (circuit["circuit_accuracy"], 0.0),
            "random": (circuit["random_accuracy"], circuit["random_std"]),
            "random outside": (circuit["random_outside_accuracy"], circuit["random_outside_std"]),
            "all ablated": (circuit["empty_accuracy"], 0.0),
        }
    }
    figs.append(("Full model, circuit, random circuits", bar_chart_png(faith, out / "faith.png", "acc")))
    for group, scores in circuit["scores"].items():
        values = np.asarray(scores)
        if np.any(values):
            path = heatmaps.heatmap_png(
                values, out / f"path_patching_{group}.png", row_label="layer", col_label="head", title=SHORT[group]
            )
            figs.append((f"Path patching scores, {group} round (negative = the head's path carries the answer)", path))
    return figs


def write(out: Path, results: dict[str, Any]) -> Path:
    tuned = "" if "finetune" not in results else f", fine-tuned ({results['finetune']['method']}) and studied again"
    intro = (
        f"Entity tracking (Prakash et al. 2024) on the pretrained checkpoint {results['model']}{tuned}; text prompts "
        "through its own tokenizer ('The ring is in Box Z, and the lamp is in Box D. Box D contains the'); "
        f"{results['seconds'] / 60:.1f} min on this machine. Grouped-query heads are studied as the equivalent "
        "multi-head model (each query head with its own copy of its group's key and value)."
    )
    return write_report(
        out, "Entity tracking on a pretrained model", intro, findings(results), figures(out, results), results
    )
