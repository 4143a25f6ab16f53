"""The entity-tracking study on pretrained checkpoints: text prompts, accuracy, the at-chance decision, the
fine-tune and the multi-head copy of grouped-query models, on a tiny model with a word-level tokenizer."""

import dataclasses
import json

import chex
import jax
import numpy as np
import pytest
from penzai import pz
from penzai.models.transformer.variants import llamalike_common as llc
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from jaxinterp.errors import InputError
from jaxinterp.mech.circuits import mean_ablation
from jaxinterp.mech.entity_tracking import pretrained
from jaxinterp.mech.entity_tracking.analysis import AnalysisSizes
from jaxinterp.mech.entity_tracking.text_prompts import TextBoxes, training_batch
from jaxinterp.mech.finetune import FinetuneConfig, finetune, lora_targets
from jaxinterp.mech.models.hf_export import hf_config, save_llamalike
from jaxinterp.mech.train import split
from jaxinterp.mech.ungroup_heads import ungroup_heads
from jaxinterp.mech.variable_binding_pretrained import PretrainedBindingConfig, accuracy_table, sample
from tests.mech.real_model import smollm2_folder

WORDS = ["<pad>", "<unk>", "The", "the", "is", "in", "Box", "contains", "and", ",", "."]
OBJECTS = ["ring", "lamp", "cup", "pen", "hat", "key", "book", "coin"]  # 8: the default counts go to 7
LABELS = list("ABCDEFGH")


def word_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(WORDS + OBJECTS + LABELS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()  # splits "Z," into "Z" and ","
    return PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>")


def tiny_config(seed_vocab: int) -> llc.LlamalikeTransformerConfig:
    return llc.LlamalikeTransformerConfig(
        num_kv_heads=2,
        query_head_multiplier=2,  # grouped-query attention, as SmolLM2
        embedding_dim=32,
        projection_dim=8,
        mlp_hidden_dim=48,
        num_decoder_blocks=2,
        vocab_size=seed_vocab,
        mlp_variant="swiglu",
        tie_embedder_and_logits=False,
    )


@pytest.fixture(scope="module")
def tok():
    return word_tokenizer()


@pytest.fixture(scope="module")
def tiny(tok):
    cfg = tiny_config(len(tok.get_vocab()))
    return cfg, llc.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(0), name="transformer")


def expected_positions(query: int) -> dict[str, int]:
    """3 boxes: The o0 is in Box L0 , the o1 is in Box L1 , and the o2 is in Box L2 . Box Lq contains the."""
    starts = [1, 8, 16]  # each queried object; its is / in / Box / label follow
    return {
        "last": 25,
        "query_label": 23,
        "queried_object": starts[query],
        "queried_is": starts[query] + 1,
        "queried_in": starts[query] + 2,
        "queried_box": starts[query] + 3,
        "prev_query_label": starts[query] + 4,
    }


def check_positions(task: TextBoxes, examples) -> None:
    for row in range(len(examples.answers)):
        q = int(examples.query_index[row])
        want = expected_positions(q)
        got = {role: int(pos[row]) for role, pos in examples.positions.items()}
        assert got == want
        tokens = examples.tokens[row]
        # the queried object's token is the answer, the two label tokens are one token
        assert tokens[want["queried_object"]] == examples.answers[row]
        assert tokens[want["prev_query_label"]] == tokens[want["query_label"]]


def test_text_prompts_tokenise_to_the_expected_positions(tok):
    task = TextBoxes.for_tokenizer(tok, 3)
    assert set(task.objects) == set(OBJECTS) and task.labels == tuple(LABELS)  # the boxes.OBJECTS words it has
    examples = task.sample(0, 12)
    chex.assert_shape(examples.tokens, (12, 26))
    assert set(examples.query_index.tolist()) == {0, 1, 2}
    check_positions(task, examples)
    text = tok.decode(examples.tokens[0])
    assert text.startswith("The ") and ", and the " in text and text.endswith("contains the")
    clean, noise = task.path_patching_pairs(1, 8)
    query_labels = noise.tokens[np.arange(8), noise.positions["query_label"]]
    for row, label in enumerate(query_labels):  # the noise query label is absent from its context
        assert label not in noise.tokens[row, :22]


