"""KV-cached generation (`jaxinterp.mech.generate`): cached decoding equals the argmax of an uncached forward at
every step (LLaMA with GQA, GPT-2, GPT-NeoX; prompts of different lengths padded into one batch), EOS stops a row,
the sampler draws from the distribution it claims, repeated calls do not recompile, bad input is an InputError,
and SmolLM2-135M-Instruct's greedy tokens equal transformers' (tests/fixtures/generate, made by
scripts/make_generate_fixtures.py)."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from penzai import pz

from jaxinterp.cli import main
from jaxinterp.errors import InputError
from jaxinterp.hf import load_tokenizer, read_config
from jaxinterp.mech.generate import Generator, SamplingConfig, bucket, context_of
from jaxinterp.mech.models.load import load_pretrained
from tests.compiles import count_compiles
from tests.mech.real_model import smollm2_folder
from tests.mech.tiny_models import tiny_llama

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROMPTS = [[3, 14, 15, 9, 2, 6, 5], [27, 1, 8]]  # different lengths: the second row is left-padded by 4


def _logits(model, tokens):
    """The uncached model's logits {batch, seq, vocabulary} as one jitted call (eager penzai is slow)."""
    forward = jax.jit(lambda m, t: m(pz.nx.wrap(t).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary"))
    return np.asarray(forward(pz.freeze_variables(model), np.asarray(tokens, np.int32)))


def _uncached_greedy_check(model, prompts, generated):
    """Runs each prompt + its generated tokens through the plain (uncached) model, right-padded into one batch
    (causal: padding after a row changes nothing before it); the argmax at each position that predicts a
    generated token must be that token."""
    rows = [list(p) + list(g) for p, g in zip(prompts, generated, strict=True)]
    full = np.zeros((len(rows), max(map(len, rows))), np.int32)
    for i, row in enumerate(rows):
        full[i, : len(row)] = row
    logits = _logits(model, full)
    for i, (prompt, tokens) in enumerate(zip(prompts, generated, strict=True)):
        predicting = logits[i, len(prompt) - 1 : len(rows[i]) - 1]
        np.testing.assert_array_equal(predicting.argmax(-1), tokens)
        top2 = np.sort(predicting, -1)[:, -2:]
        assert np.min(top2[:, 1] - top2[:, 0]) > 1e-5  # no near-tie that float rounding could flip


def _fixture_model(name):
    folder = FIXTURES / name
    return load_pretrained(folder), context_of(read_config(folder))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: (tiny_llama(kv_heads=2, query_multiplier=3), None), id="llama-gqa"),
        pytest.param(lambda: _fixture_model("gpt2_tiny"), id="gpt2"),
        pytest.param(lambda: _fixture_model("hf_gpt_neox_parallel"), id="gpt-neox"),
    ],
)
def test_cached_greedy_equals_uncached_argmax_at_every_step(make):
    model, context = make()
    result = Generator.from_model(model, context=context)(PROMPTS, SamplingConfig(max_new_tokens=12))
    assert [len(row) for row in result.tokens] == [12, 12]
    _uncached_greedy_check(model, PROMPTS, result.tokens)


@pytest.fixture(scope="module")
def tiny():
    model = tiny_llama(kv_heads=2, query_multiplier=3)
    return model, Generator.from_model(model)


def test_eos_ends_its_row_only(tiny):
    model, generator = tiny
    free = generator(PROMPTS, SamplingConfig(max_new_tokens=10)).tokens
    eos = free[0][3]
    stop = free[0].index(eos)  # the first time row 0 emits it
    stopped = Generator(generator.model, (eos,))(PROMPTS, SamplingConfig(max_new_tokens=10)).tokens
    assert stopped[0] == free[0][: stop + 1]
    other = free[1][: free[1].index(eos) + 1] if eos in free[1] else free[1]
    assert stopped[1] == other


def test_top_k_one_is_greedy_and_a_seed_repeats(tiny):
    _, generator = tiny
    greedy = generator(PROMPTS, SamplingConfig(max_new_tokens=8)).tokens
    assert generator(PROMPTS, SamplingConfig(max_new_tokens=8, temperature=1.5, top_k=1, seed=3)).tokens == greedy
    sampled = [generator(PROMPTS, SamplingConfig(max_new_tokens=8, temperature=1.0, seed=s)).tokens for s in (0, 0, 1)]
    assert sampled[0] == sampled[1] and sampled[0] != sampled[2]


