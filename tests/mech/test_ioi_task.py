"""mech/tasks/ioi.py: the IOI prompt distribution (single-token fillers, ABC counterfactuals, positions) and
its metric, on a word-level toy tokenizer and, where the folder is present, on SmolLM2's tokenizer."""

import re
import zlib

import numpy as np
import pytest

from jaxinterp.errors import InputError
from jaxinterp.mech.ioi.rounds import end_logit_difference
from jaxinterp.mech.tasks import ioi
from tests.mech.real_model import smollm2_folder

NAMES = ("Ann", "Bob", "Cat", "Dan", "Eve", "Fay", "Gus", "Hal")
PLACES, OBJECTS = ("store", "park"), ("ring", "book")


def toy_encode(text):
    """Word-level ids: names 1-8, places 9-10, objects 11-12, any other word or mark 13-32."""
    ids = []
    for word in re.findall(r"\w+|[^\w\s]", text):
        for offset, group in ((1, NAMES), (9, PLACES), (11, OBJECTS)):
            if word in group:
                ids.append(offset + group.index(word))
                break
        else:
            ids.append(13 + zlib.crc32(word.encode()) % 20)
    return ids


def toy_vocabulary():
    return ioi.IOIVocabulary(toy_encode, NAMES, tuple(range(1, 9)), PLACES, (9, 10), OBJECTS, (11, 12))


def check_batch(vocab, batch):
    """Every class position holds what it should, in clean and ABC prompts."""
    n = len(batch.io)
    rows = np.arange(n)
    p = batch.positions
    assert (batch.tokens[rows, p["IO"]] == batch.io_ids).all()
    assert (batch.tokens[rows, p["S1"]] == batch.s_ids).all()
    assert (batch.tokens[rows, p["S2"]] == batch.s_ids).all()
    assert p["S1+1"] == p["S1"] + 1 and p["END"] == batch.tokens.shape[1] - 1
    assert (np.asarray(vocab.name_ids)[batch.io] == batch.io_ids).all()
    assert (batch.io != batch.s).all()
    if batch.order == "BABA":
        assert p["S1"] < p["IO"] < p["S2"]
    else:
        assert p["IO"] < p["S1"] < p["S2"]
    # ABC: the three name slots hold three distinct names, none of them S or IO; everything else is equal.
    slots = [p["S1"], p["IO"], p["S2"]]
    abc_names = batch.abc[:, slots]
    assert all(len(set(row)) == 3 for row in abc_names.tolist())
    for row, io, s in zip(abc_names, batch.io_ids, batch.s_ids, strict=True):
        assert io not in row and s not in row
    others = np.setdiff1d(np.arange(batch.tokens.shape[1]), slots)
    np.testing.assert_array_equal(batch.abc[:, others], batch.tokens[:, others])


def test_toy_batches_have_their_classes_at_the_stated_positions():
    vocab = toy_vocabulary()
    for batch in ioi.sample_templates(vocab, range(len(ioi.TEMPLATES)), 6, seed=0):
        check_batch(vocab, batch)


def test_the_first_template_reads_as_the_paper_writes_it():
    batch = ioi.sample(toy_vocabulary(), 0, "ABBA", 1, np.random.default_rng(0))
    text = ioi.template_text(0, "ABBA")
    assert text == "Then, [IO] and [S] went to the [PLACE]. [S] gave a [OBJECT] to"
    # "Then" "," IO "and" S "went" "to" "the" PLACE "." S "gave" "a" OBJECT "to"
    assert batch.positions == {"IO": 2, "S1": 4, "S1+1": 5, "S2": 10, "END": 14}


def test_stack_pads_on_the_right_and_keeps_positions():
    vocab = toy_vocabulary()
    batches = ioi.sample_templates(vocab, (0, 3), 2, seed=1)
    stacked = ioi.stack(batches, length=30, pad_id=0)
    assert stacked.tokens.shape == (8, 30)
    for i, batch in enumerate(batches):
        rows = np.flatnonzero(stacked.variant == i)
        width = batch.tokens.shape[1]
        np.testing.assert_array_equal(stacked.tokens[rows, :width], batch.tokens)
        assert (stacked.tokens[rows, width:] == 0).all()
        assert (stacked.positions["S2"][rows] == batch.positions["S2"]).all()


