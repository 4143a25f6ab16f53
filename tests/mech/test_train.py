"""In-repo training: the exported folder is a HF LLaMA checkpoint (our loader and transformers agree with
the trained model), training learns, an interrupted + resumed run equals an uninterrupted one, and bad
settings or a non-finite loss stop with the right error."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import transformers
from penzai import pz
from safetensors import safe_open
from safetensors.numpy import load_file

from jaxinterp.errors import InputError, NonFiniteLossError
from jaxinterp.mech.models.load import load_pretrained
from jaxinterp.mech.tasks import get_task
from jaxinterp.mech.tasks.boxes import OBJECTS
from jaxinterp.mech.train import TrainConfig, train
from tests import fixtures

# Distinct small dimensions; fast on 2 CPU cores.
SMALL = dict(size="tiny", layers=2, d_model=32, heads=2, mlp_hidden=48, batch_size=32, eval_size=64)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cfg = TrainConfig(task="boxes", steps=5, **SMALL)
    return train(cfg, tmp_path_factory.mktemp("run") / "boxes", show_progress=False)


def _logits(model, tokens):
    return np.asarray(model(pz.nx.wrap(jnp.asarray(tokens)).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary"))


def test_folder_is_a_checkpoint_our_loader_reads_with_the_trained_logits(trained):
    tokens = get_task("boxes").sample(11, 4).tokens
    expected = _logits(trained.model, tokens)
    reloaded = _logits(load_pretrained(trained.folder), tokens)
    assert np.abs(reloaded - expected).max() < 1e-5
    config = json.loads((trained.folder / "config.json").read_text())
    assert config["model_type"] == "llama" and config["rope_parameters"]["rope_theta"] == 10_000.0
    task = json.loads((trained.folder / "task.json").read_text())
    assert task["task"] == "boxes" and task["settings"] == {"num_boxes": 3}
    assert 0.0 <= task["eval_accuracy"] <= 1.0
    assert not (trained.folder / "progress").exists()


# What transformers reads of a run folder: the model and the tokenizer.
HF_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def test_folder_loads_in_transformers_with_the_trained_logits(trained):
    """tests/fixtures/train_boxes is the folder of this same 5-step run, written by scripts/make_test_fixtures.py,
    and train.npz transformers' AutoModelForCausalLM logits of it: our loader gives those logits on it, and the
    folder written now is in its format (config, tokenizer files, tensor names, shapes and dtypes), so
    transformers reads it as it read the stored one."""
    stored, ref = fixtures.folder("train_boxes"), fixtures.reference("train")
    tokens = get_task("boxes").sample(12, 4).tokens
    np.testing.assert_array_equal(ref["tokens"], tokens)
    assert np.abs(_logits(load_pretrained(stored), tokens) - ref["logits"]).max() < 1e-4

    for name in HF_FILES:
        assert (trained.folder / name).is_file(), name
        if name.endswith(".json"):
            assert json.loads((trained.folder / name).read_text()) == json.loads((stored / name).read_text()), name
    written, want = load_file(trained.folder / "model.safetensors"), load_file(stored / "model.safetensors")
    assert {k: (v.shape, v.dtype) for k, v in written.items()} == {k: (v.shape, v.dtype) for k, v in want.items()}
    metadata = [safe_open(folder / "model.safetensors", "numpy").metadata() for folder in (trained.folder, stored)]
    assert metadata[0] == metadata[1]  # {"format": "pt"}, as in the files transformers itself saves

    tokenizer = transformers.AutoTokenizer.from_pretrained(trained.folder)  # the tokenizers library: no torch
    vocab = get_task("boxes").vocabulary()
    text = " ".join(vocab[t] for t in tokens[0, 1:])
    np.testing.assert_array_equal(tokenizer(text)["input_ids"], tokens[0])


def test_short_training_halves_the_loss_and_beats_chance(tmp_path):
    cfg = TrainConfig(task="boxes", steps=400, learning_rate=3e-3, warmup_steps=20, **SMALL)
    result = train(cfg, tmp_path / "run", show_progress=False)
    first, last = result.history[0]["loss"], np.mean([h["loss"] for h in result.history[-10:]])
    assert last < first / 2
    chance = 1 / len(OBJECTS)  # a guess among the objects; an object from the context already gives 1 / 3
    assert result.eval["accuracy"] > 3 * chance


def test_resume_after_an_interrupt_equals_an_uninterrupted_run(tmp_path):
    cfg = TrainConfig(task="induction", steps=6, checkpoint_every=2, **SMALL)
    whole = train(cfg, tmp_path / "whole", show_progress=False)

    def interrupt(step, _metrics):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "resumed", show_progress=False, on_step=interrupt)
    assert (tmp_path / "resumed" / "progress").exists()
    with pytest.raises(InputError, match="--resume"):
        train(cfg, tmp_path / "resumed", show_progress=False)
    resumed = train(cfg, tmp_path / "resumed", resume=True, show_progress=False)
    assert [h["step"] for h in resumed.history] == [4, 5, 6]
    np.testing.assert_allclose([h["loss"] for h in resumed.history], [h["loss"] for h in whole.history[3:]], atol=1e-6)
    for a, b in zip(
        jax.tree_util.tree_leaves(pz.unbind_params(whole.model, freeze=True)[1]),
        jax.tree_util.tree_leaves(pz.unbind_params(resumed.model, freeze=True)[1]),
        strict=True,
    ):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_resume_with_other_settings_is_an_input_error(tmp_path):
    cfg = TrainConfig(task="induction", steps=2, **SMALL)

    def interrupt(step, _metrics):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", show_progress=False, on_step=interrupt)
    with pytest.raises(InputError, match="steps"):
        train(TrainConfig(task="induction", steps=3, **SMALL), tmp_path / "run", resume=True, show_progress=False)


def test_non_finite_loss_names_the_step(tmp_path):
    cfg = TrainConfig(task="induction", steps=5, learning_rate=1e38, warmup_steps=1, **SMALL)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at mech train \S*run step \d\b.*checkpoint: none"):
        train(cfg, tmp_path / "run", show_progress=False)


def test_stop_at_accuracy_ends_at_the_first_check_that_reaches_it(tmp_path):
    # Any accuracy reaches 1e-9: the run stops at the first check (step 3), not at the 9-step budget.
    cfg = TrainConfig(task="induction", steps=9, stop_at_accuracy=1e-9, stop_check_every=3, **SMALL)
    result = train(cfg, tmp_path / "stopped", show_progress=False)
    assert len(result.history) == 3 and result.eval["steps_run"] == 3
    assert json.loads((tmp_path / "stopped" / "task.json").read_text())["steps_run"] == 3
    # A bar no 9-step model reaches (perfect accuracy) leaves the whole budget to run.
    full = train(dataclasses.replace(cfg, stop_at_accuracy=1.0), tmp_path / "full", show_progress=False)
    assert len(full.history) == 9 and full.eval["accuracy"] < 1.0


@pytest.mark.parametrize(
    "change",
    [dict(size="huge"), dict(d_model=30, heads=4), dict(steps=0), dict(task="nope"), dict(stop_at_accuracy=1.5)],
)
def test_bad_settings_are_input_errors(tmp_path, change):
    with pytest.raises(InputError):
        train(TrainConfig(**{**SMALL, **change}), tmp_path / "run", show_progress=False)


def test_fine_tuning_starts_from_the_given_run_in_a_shared_vocabulary(trained, tmp_path):
    sources = [{"name": "boxes"}, {"name": "arithmetic"}]
    base = train(
        TrainConfig(task="boxes", steps=3, task_settings={"vocabulary_from": sources}, **SMALL),
        tmp_path / "base",
        show_progress=False,
    )
    # One step at a vanishing learning rate: the fine-tuned run still holds the base weights.
    tuned = train(
        TrainConfig(
            task="arithmetic",
            steps=1,
            learning_rate=1e-12,
            task_settings={"vocabulary_from": sources},
            init_from=str(base.folder),
            **SMALL,
        ),
        tmp_path / "tuned",
        show_progress=False,
    )
    tokens = get_task("arithmetic", vocabulary_from=sources).sample(0, 4).tokens
    np.testing.assert_allclose(_logits(tuned.model, tokens), _logits(base.model, tokens), atol=1e-5)
    # The plain boxes run has a smaller vocabulary: it cannot start an arithmetic run in the shared one.
    with pytest.raises(InputError, match="does not fit"):
        train(
            TrainConfig(
                task="arithmetic",
                steps=1,
                task_settings={"vocabulary_from": sources},
                init_from=str(trained.folder),
                **SMALL,
            ),
            tmp_path / "bad",
            show_progress=False,
        )
