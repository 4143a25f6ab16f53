"""`jaxinterp mech ioi`: the IOI circuit of a pretrained model, found and evaluated over several prompt seeds.

Per seed: fresh discovery prompts (the discovery templates, both orders) find the circuit by the four
path-patching rounds (`rounds`); fresh prompts of the same templates measure its faithfulness, the empty
circuit, random circuits of the same size and per-class knock-outs (`evaluate`); prompts of the held-out
templates (every other template of the paper's list) measure it where it was not found. Activation
patching of every head (the layer x head heatmap) runs on the first seed only: it is a picture, not part
of the circuit, and costs as much as a round. `report` writes index.html and numbers.json.

Decisions:
  * Discovery templates (0, 2, 6, 9) of `tasks.ioi.TEMPLATES` -- four different sentence shapes, as the
    issue's transformers measurement used four; held out: the other eleven. Same for every seed; seeds
    change names, places and objects.
  * All prompt sets are right-padded to one length, so one compiled program serves every call of a kind.
  * Seeds' prompt generators: seed * 1000 + (0 discovery, 1 evaluation, 2 held-out, 3 activation patching).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.mech.ioi import evaluate, models, rounds
from jaxinterp.mech.tasks import ioi


@dataclasses.dataclass(frozen=True)
class IOIStudyConfig:
    """What `run_study` does (module docstring).

    Attributes:
      seeds: prompt seeds (replicates).
      discovery_templates, held_out_templates: indices into `tasks.ioi.TEMPLATES`.
      n_discovery: prompts per template variant (template x order) for the rounds.
      n_eval, n_held_out: prompts per variant for faithfulness on the discovery / held-out templates.
      n_activation: prompts per variant for the activation-patching heatmap (first seed).
      candidates: senders measured exactly per round (first-order pre-selection); None = all eligible.
      selection: the rounds' thresholds and caps.
      random_draws: random same-size circuits per seed.
      chunk: sender masks per compiled call.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    discovery_templates: tuple[int, ...] = (0, 2, 6, 9)
    held_out_templates: tuple[int, ...] = (1, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14)
    n_discovery: int = 5
    n_eval: int = 10
    n_held_out: int = 4
    n_activation: int = 2
    candidates: int | None = 32
    selection: rounds.Selection = rounds.Selection()
    random_draws: int = 10
    chunk: int = 16

    def __post_init__(self):
        from jaxinterp.errors import InputError

        if not self.seeds:
            raise InputError("at least one seed is needed")
        overlap = set(self.discovery_templates) & set(self.held_out_templates)
        if overlap:
            raise InputError(f"templates {sorted(overlap)} are both discovery and held-out")
        for name in ("n_discovery", "n_eval", "n_held_out", "n_activation", "random_draws", "chunk"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.candidates is not None and self.candidates < 1:
            raise InputError(f"candidates must be at least 1 (or None), got {self.candidates}")


@dataclasses.dataclass(frozen=True)
class SeedResult:
    seed: int
    rounds: rounds.RoundsResult
    discovery: dict
    held_out: dict
    top1_accuracy: float
    seconds: dict[str, float]


def _top1(model, prompts: ioi.IOIPrompts) -> float:
    """Fraction of prompts whose full-vocabulary argmax at END is IO."""
    logits = np.asarray(_full_logits(model, jnp.asarray(prompts.tokens)))
    rows = np.arange(len(prompts))
    return float((logits[rows, prompts.positions["END"]].argmax(-1) == prompts.io_ids).mean())


@jax.jit
def _full_logits(model, rows):
    return model(rounds.tokens_of(rows)).unwrap("batch", "seq", "vocabulary")


def run_seed(model, vocab: ioi.IOIVocabulary, cfg: IOIStudyConfig, seed: int, length: int, log=print) -> SeedResult:
    """One replicate: discovery, faithfulness, random control, held-out templates (module docstring)."""
    seconds = {}
    start = time.perf_counter()
    names = models.names_only(model, vocab.name_ids)
    per_query = models.per_query_kv(names)
    discovery = ioi.stack(ioi.sample_templates(vocab, cfg.discovery_templates, cfg.n_discovery, seed * 1000), length)
    same = ioi.stack(ioi.sample_templates(vocab, cfg.discovery_templates, cfg.n_eval, seed * 1000 + 1), length)
    held = ioi.stack(ioi.sample_templates(vocab, cfg.held_out_templates, cfg.n_held_out, seed * 1000 + 2), length)
    found = rounds.run_rounds(per_query, discovery, cfg.selection, cfg.candidates, cfg.chunk, log=log)
    seconds["rounds"] = time.perf_counter() - start
    shape = rounds.head_shape(names, discovery.tokens)
    start = time.perf_counter()
    on_same = evaluate.faithfulness(names, same, found.heads, shape, found.classes, cfg.random_draws, seed)
    on_held = evaluate.faithfulness(names, held, found.heads, shape)
    top1 = _top1(pz.freeze_params(model), same)
    seconds["evaluation"] = time.perf_counter() - start
    log(
        f"seed {seed}: {len(found.heads)} heads, faithfulness {on_same['faithfulness']:.3f}, random "
        f"{on_same['random']['mean']:.3f}, held-out {on_held['faithfulness']:.3f}"
    )
    return SeedResult(seed, found, on_same, on_held, top1, seconds)


def template_length(vocab: ioi.IOIVocabulary, templates) -> int:
    """The longest prompt (tokens) among `templates`, both orders."""
    return max(b.tokens.shape[1] for b in ioi.sample_templates(vocab, templates, 1, 0))


def run_study(model_folder: str | Path, out: str | Path, cfg: IOIStudyConfig = IOIStudyConfig(), log=print) -> Path:
    """Loads the model and tokenizer from `model_folder`, runs every seed, writes the report; returns index.html."""
    from jaxinterp.hf import load_tokenizer
    from jaxinterp.mech.ioi import report
    from jaxinterp.mech.models.load import load_pretrained

    begin, cpu = time.perf_counter(), time.process_time()
    model = load_pretrained(model_folder)
    vocab = ioi.tokenizer_vocabulary(load_tokenizer(model_folder))
    length = template_length(vocab, (*cfg.discovery_templates, *cfg.held_out_templates))
    log(f"{len(vocab.names)} names, {len(vocab.places)} places, {len(vocab.objects)} objects; {length} tokens")
    start = time.perf_counter()
    names = models.names_only(model, vocab.name_ids)
    seed = cfg.seeds[0] * 1000 + 3
    sample = ioi.stack(ioi.sample_templates(vocab, cfg.discovery_templates, cfg.n_activation, seed), length)
    shape = rounds.head_shape(names, sample.tokens)
    heatmap = evaluate.activation_patching_heads(names, sample, shape, cfg.chunk)
    activation_seconds = time.perf_counter() - start
    log(f"activation patching of {shape.layers * shape.heads} heads: {activation_seconds:.0f} s")
    results = [run_seed(model, vocab, cfg, seed, length, log) for seed in cfg.seeds]
    seconds = {
        "total": time.perf_counter() - begin,
        "cpu": time.process_time() - cpu,  # all threads: on idle cores, wall ~ cpu / cores used
        "activation_patching": activation_seconds,
    }
    return report.write(out, cfg, str(model_folder), vocab, shape, heatmap, results, seconds)
