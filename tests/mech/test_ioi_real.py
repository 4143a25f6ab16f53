"""IOI on the real SmolLM2-135M-Instruct: the full model solves the task (quick), and the whole study (slow)."""

import json

import jax
import numpy as np
import pytest
from penzai import pz

from jaxinterp.mech.ioi import rounds
from jaxinterp.mech.tasks import ioi
from tests.mech.real_model import smollm2_folder


def test_smollm2_prefers_the_indirect_object():
    from jaxinterp.hf import load_tokenizer
    from jaxinterp.mech.models.load import load_pretrained

    folder = smollm2_folder()
    model = load_pretrained(folder)
    vocab = ioi.tokenizer_vocabulary(load_tokenizer(folder))
    prompts = ioi.stack(ioi.sample_templates(vocab, (0, 6), 4, seed=0))
    full = jax.jit(lambda m, t: m(t))(pz.freeze_params(model), rounds.tokens_of(prompts.tokens))
    at_end = np.asarray(full.unwrap("batch", "seq", "vocabulary"))[np.arange(len(prompts)), prompts.positions["END"]]
    ld = ioi.logit_difference(at_end, prompts.io_ids, prompts.s_ids)
    # transformers on the same weights (the issue): IO beats S on 80/80 prompts, mean logit difference 4.5.
    assert (ld > 0).mean() >= 0.9 and ld.mean() > 3.0


@pytest.mark.slow
def test_the_ioi_study_meets_the_issue_bar(tmp_path):
    from jaxinterp.mech.ioi.study import IOIStudyConfig, run_study

    run_study(smollm2_folder(), tmp_path, IOIStudyConfig(), log=lambda *_: None)
    numbers = json.loads((tmp_path / "numbers.json").read_text())
    summary = numbers["summary"]
    # The issue's bar, on the mean over the 3 prompt seeds (measured: 0.959, 0.015, 0.814; 10 heads each).
    assert max(summary["circuit_size"]) <= 27
    assert np.mean(summary["faithfulness"]) >= 0.85
    assert np.mean(summary["random"]) <= 0.10
    assert np.mean(summary["held_out"]) >= 0.80
    for seed in numbers["seeds"]:
        assert all(seed["rounds"]["classes"].values())  # every class found
