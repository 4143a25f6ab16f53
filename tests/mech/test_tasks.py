"""Task generators: equal-length prompts, single-token answers, deterministic seeds, patching pairs that
change the answer, vocabularies that cover every word, and a tokenizer round trip through AutoTokenizer."""

import chex
import numpy as np
import pytest
import transformers

from jaxinterp.errors import InputError
from jaxinterp.mech.tasks import TASKS, get_task
from jaxinterp.mech.tasks.base import BOS, SPECIAL_TOKENS, decode
from jaxinterp.mech.word_tokenizer import save_tokenizer

TASK_NAMES = sorted(TASKS)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_samples_have_equal_length_bos_and_known_single_token_answers(name):
    task = get_task(name)
    vocab = task.vocabulary()
    examples = task.sample(seed=3, n=50)
    chex.assert_shape(examples.answers, (50,))
    chex.assert_rank(examples.tokens, 2)
    chex.assert_type([examples.tokens, examples.answers], np.int32)
    assert examples.tokens.shape[0] == 50
    assert (examples.tokens[:, 0] == vocab.index(BOS)).all()
    assert examples.tokens.min() >= 0 and examples.tokens.max() < len(vocab)
    assert (examples.answers >= len(SPECIAL_TOKENS)).all() and (examples.answers < len(vocab)).all()
    assert vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS) and len(set(vocab)) == len(vocab)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_samplers_are_deterministic_from_the_seed(name):
    task = get_task(name)
    a, b, c = task.sample(7, 20), task.sample(7, 20), task.sample(8, 20)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.answers, b.answers)
    assert not np.array_equal(a.tokens, c.tokens)
    p, q = task.patching_pairs(7, 20), task.patching_pairs(7, 20)
    for field in ("clean", "corrupted", "correct", "wrong"):
        np.testing.assert_array_equal(getattr(p, field), getattr(q, field))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_patching_pairs_differ_minimally_and_change_the_answer(name):
    task = get_task(name)
    pairs = task.patching_pairs(seed=1, n=40)
    chex.assert_equal_shape([pairs.clean, pairs.corrupted])
    chex.assert_shape([pairs.correct, pairs.wrong], (40,))
    assert pairs.clean.shape[1] == task.sample(0, 1).tokens.shape[1]
    assert (pairs.correct != pairs.wrong).all()
    changed = (pairs.clean != pairs.corrupted).sum(axis=1)
    assert (changed == 1).all()  # every task's corruption changes exactly one token


def test_boxes_answer_is_the_object_in_the_queried_box():
    task = get_task("boxes", num_boxes=4)
    vocab = task.vocabulary()
    examples = task.sample(0, 10)
    assert examples.tokens.shape[1] == 1 + 7 * 4 + 4
    for tokens, answer in zip(examples.tokens, examples.answers, strict=True):
        words = decode(vocab, tokens)
        query = words[-3]
        box = [i for i in range(1, len(words) - 4) if words[i] == "box" and words[i + 1] == query][0]
        assert words[box - 3] == vocab[answer]


def test_induction_answer_follows_the_first_occurrence_of_the_last_token():
    task = get_task("induction")
    vocab = task.vocabulary()
    examples = task.sample(0, 10)
    for tokens, answer in zip(examples.tokens, examples.answers, strict=True):
        first = list(tokens[1 : 1 + task.length])
        assert first[first.index(tokens[-1]) + 1] == answer
        assert vocab[answer] != BOS


def test_arithmetic_answer_is_the_value_of_the_expression():
    task = get_task("arithmetic")
    vocab = task.vocabulary()
    examples = task.sample(0, 50)
    for tokens, answer in zip(examples.tokens, examples.answers, strict=True):
        words = decode(vocab, tokens)
        values = {words[1]: int(words[3]), words[5]: int(words[7])}
        left, op, right = values[words[9]], words[10], values[words[11]]
        assert int(vocab[answer]) == (left + right if op == "+" else left - right)