@pytest.mark.parametrize("top_k, top_p", [(None, None), (5, None), (None, 0.6)])
def test_first_token_frequencies_match_the_filtered_softmax(tiny, top_k, top_p):
    """512 copies of one prompt in one batch, one new token each: the frequencies are the tempered softmax, cut to
    the top-k / the nucleus, within 4 binomial standard deviations (<= 0.09), and nothing outside the cut."""
    model, generator = tiny
    prompt, temperature, n = PROMPTS[0], 0.8, 512
    logits = _logits(model, [prompt])[0, -1].astype(np.float64) / temperature
    order = np.argsort(-logits)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    keep = np.zeros_like(probs, bool)
    kept = order[:top_k] if top_k else order
    if top_p:
        before = np.cumsum(probs[kept]) - probs[kept]
        kept = kept[before < top_p]
    keep[kept] = True
    expected = np.where(keep, probs, 0) / probs[keep].sum()
    config = SamplingConfig(max_new_tokens=1, temperature=temperature, top_k=top_k, top_p=top_p, seed=7)
    drawn = np.asarray([row[0] for row in generator([prompt] * n, config).tokens])
    freq = np.bincount(drawn, minlength=len(probs)) / n
    assert np.all(freq[~keep] == 0)
    np.testing.assert_allclose(freq, expected, atol=4 * np.sqrt(0.25 / n))


def test_a_second_call_with_the_same_buckets_does_not_recompile(tiny):
    _, generator = tiny
    config = SamplingConfig(max_new_tokens=9, temperature=0.7, seed=1)
    generator(PROMPTS, config)
    other_prompts = [[1, 2, 3, 4, 5, 6, 7, 8], [4]]  # same batch size, same 8-token prompt bucket
    with count_compiles() as compiles:
        generator(
            other_prompts, SamplingConfig(max_new_tokens=14, temperature=1.3, seed=2)
        )  # new tokens: same 16 bucket
        generator(PROMPTS, config)
    assert compiles == []
    assert bucket(1) == bucket(8) == 8 and bucket(9) == 16 and bucket(17) == 32


@pytest.mark.parametrize(
    "prompts, config, message",
    [
        ([[1] * 65], SamplingConfig(), "more than the model's context of 64"),
        ([[]], SamplingConfig(), "at least one token"),
        ([[1, 37]], SamplingConfig(), "outside the vocabulary"),
    ],
)
def test_bad_prompts_raise_input_error(tiny, prompts, config, message):
    generator = Generator(tiny[1].model, (), context=64)
    with pytest.raises(InputError, match=message):
        generator(prompts, config)


@pytest.mark.parametrize(
    "fields", [{"max_new_tokens": 0}, {"temperature": -1.0}, {"top_k": 0}, {"top_p": 0.0}, {"top_p": 1.5}]
)
def test_bad_sampling_config_raises_input_error(fields):
    with pytest.raises(InputError):
        SamplingConfig(**fields)


def test_context_clamps_the_new_tokens(tiny):
    generator = Generator(tiny[1].model, (), context=10)
    result = generator([[1] * 8], SamplingConfig(max_new_tokens=30))
    assert len(result.tokens[0]) == 3  # positions 8 and 9 fed back, the last token predicted from position 9


def test_cli_prints_the_greedy_continuation_and_rejects_bad_input(capsys):
    boxes = FIXTURES / "train_boxes"  # a tiny trained model with a word-level tokenizer, no EOS id
    tokenizer = load_tokenizer(boxes)
    ids = tokenizer("the box A contains")["input_ids"]
    tokens = Generator.from_folder(boxes)([ids], SamplingConfig(max_new_tokens=4)).tokens[0]
    argv = ["mech", "generate", "--model", str(boxes), "--prompt", "the box A contains", "--max-new-tokens", "4"]
    assert main(argv) == 0
    assert capsys.readouterr().out == tokenizer.decode(list(tokens), skip_special_tokens=True) + "\n"
    assert len(tokens) == 4
    for argv, message in [
        (["--model", str(FIXTURES / "hf_llama_gqa"), "--prompt", "x"], "no tokenizer files"),
        (["--model", str(boxes), "--prompt", "A " * 2100], "more than the model's context of 2048"),
        (["--model", str(boxes), "--prompt", "A", "--chat"], "no chat template"),
        (["--model", str(boxes), "--prompt", "A", "--temperature", "-1"], "temperature"),
    ]:
        assert main(["mech", "generate", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_smollm2_greedy_tokens_equal_transformers():
    """5 prompts x 20 new tokens (one through the chat template), run as one left-padded batch, token for token."""
    folder = smollm2_folder()
    reference = json.loads((FIXTURES / "generate" / "smollm2_greedy.json").read_text())
    generator = Generator.from_folder(folder)
    assert generator.eos_ids == (reference["eos_token_id"],)
    prompts = [p["ids"] for p in reference["prompts"]]
    result = generator(prompts, SamplingConfig(max_new_tokens=20))
    for prompt, tokens in zip(reference["prompts"], result.tokens, strict=True):
        assert list(tokens) == prompt["generated"], (
            f"{prompt['text']!r}; transformers' top-2 logit gaps {prompt['top2_logit_gap']}"
        )
