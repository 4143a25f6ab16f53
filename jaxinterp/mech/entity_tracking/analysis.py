"""One seed of the entity-tracking analyses on already trained models (the paper's §1.3-1.7).

Given the base model, its fine-tuned variants and a data seed, `analyse_seed`:
  1. finds the circuit in the base model by path patching (`circuits.discovery`);
  2. evaluates it by mean ablation in every model (faithfulness = circuit accuracy / full accuracy; each
     model's own mean activations), next to random circuits of the same group sizes, drawn uniformly (the
     paper's control) and drawn outside the circuit (its analogue for a model with few heads, see
     `circuits.nodes`), and the floor with every head ablated ("empty");
  3. runs DCM on the base model for each group x desideratum (object / label / position value) and records
     the share of the group's heads selected and the test accuracy of the learned mask;
  4. patches each fine-tuned model's head outputs into the base model at the circuit's heads (CMAP), per
     group and for the whole circuit.
The paper's dataset sizes are 300 (path patching), 500 (evaluation and means), 2000 (DCM) and 500 (CMAP);
`AnalysisSizes` scales them down for small CPU budgets (decision: the defaults keep each estimate's
standard error near 0.02-0.03). Discovery keeps heads whose path removes >= 1% of the answer's probability
(`min_effect` 0.01, the paper's minimality threshold): at 0.05 one seed of three missed a first-layer object
reader (-0.04) and faithfulness fell from ~0.95 to 0.42; at 0.03 a model trained from another seed, which
answers with p ~ 1 through redundant heads, kept only 5 nodes (faithfulness 0.06), against 14 nodes and
0.92 at 0.01.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxinterp.mech.circuits import cmap, mean_ablation
from jaxinterp.mech.circuits.dcm import dcm_group
from jaxinterp.mech.circuits.discovery import GROUPS, ROLE_OF_GROUP, discover_circuit
from jaxinterp.mech.circuits.nodes import Circuit
from jaxinterp.mech.tasks import boxes_counterfactuals as cf


@dataclasses.dataclass(frozen=True)
class AnalysisSizes:
    """Prompts per analysis (the paper's in parentheses)."""

    path_patching: int = 96  # (300)
    evaluation: int = 256  # (500)
    mean: int = 256  # (500)
    dcm: int = 384  # (2000), split 1/2 train, 1/4 eval, 1/4 test
    random_draws: int = 10  # (10)


@dataclasses.dataclass(frozen=True)
class DiscoverySettings:
    top_k: tuple[tuple[str, int], ...] = (
        ("value_fetcher", 8),
        ("position_transmitter", 4),
        ("position_detector", 4),
        ("structure_reader", 4),
    )
    min_effect: float = 0.01
    either_sign: bool = True  # heads that raise the answer count too (circuits.discovery docstring)
    dcm_sparsity: float = 0.01  # the paper's lambda
    dcm_lr: float = 0.1
    dcm_epochs: int = 2
    dcm_batch: int = 32


def accuracy(model, examples: cf.EntityExamples) -> float:
    logits = mean_ablation.last_logits(model, examples.tokens, 64)
    return mean_ablation.accuracy(logits, examples.answers)


def evaluate_circuit(model, circuit: Circuit, task, seed: int, sizes: AnalysisSizes) -> dict[str, Any]:
    """Faithfulness of `circuit` in `model` and the random same-size baseline."""
    examples = cf.sample(task, 10_000 + seed, sizes.evaluation)
    means = mean_ablation.mean_head_outputs(model, cf.mean_prompts(task, 20_000 + seed, sizes.mean).tokens)
    result = mean_ablation.faithfulness(model, examples.tokens, examples.answers, means, circuit, examples.positions)
    args = (model, examples.tokens, examples.answers, means, circuit, examples.positions)
    uniform = mean_ablation.random_baseline(*args, draws=sizes.random_draws, seed=seed)
    outside = mean_ablation.random_baseline(*args, draws=sizes.random_draws, seed=seed, outside=True)
    layers, seq, heads = mean_ablation.head_axes(model, examples.tokens[:1])
    nothing = np.zeros((len(examples.answers), layers, seq, heads), bool)
    empty = mean_ablation.circuit_accuracy(model, examples.tokens, examples.answers, means, nothing)
    return {
        **result,
        "random_accuracy": uniform["mean"],
        "random_std": uniform["std"],
        "random_outside_accuracy": outside["mean"],
        "random_outside_std": outside["std"],
        "empty_accuracy": empty,
    }


def dcm_shares(model, circuit: Circuit, task, seed: int, sizes: AnalysisSizes, s: DiscoverySettings) -> dict:
    """group -> desideratum -> {share of the group's heads selected, test accuracy, heads}."""
    out: dict[str, dict[str, Any]] = {}
    for group in GROUPS:
        heads = circuit.groups[group]
        out[group] = {}
        if not heads:
            continue
        role = ROLE_OF_GROUP[group]
        for kind in cf.DESIDERATA:
            pairs = cf.desiderata_pairs(task, kind, 30_000 + seed, sizes.dcm)
            result = dcm_group(
                model,
                pairs.base.tokens,
                pairs.source.tokens,
                pairs.targets,
                heads,
                pairs.base.positions[role],
                pairs.source.positions[role],
                sparsity=s.dcm_sparsity,
                lr=s.dcm_lr,
                epochs=s.dcm_epochs,
                batch_size=s.dcm_batch,
                seed=seed,
            )
            out[group][kind] = {
                "share": len(result.heads) / len(heads),
                "test_accuracy": result.test_accuracy,
                "heads": [list(h) for h in result.heads],
            }
    return out


def cmap_gains(base, donor, circuit: Circuit, task, seed: int, sizes: AnalysisSizes) -> dict[str, float]:
    """Base accuracy with the donor's head outputs at each group's heads (and the whole circuit), next to
    the unpatched base and the donor on the same prompts."""
    examples = cf.sample(task, 40_000 + seed, sizes.evaluation)
    groups = Circuit({g: h for g, h in circuit.groups.items() if h}, circuit.roles)
    result = cmap.cmap_per_group(base, donor, examples.tokens, examples.answers, groups, examples.positions)
    return {**result, "unpatched": accuracy(base, examples), "donor": accuracy(donor, examples)}


def analyse_seed(
    base, finetuned: dict[str, Any], task, seed: int, sizes: AnalysisSizes, settings: DiscoverySettings
) -> dict[str, Any]:
    """Every analysis for one data seed (module docstring); JSON-ready except `circuit` (a Circuit)."""
    clean, noise = cf.path_patching_pairs(task, seed, sizes.path_patching)
    found = discover_circuit(
        base, clean, noise, top_k=dict(settings.top_k), min_effect=settings.min_effect, either_sign=settings.either_sign
    )
    circuit = found.circuit
    layers, seq, heads = mean_ablation.head_axes(base, clean.tokens[:1])
    result: dict[str, Any] = {
        "seed": seed,
        "circuit": circuit,
        "scores": {g: v.tolist() for g, v in found.scores.items()},
        "nodes": circuit.size(),
        "all_nodes": layers * heads * seq,
        "faithfulness": {"base": evaluate_circuit(base, circuit, task, seed, sizes)},
        "dcm": dcm_shares(base, circuit, task, seed, sizes, settings),
        "cmap": {},
    }
    for name, model in finetuned.items():
        result["faithfulness"][name] = evaluate_circuit(model, circuit, task, seed, sizes)
        result["cmap"][name] = cmap_gains(base, model, circuit, task, seed, sizes)
    return result