def test_seeds_are_reproducible_and_differ():
    vocab = toy_vocabulary()
    a, b, c = (ioi.sample_templates(vocab, (0,), 5, seed=s)[0] for s in (3, 3, 4))
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert not np.array_equal(a.tokens, c.tokens)


def test_single_tokens_drops_multi_token_words_and_a_merging_tokenizer_is_an_error():
    def encode(text):  # "Zed" is two tokens
        return [1, 2] if text == " Zed" else toy_encode(text)

    assert ioi.single_tokens(encode, ["Ann", "Zed", "Bob"]) == (("Ann", "Bob"), (1, 2))

    def merging(text):  # whole prompts come out with their first two tokens merged into one
        ids = toy_encode(text)
        return [40, *ids[2:]] if len(ids) > 8 else ids

    vocab = ioi.IOIVocabulary(merging, NAMES, tuple(range(1, 9)), PLACES, (9, 10), OBJECTS, (11, 12))
    with pytest.raises(InputError, match="merges"):
        ioi.sample_templates(vocab, (5,), 4, seed=0)


def test_too_few_names_is_an_input_error():
    with pytest.raises(InputError, match="5 names"):
        ioi.vocabulary(lambda text: [1, 2] if text.strip() not in ("Mary", "John") else [3])


def test_logit_difference_on_hand_made_logits():
    logits = np.array([[0.0, 2.0, -1.0], [5.0, 1.0, 0.5]])
    np.testing.assert_allclose(ioi.logit_difference(logits, np.array([1, 0]), np.array([2, 1])), [3.0, 4.0])
    # end_logit_difference reads each prompt's END position from [..., batch, seq, names] logits.
    vocab = toy_vocabulary()
    prompts = ioi.stack(ioi.sample_templates(vocab, (0, 4), 1, seed=0))
    full = np.zeros((3, len(prompts), prompts.tokens.shape[1], len(NAMES)))
    for b in range(len(prompts)):
        full[:, b, prompts.positions["END"][b], prompts.io[b]] = 2.0 + b
        full[:, b, prompts.positions["END"][b], prompts.s[b]] = -1.0
        full[:, b, 0, prompts.io[b]] = 100.0  # another position: not read
    np.testing.assert_allclose(end_logit_difference(full, prompts), np.tile(3.0 + np.arange(len(prompts)), (3, 1)))


def test_smollm2_tokenizer_keeps_single_token_fillers_for_every_template():
    from jaxinterp.hf import load_tokenizer

    tokenizer = load_tokenizer(smollm2_folder())
    vocab = ioi.tokenizer_vocabulary(tokenizer)
    assert len(vocab.names) >= 50 and len(vocab.places) >= 5 and len(vocab.objects) >= 5
    for word, token in zip(vocab.names + vocab.places, vocab.name_ids + vocab.place_ids, strict=True):
        assert tokenizer(" " + word, add_special_tokens=False)["input_ids"] == [token]
    for batch in ioi.sample_templates(vocab, range(len(ioi.TEMPLATES)), 3, seed=0):
        check_batch(vocab, batch)
        text = tokenizer.decode(batch.tokens[0])
        assert text.endswith(" to") and tokenizer.decode(batch.tokens[0, batch.positions["S2"]]).strip() in vocab.names


@pytest.mark.parametrize(
    "extra, message",
    [([], "not a Hugging Face checkpoint folder"), (["--seeds", "0"], "--seeds must be at least 1")],
)
def test_ioi_command_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, message):
    from jaxinterp.cli import main

    model = tmp_path if extra else tmp_path / "missing"
    if extra:
        (tmp_path / "config.json").write_text("{}")
    assert main(["mech", "ioi", "--model", str(model), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
