"""Faithfulness of an IOI circuit by mean ablation (Wang et al. 2022, §4) and activation patching of heads.

F(C) = mean logit difference with every head OUTSIDE the circuit C replaced by its mean over the ABC
prompts of the same template variant, at each position; circuit heads run live at every position.
Faithfulness = F(C) / F(M), M the whole model (no head ablated). Paper, GPT-2 small: 87% for its 26 heads.

Controls: the empty circuit (every head ablated: what is left without heads), random circuits of the same
size (heads drawn uniformly from all heads; the issue's bar is at most 10%), the circuit with one class
knocked out (how much each class carries), and the same circuit on templates not used to find it.

Decisions:
  * Means are taken over the evaluation prompts' own ABC counterfactuals, per template variant (template
    x order: positions differ between BABA and ABBA) and position. Padding positions (after END) get the
    mean too; END cannot see them.
  * Circuit heads are kept at every position (the paper's evaluation also lists heads, not head-position
    pairs); keeping heads only at their class's position would be a stricter test.
  * Every keep mask of a call (full, circuit, empty, random draws, knock-outs) is one "sweep" entry of one
    vectorised forward pass per template variant.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.mech import patching
from jaxinterp.mech.ioi.rounds import (
    Head,
    HeadShape,
    all_logits,
    clean_logit_difference,
    end_logit_difference,
    head_mask,
    tokens_of,
)
from jaxinterp.mech.tasks.ioi import IOIPrompts


@jax.jit
def _mean_heads(model, rows):
    heads = patching.capture(model, tokens_of(rows), "head_out")
    return pz.nx.nmap(jnp.mean)(heads.untag("batch"))


@jax.jit
def _ablated(sited, rows, means, drop_rows):
    drop = pz.nx.wrap(drop_rows).tag("sweep", "layer", *_AXES)
    logits = sited(tokens_of(rows), patch_source=means, patch_mask=drop)
    return logits.unwrap("sweep", "batch", "seq", "vocabulary")


_AXES = ("head_groups", "query_heads")


def ablated_logit_differences(
    model, prompts: IOIPrompts, keeps: Sequence[Sequence[Head]], shape: HeadShape, chunk: int = 8
) -> np.ndarray:
    """[len(keeps), n]: per prompt, the logit difference with every head outside keeps[i] mean-ablated.

    `model` is names-only (`models.names_only`) with ("head_groups", "query_heads") head axes (a
    multi-head model is viewed with query_heads = 1 by the caller's `HeadShape`).
    """
    if shape.head_axes != _AXES:
        raise ValueError(f"evaluation expects head axes {_AXES}, got {shape.head_axes}")
    sited = patching.with_sites(model, "head_out")
    drops = np.stack([~head_mask(shape, keep) for keep in keeps])
    out = np.zeros((len(keeps), len(prompts)))
    for variant in range(len(prompts.variants)):
        rows = np.flatnonzero(prompts.variant == variant)
        means = _mean_heads(model, prompts.abc[rows])
        pieces = []
        for start in range(0, len(drops), chunk):
            part = drops[start : start + chunk]
            padded = np.concatenate([part, np.zeros((chunk - len(part), *part.shape[1:]), bool)])
            pieces.append(np.asarray(_ablated(sited, prompts.tokens[rows], means, jnp.asarray(padded)))[: len(part)])
        logits = np.concatenate(pieces)
        subset = _subset(prompts, rows)
        out[:, rows] = end_logit_difference(logits, subset)
    return out


def _subset(prompts: IOIPrompts, rows: np.ndarray) -> IOIPrompts:
    return IOIPrompts(
        prompts.tokens[rows],
        prompts.abc[rows],
        prompts.io[rows],
        prompts.s[rows],
        prompts.io_ids[rows],
        prompts.s_ids[rows],
        {k: v[rows] for k, v in prompts.positions.items()},
        prompts.variant[rows],
        prompts.variants,
    )


def random_circuits(shape: HeadShape, size: int, draws: int, seed: int) -> list[list[Head]]:
    """`draws` sets of `size` heads drawn uniformly without replacement from all heads (one generator)."""
    rng = np.random.default_rng(seed)
    every = [(layer, head) for layer in range(shape.layers) for head in range(shape.heads)]
    return [[every[i] for i in sorted(rng.choice(len(every), size, replace=False))] for _ in range(draws)]


def faithfulness(
    model,
    prompts: IOIPrompts,
    circuit: Sequence[Head],
    shape: HeadShape,
    classes: dict[str, Sequence[Head]] | None = None,
    random_draws: int = 0,
    seed: int = 0,
) -> dict:
    """F(M), F(C), F(empty) and ratios; random same-size circuits; per-class knock-outs (module docstring)."""
    every = [(layer, head) for layer in range(shape.layers) for head in range(shape.heads)]
    knockouts = {name: [h for h in circuit if h not in set(heads)] for name, heads in (classes or {}).items() if heads}
    randoms = random_circuits(shape, len(circuit), random_draws, seed) if random_draws else []
    keeps = [every, list(circuit), [], *knockouts.values(), *randoms]
    values = ablated_logit_differences(model, prompts, keeps, shape)
    full, kept, empty = (float(values[i].mean()) for i in range(3))
    result = {
        "full_logit_difference": full,
        "full_accuracy": float((values[0] > 0).mean()),
        "circuit_logit_difference": kept,
        "circuit_accuracy": float((values[1] > 0).mean()),
        "empty_logit_difference": empty,
        "faithfulness": kept / full,
        "empty_faithfulness": empty / full,
        "knockout_faithfulness": {name: float(values[3 + i].mean()) / full for i, name in enumerate(knockouts)},
    }
    if randoms:
        scores = values[3 + len(knockouts) :].mean(axis=1) / full
        result["random"] = {"mean": float(scores.mean()), "std": float(scores.std()), "draws": scores.tolist()}
    return result


def activation_patching_heads(model, prompts: IOIPrompts, shape: HeadShape, chunk: int = 16) -> np.ndarray:
    """[layer, heads]: relative change of the mean logit difference when one head's output (at every
    position) is patched from the ABC run into the clean run (noising; `patching.activation_patching`)."""
    one_hot = np.stack([head_mask(shape, [(layer, h)]) for layer in range(shape.layers) for h in range(shape.heads)])
    masks = pz.nx.wrap(jnp.asarray(one_hot)).tag("sweep", "layer", *shape.head_axes)
    result = patching.activation_patching(
        model, "head_out", tokens_of(prompts.abc), tokens_of(prompts.tokens), all_logits, chunk=chunk, masks=masks
    )
    logits = np.asarray(result.unwrap("sweep", "batch", "seq", "vocabulary"))
    patched = end_logit_difference(logits, prompts).mean(axis=1)
    base = clean_logit_difference(model, prompts).mean()
    return ((patched - base) / base).reshape(shape.layers, shape.heads)