@pytest.fixture(scope="module")
def smol_tok():
    from jaxinterp.hf import load_tokenizer

    return load_tokenizer(smollm2_folder())


def test_text_prompts_on_the_real_tokenizer(smol_tok):
    tokenizer = smol_tok
    task = TextBoxes.for_tokenizer(tokenizer, 3)
    assert len(task.objects) >= 7 and len(task.labels) == 26
    check_positions(task, task.sample(3, 20))
    assert tokenizer.decode(task.sample(3, 1).tokens[0]).startswith("The ")


def test_a_word_that_is_not_one_token_is_an_input_error(tok):
    task = TextBoxes(tok, 2, ("ring", "teapot"), ("A", "B"))
    with pytest.raises(InputError, match="not one token"):
        task.encode([(["ring", "teapot"], ["A", "B"], 0)])


def test_accuracy_equals_a_hand_computation(tok, tiny):
    _, model = tiny
    task = TextBoxes.for_tokenizer(tok, 3)
    examples = task.sample(5, 16)
    logits = model(pz.nx.wrap(examples.tokens).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary")
    by_hand = np.mean(np.argmax(np.asarray(logits[:, -1]), -1) == examples.answers)
    object_ids = {tok.convert_tokens_to_ids(o) for o in OBJECTS}
    got = pretrained.score(pretrained.predictions(model, examples), examples, object_ids)
    assert got["accuracy"] == pytest.approx(by_hand, abs=1e-9)
    # a prediction is "in context" only when it is one of this prompt's objects
    forced = examples.answers.copy()
    forced[:4] = tok.convert_tokens_to_ids("Box")
    assert pretrained.score(forced, examples, object_ids) == {"accuracy": 0.75, "in_context": 0.75}


def test_the_at_chance_decision():
    assert pretrained.chance_bar(2, 60, 2.0) == pytest.approx(0.5 + 2 * np.sqrt(0.25 / 60))
    # the transformers measurement of SmolLM2-135M: every count at chance
    for boxes, accuracy in {2: 0.47, 3: 0.37, 4: 0.35, 5: 0.25, 7: 0.15}.items():
        assert not pretrained.above_chance(accuracy, boxes, 60, 2.0)
    assert pretrained.above_chance(0.66, 7, 60, 2.0)  # LLaMA-7B in the paper
    assert pretrained.above_chance(0.34, 3, 60, 0.0) and not pretrained.above_chance(1 / 3, 3, 60, 0.0)


def test_study_at_chance_stops_without_a_circuit(tmp_path, tok, tiny):
    cfg, model = tiny
    folder = tmp_path / "model"
    save_llamalike(model, cfg, folder)
    tok.save_pretrained(folder)
    small = pretrained.PretrainedStudyConfig(box_counts=(2, 3), prompts=16)
    page = pretrained.run_pretrained_study(folder, tmp_path / "out", small, show_progress=False)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    row = results["before"]["3"]
    assert results["decision"] == {"boxes": 3, "accuracy": row["accuracy"], "bar": row["bar"], "above_chance": False}
    assert "circuit" not in results and row["bar"] == pytest.approx(pretrained.chance_bar(3, 16, 2.0))
    assert "at chance: stopped, no circuit drawn" in page.read_text()


def test_a_study_folder_without_a_tokenizer_is_an_input_error(tmp_path, tiny):
    cfg, model = tiny
    save_llamalike(model, cfg, tmp_path / "model")
    with pytest.raises(InputError, match="tokenizer"):
        pretrained.run_pretrained_study(tmp_path / "model", tmp_path / "out", show_progress=False)


def test_ungrouped_copy_has_one_heads_axis_and_the_same_logits(tok, tiny):
    cfg, model = tiny
    copy = ungroup_heads(model, hf_config(cfg))
    examples = TextBoxes.for_tokenizer(tok, 2).sample(0, 4)
    np.testing.assert_allclose(
        mean_ablation.last_logits(copy, examples.tokens), mean_ablation.last_logits(model, examples.tokens), atol=1e-5
    )
    assert mean_ablation.head_axes(copy, examples.tokens) == (2, examples.tokens.shape[1], 4)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_a_few_finetune_steps_lower_the_loss(tok, tiny, method):
    _, model = tiny
    tasks = {k: TextBoxes.for_tokenizer(tok, k) for k in (2, 3)}

    def batch_for(step):
        return dataclasses.asdict(training_batch(tasks, step, 16, 26, tok.pad_token_id))

    cfg = FinetuneConfig(steps=30, method=method, learning_rate=1e-2, warmup_steps=2, log_every=10, lora_rank=4)
    result = finetune(model, batch_for, cfg, show_progress=False)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 30 and np.mean(losses[-5:]) < 0.8 * np.mean(losses[:5])
    layout, before = split(model)
    _, after = split(result.model)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if not np.array_equal(a, b)]
    if method == "lora":  # only the block matrices move; embeddings, norms and the output projection do not
        assert changed == lora_targets(layout)
        widths = [before[i].shape[layout.axes[i].index("embedding")] for i in changed]
        # rank 4: U [embedding, 4] and V [4, the other axes] per matrix
        assert result.trainable_parameters == sum(
            4 * (w + before[i].size // w) for i, w in zip(changed, widths, strict=True)
        )
    else:
        assert len(changed) == len(before)


def test_training_batch_pads_each_prompt_and_marks_its_answer(tok):
    tasks = {k: TextBoxes.for_tokenizer(tok, k) for k in (2, 3)}
    batch = training_batch(tasks, 0, 32, 30, tok.pad_token_id)
    assert set(batch.answer_index.tolist()) == {18, 25}  # 2 boxes: 19 tokens; 3 boxes: 26
    for row, last in enumerate(batch.answer_index):
        assert batch.tokens[row, last] == tok.convert_tokens_to_ids("the")
        assert (batch.tokens[row, last + 1 :] == tok.pad_token_id).all()


def test_binding_prompts_and_accuracy_on_the_real_tokenizer(smol_tok):
    tokens, answers = sample(smol_tok, "-", 0, 30)
    text = smol_tok.decode(tokens[0])
    x, y = (int(line.split("= ")[1]) for line in text.split("\n")[:2])
    assert text.endswith("x - y = ") and x - y >= 0
    assert smol_tok.decode([answers[0]]) == str(x - y)[0]  # the leading digit
    cfg = dataclasses.replace(tiny_config(len(smol_tok)), embedding_dim=16, mlp_hidden_dim=16)
    model = llc.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(1))
    table = accuracy_table(model, smol_tok, PretrainedBindingConfig(prompts=12))
    tokens, answers = sample(smol_tok, "+", 50_000, 12)  # the table's "+" prompts (seed 50_000 + 10 * 0 + 0)
    logits = model(pz.nx.wrap(tokens).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary")[:, -1]
    assert table["+"]["accuracy"] == pytest.approx(np.mean(np.argmax(np.asarray(logits), -1) == answers))
    majority = np.max(np.unique(answers, return_counts=True)[1]) / 12
    assert table["+"]["chance"] == pytest.approx(majority)
    assert table["+"]["bar"] == pytest.approx(majority + 2 * np.sqrt(majority * (1 - majority) / 12))


@pytest.mark.slow
def test_smollm2_is_at_chance_on_the_boxes_prompts(tmp_path):
    """The issue's finding with our loader and prompts: SmolLM2-135M-Instruct does not track entities."""
    small = pretrained.PretrainedStudyConfig(box_counts=(2, 3, 7), prompts=40)
    pretrained.run_pretrained_study(smollm2_folder(), tmp_path, small, show_progress=False)
    results = json.loads((tmp_path / "results.json").read_text())
    for boxes, row in results["before"].items():
        assert not row["above_chance"], (boxes, row)
    assert "circuit" not in results


@pytest.mark.slow
def test_circuit_study_runs_on_a_tiny_grouped_model(tok, tiny):
    cfg, model = tiny
    task = TextBoxes.for_tokenizer(tok, 3)
    small = pretrained.PretrainedStudyConfig(
        sizes=AnalysisSizes(path_patching=6, evaluation=16, mean=16, random_draws=2),
        settings=dataclasses.replace(pretrained.DiscoverySettings(), min_effect=0.0),
    )
    result = pretrained.circuit_study(ungroup_heads(model, hf_config(cfg)), task, small)
    assert 0 < result["nodes"] <= result["all_nodes"] == 2 * 4 * 26
    if result["full_accuracy"]:
        assert result["faithfulness"] == pytest.approx(result["circuit_accuracy"] / result["full_accuracy"])
