"""Activation patching of a model trained on a registered task (`jaxinterp mech patch`).

Clean prompts and minimally corrupted ones come from the task's `patching_pairs`. Every component of a
site (e.g. each head at each layer and position) is patched from the clean run into the corrupted run, and
the metric is the logit difference logit[correct] - logit[wrong] at the last position, averaged over the
prompts (Wang et al. 2023, IOI). It is reported raw and as the normalised effect
(patched - corrupted) / (clean - corrupted): 1 where one component restores the clean behaviour, 0 where
it does nothing (`jaxinterp.mech.metrics.normalised_effect`).

Results go to `<out>/patching_<site>.json` and, when the site's components include a layer axis and a
head or position axis, to heatmap PNGs of the normalised effect (`jaxinterp.mech.heatmaps.
save_patching_heatmaps`). When the model barely separates clean from corrupted (|clean - corrupted| <
`MIN_GAP`, e.g. an untrained model) the normalised effect is undefined: the JSON stores null and the
heatmaps show the unnormalised recovery patched - corrupted instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from penzai import pz

from jaxinterp.errors import InputError
from jaxinterp.hf import field, read_config
from jaxinterp.mech import heatmaps, metrics, patching
from jaxinterp.mech.models.load import load_pretrained
from jaxinterp.mech.tasks import get_task
from jaxinterp.mech.tasks.base import decode
from jaxinterp.mech.train import TASK_FILE, read_task_file

MIN_GAP = 1e-3  # smallest |clean - corrupted| logit difference that the normalised effect divides by


def _tokens(array: np.ndarray) -> pz.nx.NamedArray:
    return pz.nx.wrap(jnp.asarray(array)).tag("batch", "seq")


def mean_logit_difference(correct: np.ndarray, wrong: np.ndarray):
    """Metric for `activation_patching`: logits {batch, seq, vocabulary, ...} -> mean logit difference {...}."""
    correct, wrong = jnp.asarray(correct), jnp.asarray(wrong)

    def metric(logits: pz.nx.NamedArray) -> pz.nx.NamedArray:
        per_prompt = patching.logit_difference(logits, correct, wrong)
        return pz.nx.nmap(jnp.mean)(per_prompt.untag("batch"))

    return metric


def patch_task_model(
    model_folder: str | Path,
    site: str,
    out: str | Path,
    task: str | None = None,
    n: int = 16,
    seed: int = 0,
    over: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Runs activation patching (clean -> corrupted) over every component of `site`; writes JSON and PNGs.

    Args:
      model_folder: HF checkpoint folder (e.g. written by `jaxinterp mech train`).
      site: one of `jaxinterp.mech.patching.SITES`.
      out: output folder.
      task: task name; default: the one in the folder's `task.json`, whose settings are used whenever it
        names the same task.
      n: number of prompt pairs.
      seed: seed of the prompt pairs.
      over: component axes to sweep ("layer" among them; default all of the site's), the others patched
        together, e.g. ("layer", "heads") for one value per head over all positions.

    Returns:
      The results dict written to JSON (axes, raw and normalised effects, baselines, written files).

    Raises:
      InputError: missing folder or files, unknown task or site, `n` < 1, a vocabulary size that is not
        the task's, `over` naming axes the site does not have.
    """
    if site not in patching.SITES:
        raise InputError(f"unknown site {site!r}; known sites: {', '.join(patching.SITES)}")
    if n < 1:
        raise InputError(f"--n must be >= 1, got {n}")
    if not Path(model_folder).is_dir():
        raise InputError(f"model folder {str(model_folder)!r} does not exist or is not a folder")
    info = read_task_file(model_folder) if task is None or (Path(model_folder) / TASK_FILE).is_file() else {}
    name = task if task is not None else info["task"]
    task_obj = get_task(name, **(info.get("settings", {}) if info.get("task") == name else {}))
    vocab = task_obj.vocabulary()
    vocab_size = field(read_config(model_folder), "vocab_size")
    if vocab_size != len(vocab):
        raise InputError(
            f"the model's vocabulary has {vocab_size} tokens, task {name!r} uses {len(vocab)}: "
            "it was not trained on this task's word vocabulary"
        )
    model = load_pretrained(model_folder)

    pairs = task_obj.patching_pairs(seed, n)
    metric = mean_logit_difference(pairs.correct, pairs.wrong)
    clean = float(metric(model(_tokens(pairs.clean))).unwrap())
    corrupted = float(metric(model(_tokens(pairs.corrupted))).unwrap())
    try:
        effects = patching.activation_patching(
            model, site, _tokens(pairs.clean), _tokens(pairs.corrupted), metric, over=over
        )
    except ValueError as err:  # `over` names axes the site does not have
        raise InputError(str(err)) from None
    axes = dict(effects.named_shape)
    raw = np.asarray(effects.unwrap(*axes))
    # A model that does not tell clean from corrupted (e.g. untrained) leaves nothing to normalise by.
    separates = abs(clean - corrupted) >= MIN_GAP
    normalised = np.asarray(metrics.normalised_effect(raw, clean, corrupted)) if separates else None
    drawn = normalised if separates else raw - corrupted

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    has_views = "layer" in axes and ("seq" in axes or axes.keys() & {"heads", "head_groups", "query_heads"})
    if has_views:
        named = pz.nx.wrap(jnp.asarray(drawn)).tag(*axes)
        labels = decode(vocab, pairs.clean[0]) if "seq" in axes else None
        written = heatmaps.save_patching_heatmaps(named, out, name=f"patching_{site}", tokens=labels)
    result = {
        "model": str(model_folder),
        "task": task_obj.name,
        "task_settings": task_obj.settings(),
        "site": site,
        "over": list(axes),
        "n": n,
        "seed": seed,
        "metric": "mean logit difference logit[correct] - logit[wrong] at the last position",
        "clean_logit_difference": clean,
        "corrupted_logit_difference": corrupted,
        "axes": axes,
        "prompt_0": decode(vocab, pairs.clean[0]),
        "logit_difference": raw.tolist(),
        "normalised_effect": None if normalised is None else normalised.tolist(),
        "heatmap_values": "normalised_effect" if separates else "logit_difference - corrupted_logit_difference",
        "heatmaps": [str(p) for p in written],
    }
    path = out / f"patching_{site}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    result["json"] = str(path)
    return result