def test_unknown_task_or_setting_is_an_input_error_listing_the_tasks():
    with pytest.raises(InputError, match="known tasks: arithmetic, boxes, induction"):
        get_task("nope")
    with pytest.raises(InputError, match="num_boxes"):
        get_task("boxes", num_boxes=1)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_autotokenizer_encodes_a_prompt_to_the_task_ids(name, tmp_path):
    task = get_task(name)
    vocab = task.vocabulary()
    save_tokenizer(vocab, tmp_path)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path)
    examples = task.sample(5, 8)
    texts = [" ".join(decode(vocab, row[1:])) for row in examples.tokens]  # the post-processor adds <bos>
    np.testing.assert_array_equal(np.asarray(tokenizer(texts)["input_ids"]), examples.tokens)
    assert tokenizer.convert_ids_to_tokens(int(examples.answers[0])) == vocab[examples.answers[0]]
    assert tokenizer.bos_token == BOS and tokenizer.pad_token_id == vocab.index("<pad>")


def test_shared_vocabulary_keeps_the_words_and_round_trips_through_settings():
    sources = [{"name": "boxes", "num_boxes": 3}, {"name": "arithmetic"}, {"name": "positional"}]
    shared = {name: get_task(name, vocabulary_from=sources) for name in ("boxes", "arithmetic", "positional")}
    vocab = shared["boxes"].vocabulary()
    assert all(t.vocabulary() == vocab for t in shared.values())
    assert vocab[: len(get_task("boxes").vocabulary())] == get_task("boxes").vocabulary()  # base ids unchanged
    for name, task in shared.items():
        plain = get_task(name)
        a, b = task.sample(5, 10), plain.sample(5, 10)
        assert [decode(vocab, row) for row in a.tokens] == [decode(plain.vocabulary(), row) for row in b.tokens]
        assert [vocab[i] for i in a.answers] == [plain.vocabulary()[i] for i in b.answers]
        again = get_task(name, **task.settings())
        np.testing.assert_array_equal(again.sample(1, 4).tokens, task.sample(1, 4).tokens)


def test_variable_binding_desiderata_pairs():
    from jaxinterp.mech.tasks.arithmetic_desiderata import operation_pairs, value_pairs

    task = get_task("arithmetic")
    vocab = task.vocabulary()
    ops = operation_pairs(task, 0, 30)
    for b, s, ab, as_ in zip(ops.base, ops.source, ops.base_answer, ops.source_answer, strict=True):
        changed = np.flatnonzero(b != s)
        assert len(changed) == 1 and {vocab[b[changed[0]]], vocab[s[changed[0]]]} == {"+", "-"}
        x, y = int(vocab[b[3]]), int(vocab[b[7]])
        left, right = (x, y) if vocab[b[9]] == vocab[b[1]] else (y, x)
        for prompt, answer in ((b, ab), (s, as_)):
            expected = left + right if vocab[prompt[10]] == "+" else left - right
            assert int(vocab[answer]) == expected
        assert ab != as_
    values = value_pairs(task, 0, 30)
    assert (values.base_answer != values.source_answer).all()
    assert ((values.base != values.source).sum(axis=1) == 1).all()


def test_boxes_training_batch_targets_labels_with_their_objects():
    task = get_task("boxes", num_boxes=3)
    vocab = task.vocabulary()
    a, b = task.training_batch(4, 64), task.training_batch(4, 64)
    np.testing.assert_array_equal(a.tokens, b.tokens)
    assert task.training_batch(5, 64).tokens.shape == a.tokens.shape  # one compiled shape for every seed
    objects, labels = set(vocab[vocab.index("apple") :]), {chr(c) for c in range(65, 91)}
    checked = 0
    for row in range(64):
        words = [vocab[t] for t in a.tokens[row]]
        end = a.answer_index[row]
        assert (a.weights[row, end + 1 :] == 0).all() and words[end + 1 :] == ["<pad>"] * (len(words) - end - 1)
        assert vocab[a.targets[row, end]] in objects and a.weights[row, end] == 1.0
        for pos in range(end):
            if words[pos] in labels and pos != end:  # a context label (or a non-final query label)
                target = vocab[a.targets[row, pos]]
                owner = [w for w in words[:pos] if w in objects]
                if pos + 1 < len(words) and words[pos + 1] in (",", "."):  # context label: its own object
                    assert target == owner[-1]
                    checked += 1
    assert checked > 64
