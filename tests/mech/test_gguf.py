"""GGUF checkpoints: config from metadata, dequantised tensors, Q/K rows, tokenizer, convert, bad files.

Three references: (1) the same random weights through the safetensors path (`tiny_*` below, written at
test time with `write_gguf`, quantised weights compared with their dequantised values); (2) transformers'
own GGUF loader and tokenizer on the tiny files in tests/fixtures/gguf/ and on the real SmolLM2 file
(`scripts/make_gguf_fixtures.py` stored its float32 logits and token ids); (3) exact known answers (the
row permutation, the config fields).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import chex
import gguf
import jax
import numpy as np
import pytest
from penzai import pz
from safetensors.numpy import save_file

from jaxinterp.errors import InputError
from jaxinterp.gguf import gguf_file, hf_config, llama3_rope_factors, permute_rows, unpermute_rows, write_gguf
from jaxinterp.hf import load_tokenizer
from jaxinterp.mech.models.convert import convert_gguf
from jaxinterp.mech.models.load import checkpoint_config, load_pretrained
from tests.mech.real_model import smollm2_folder, smollm2_gguf

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gguf"
Q = gguf.GGMLQuantizationType
TINY_TEXTS = ["the hen in her den", " the\n\nend ", "<|endoftext|>ther", "üñ 12"]


def tiny_tokenizer() -> dict:
    """A 262-token byte-level BPE vocabulary: the 256 bytes (GPT-2's byte alphabet), 4 merges, 2 controls."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    tokens = list(bytes_to_unicode().values()) + ["Ġt", "he", "Ġthe", "en", "<|endoftext|>", "<|im_end|>"]
    return {
        "model": "gpt2",
        "tokens": tokens,
        "token_type": [1] * (len(tokens) - 2) + [3, 3],
        "merges": ["Ġ t", "h e", "Ġt he", "e n"],
        "bos_token_id": len(tokens) - 2,
        "eos_token_id": len(tokens) - 1,
        "padding_token_id": len(tokens) - 1,
        "chat_template": "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",
    }


def tiny_config(model_type: str) -> dict:
    """2 layers, distinct sizes, grouped-query attention (4 query / 2 KV heads); qwen2 ties its embeddings."""
    return {
        "model_type": model_type,
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 262,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10_000.0},
        "max_position_embeddings": 128,
        "tie_word_embeddings": model_type == "qwen2",
    }


def tiny_tensors(config: dict, seed: int) -> dict[str, np.ndarray]:
    """Random HF-named float32 weights (q/k/v biases for qwen2), scaled so activations stay O(1)."""
    rng = np.random.default_rng(seed)
    d, f, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    hd = d // config["num_attention_heads"]
    q, kv = config["num_attention_heads"] * hd, config["num_key_value_heads"] * hd

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    def norm():
        return (1 + 0.1 * rng.standard_normal(d)).astype(np.float32)

    tensors = {"model.embed_tokens.weight": rng.standard_normal((v, d)).astype(np.float32), "model.norm.weight": norm()}
    if not config["tie_word_embeddings"]:
        tensors["lm_head.weight"] = w(v, d)
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        tensors |= {
            p + "input_layernorm.weight": norm(),
            p + "post_attention_layernorm.weight": norm(),
            p + "self_attn.q_proj.weight": w(q, d),
            p + "self_attn.k_proj.weight": w(kv, d),
            p + "self_attn.v_proj.weight": w(kv, d),
            p + "self_attn.o_proj.weight": w(d, q),
            p + "mlp.gate_proj.weight": w(f, d),
            p + "mlp.up_proj.weight": w(f, d),
            p + "mlp.down_proj.weight": w(d, f),
        }
        if config["model_type"] == "qwen2":
            for name, n in (("q", q), ("k", kv), ("v", kv)):
                tensors[p + f"self_attn.{name}_proj.bias"] = (0.5 * rng.standard_normal(n)).astype(np.float32)
    return tensors


# The fixture files `scripts/make_gguf_fixtures.py` wrote: name -> (model_type, ggml type, seed).
TINY = {
    "tiny_llama_gqa_q8_0.gguf": ("llama", Q.Q8_0, 0),
    "tiny_qwen2_bias_f32.gguf": ("qwen2", Q.F32, 1),
}


def logits(model, ids: np.ndarray) -> np.ndarray:
    """float32 logits [batch, seq, vocabulary] of int ids [batch, seq]."""
    out = model(pz.nx.wrap(np.asarray(ids)).tag("batch", "seq"))
    return np.asarray(out.unwrap("batch", "seq", "vocabulary"))


def as_stored(array: np.ndarray, qtype: Q) -> np.ndarray:
    """The values a 2-D weight has after `write_gguf` quantises it to `qtype` (1-D ones stay float32)."""
    if array.ndim != 2 or qtype == Q.F32:
        return array
    return gguf.quants.dequantize(gguf.quants.quantize(array, qtype), qtype).reshape(array.shape)


LLAMA3 = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}


@pytest.mark.parametrize(
    "model_type, qtype, rope",
    [
        ("llama", Q.F32, None),
        ("llama", Q.Q4_1, None),
        ("qwen2", Q.F32, None),
        ("qwen2", Q.Q8_0, None),
        ("llama", Q.F32, {"rope_type": "llama3", **LLAMA3}),  # stored as the rope_freqs tensor
        ("llama", Q.F32, {"rope_type": "linear", "factor": 2.0}),
        ("qwen2", Q.F32, {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32}),
    ],
    ids=["llama-f32", "llama-q4_1", "qwen2-f32", "qwen2-q8_0", "llama-llama3-rope", "llama-linear-rope", "qwen2-yarn"],
)
def test_gguf_logits_equal_safetensors_logits_of_the_same_weights(tmp_path, model_type, qtype, rope):
    config = tiny_config(model_type)
    if rope:
        config["rope_parameters"] = {**rope, "rope_theta": 10_000.0}
    tensors = tiny_tensors(config, seed=3)
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    save_file({name: as_stored(array, qtype) for name, array in tensors.items()}, folder / "model.safetensors")
    (tmp_path / "only").mkdir()
    write_gguf(tmp_path / "only" / "model.gguf", config, tensors, tiny_tokenizer(), qtype)

    ids = np.random.default_rng(0).integers(0, 262, size=(2, 7))
    want = logits(load_pretrained(folder), ids)
    got = logits(load_pretrained(tmp_path / "only" / "model.gguf"), ids)
    chex.assert_shape(got, (2, 7, 262))
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert np.abs(want).max() > 1  # the comparison is not between near-zero logits
    np.testing.assert_allclose(logits(load_pretrained(tmp_path / "only"), ids), want, atol=1e-5, rtol=0)
    converted = json.loads((convert_gguf(tmp_path / "only", tmp_path / "converted") / "config.json").read_text())
    assert converted["rope_parameters"] == config["rope_parameters"]


def test_rope_freqs_that_are_not_llama3_scaling_are_an_input_error(tmp_path):
    config = tiny_config("llama") | {"rope_parameters": {"rope_type": "llama3", **LLAMA3, "low_freq_factor": 2.0}}
    write_gguf(tmp_path / "m.gguf", config, tiny_tensors(config, seed=0), tiny_tokenizer())
    with pytest.raises(InputError, match="rope_freqs.weight is not Llama 3's RoPE scaling"):
        load_pretrained(tmp_path / "m.gguf")


def test_llama3_rope_factors_known_values():
    # theta 1e4, head_dim 4: wavelengths 2*pi and 200*pi; with original 64, high 4, low 1 -> bands below 16 kept,
    # above 64 divided by the factor.
    np.testing.assert_allclose(llama3_rope_factors(1e4, 4, 8.0, 1.0, 4.0, 64), [1.0, 8.0])
    # A wavelength inside the band: s = (64 / (2*pi*10) - 1) / 3, divisor 1 / ((1 - s) / 8 + s).
    inside = 2 * np.pi * 10.0
    s = (64 / inside - 1) / 3
    np.testing.assert_allclose(llama3_rope_factors(100.0, 4, 8.0, 1.0, 4.0, 64)[1], 1 / ((1 - s) / 8 + s))


@pytest.mark.parametrize("name", sorted(TINY))
def test_tiny_gguf_matches_transformers_gguf_load_and_convert_round_trips(tmp_path, name):
    stored = np.load(FIXTURES / "tiny.npz")
    key = name.removesuffix(".gguf")
    ids = stored[f"{key}/ids"]
    ours = logits(load_pretrained(FIXTURES / name), ids)
    np.testing.assert_allclose(ours, stored[f"{key}/gguf_logits"], atol=1e-4, rtol=0)

    out = convert_gguf(FIXTURES / name, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    assert checkpoint_config(out) == config
    assert checkpoint_config(FIXTURES / name) == {k: v for k, v in config.items() if k != "transformers_version"}
    assert config["model_type"] == TINY[name][0] and config["num_key_value_heads"] == 2
    np.testing.assert_allclose(logits(load_pretrained(out), ids), ours, atol=1e-6, rtol=0)
    # transformers read the folder convert_gguf wrote when the fixtures were made (no torch here).
    np.testing.assert_allclose(stored[f"{key}/converted_logits"], ours, atol=1e-4, rtol=0)

    from_file, from_folder = load_tokenizer(FIXTURES / name), load_tokenizer(out)
    for i, text in enumerate(TINY_TEXTS):
        want = stored[f"{key}/text_{i}"].tolist()
        assert from_file(text)["input_ids"] == want, text
        assert from_folder(text)["input_ids"] == want, text
    chat = [{"role": "user", "content": "hi"}]
    assert from_folder.apply_chat_template(chat, tokenize=False) == "user: hi\n"


def test_convert_command_writes_a_folder_and_refuses_a_cut_file_with_exit_code_2(tmp_path, capsys):
    from jaxinterp.cli import main

    name = "tiny_qwen2_bias_f32.gguf"
    assert main(["mech", "convert", str(FIXTURES / name), "--out", str(tmp_path / "hf")]) == 0
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= {
        path.name for path in (tmp_path / "hf").iterdir()
    }
    (tmp_path / "cut.gguf").write_bytes((FIXTURES / name).read_bytes()[:5000])
    capsys.readouterr()
    assert main(["mech", "convert", str(tmp_path / "cut.gguf"), "--out", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxinterp: error: cannot read") and err.count("\n") == 1


def test_permutation_is_llama_cpps_interleaving_and_is_undone():
    # One head of size 4: HF rows [x0, x1 | y0, y1] (rotate-halves pairs (x_j, y_j)) -> llama.cpp [x0, y0, x1, y1].
    hf = np.array([[0.0], [1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(permute_rows(hf, 1)[:, 0], [0.0, 2.0, 1.0, 3.0])
    rows = np.arange(3 * 8 * 5, dtype=np.float32).reshape(3 * 8, 5)
    np.testing.assert_array_equal(unpermute_rows(permute_rows(rows, 3), 3), rows)
    np.testing.assert_array_equal(unpermute_rows(permute_rows(rows[:, 0], 3), 3), rows[:, 0])  # biases too


def _meta(**extra) -> dict:
    meta = {
        "general.architecture": "llama",
        "llama.block_count": 2,
        "llama.embedding_length": 64,
        "llama.feed_forward_length": 96,
        "llama.attention.head_count": 4,
        "llama.attention.head_count_kv": 2,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.rope.freq_base": 5e5,
        "llama.context_length": 512,
        "tokenizer.ggml.tokens": ["a"] * 300,
    }
    return meta | extra


def test_config_from_metadata():
    config = hf_config(_meta(), {"token_embd.weight"})
    expected = {
        "model_type": "llama",
        "num_hidden_layers": 2,
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "rms_norm_eps": 1e-5,
        "max_position_embeddings": 512,
        "vocab_size": 300,
        "tie_word_embeddings": True,
        "rope_parameters": {"rope_type": "default", "rope_theta": 5e5},
    }
    assert {k: config[k] for k in expected} == expected
    assert not hf_config(_meta(), {"output.weight"})["tie_word_embeddings"]
    linear = hf_config(_meta(**{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": 4.0}), set())
    assert linear["rope_parameters"] == {"rope_type": "linear", "factor": 4.0, "rope_theta": 5e5}
    yarn = {
        "llama.rope.scaling.type": "yarn",
        "llama.rope.scaling.factor": 8.0,
        "llama.rope.scaling.original_context_length": 64,
    }
    assert hf_config(_meta(**yarn), set())["rope_parameters"] == {
        "rope_type": "yarn",
        "factor": 8.0,
        "original_max_position_embeddings": 64,
        "rope_theta": 5e5,
    }


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"general.architecture": "gemma3"}, "general.architecture = 'gemma3' is not supported"),
        ({"llama.attention.sliding_window": 16}, "llama.attention.sliding_window"),
        ({"llama.rope.scaling.type": "longrope", "llama.rope.scaling.factor": 2.0}, "longrope"),
        ({"llama.attention.key_length": 16, "llama.rope.dimension_count": 8}, "rope.dimension_count = 8"),
        ({"llama.vocab_size": 301}, "vocab_size = 301 but tokenizer.ggml.tokens has 300"),
        ({"llama.expert_count": 8}, "mixtures of experts"),
    ],
)
def test_metadata_that_cannot_be_honoured_is_an_input_error(extra, match):
    with pytest.raises(InputError, match=match):
        hf_config(_meta(**extra), set())


def test_unsupported_architecture_file_is_an_input_error(tmp_path):
    writer = gguf.GGUFWriter(tmp_path / "phi.gguf", "phi3")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), np.float32))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file(), writer.close()
    with pytest.raises(InputError, match="'phi3' is not supported"):
        load_pretrained(tmp_path / "phi.gguf")


def test_tensor_type_gguf_cannot_dequantise_is_an_input_error_naming_it(tmp_path):
    config = tiny_config("llama")
    tensors = tiny_tensors(config, seed=0)
    path = tmp_path / "q8_1.gguf"
    write_gguf(path, config, tensors, tiny_tokenizer())
    # Rewrite with one weight stored as Q8_1 (llama.cpp's intermediate type for matmuls, never in model files).
    reader = gguf.GGUFReader(path)
    writer = gguf.GGUFWriter(tmp_path / "bad.gguf", "llama")
    for key, field in reader.fields.items():
        if not key.startswith("GGUF.") and key != "general.architecture" and key != "general.alignment":
            value_type = field.types[0]
            sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
            writer.add_key_value(key, field.contents(), value_type, sub_type=sub_type)
    for tensor in reader.tensors:
        if tensor.name == "blk.1.ffn_up.weight":
            block, size = gguf.GGML_QUANT_SIZES[Q.Q8_1]
            rows = np.zeros((96, 64 // block * size), np.uint8)
            writer.add_tensor(tensor.name, rows, raw_dtype=Q.Q8_1)
        else:
            writer.add_tensor(tensor.name, np.asarray(tensor.data))
    writer.write_header_to_file(), writer.write_kv_data_to_file(), writer.write_tensors_to_file(), writer.close()
    with pytest.raises(InputError, match=r"'blk\.1\.ffn_up\.weight' has type Q8_1"):
        load_pretrained(tmp_path / "bad.gguf")


@pytest.mark.parametrize("keep", [0.0, 0.001, 0.2, 0.999])
def test_truncated_file_is_an_input_error(tmp_path, keep):
    data = (FIXTURES / "tiny_llama_gqa_q8_0.gguf").read_bytes()
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match="cannot read"):
        load_pretrained(path)
    with pytest.raises(InputError, match="cannot read"):
        convert_gguf(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_which_paths_are_gguf(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "m.gguf").write_bytes(b"")
    assert gguf_file(tmp_path / "one") == tmp_path / "one" / "m.gguf"
    assert gguf_file(tmp_path / "one" / "m.gguf") == tmp_path / "one" / "m.gguf"
    (tmp_path / "one" / "config.json").write_text("{}")
    assert gguf_file(tmp_path / "one") is None  # a HF folder wins
    (tmp_path / "two").mkdir()
    for name in ("a.gguf", "b.gguf"):
        (tmp_path / "two" / name).write_bytes(b"")
    with pytest.raises(InputError, match="2 .gguf files"):
        gguf_file(tmp_path / "two")
    with pytest.raises(InputError, match="does not exist"):
        load_pretrained(tmp_path / "missing.gguf")


@functools.cache
def _jitted_logits():
    return jax.jit(lambda model, ids: model(pz.nx.wrap(ids).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary"))


def smollm2_last_logits(model) -> list[np.ndarray]:
    """The last position's logits of the 3 stored prompts, in one jitted call on right-padded ids (causal
    attention: padding after a prompt does not change its logits)."""
    stored = np.load(FIXTURES / "smollm2_logits.npz")
    prompts = [stored[f"ids_{i}"][0] for i in range(3)]
    ids = np.zeros((3, max(map(len, prompts))), np.int32)
    for i, prompt in enumerate(prompts):
        ids[i, : len(prompt)] = prompt
    out = np.asarray(_jitted_logits()(pz.freeze_params(model), ids))
    return [out[i, len(prompt) - 1] for i, prompt in enumerate(prompts)]


def _max_diffs(model) -> list[float]:
    stored = np.load(FIXTURES / "smollm2_logits.npz")
    return [float(np.abs(got - stored[f"logits_{i}"]).max()) for i, got in enumerate(smollm2_last_logits(model))]


def test_smollm2_gguf_logits_match_transformers_gguf_load():
    diffs = _max_diffs(load_pretrained(smollm2_gguf()))
    assert max(diffs) < 1e-4, diffs  # measured 4e-5 to 7.1e-5 (depends on XLA's fusion)
    assert np.abs(np.load(FIXTURES / "smollm2_logits.npz")["logits_0"]).max() > 10  # real logits, not degenerate


def test_smollm2_converted_folder_matches_transformers_gguf_load():
    folder = smollm2_folder()  # converted by convert_gguf once per machine
    assert json.loads((folder / "config.json").read_text())["num_key_value_heads"] == 3
    diffs = _max_diffs(load_pretrained(folder))
    assert max(diffs) < 1e-4, diffs


def test_smollm2_gguf_tokenizer_matches_transformers_on_100_strings():
    tokenizer = load_tokenizer(smollm2_gguf())
    records = json.loads((FIXTURES / "smollm2_tokens.json").read_text())
    assert len(records) == 100 and len({r["text"] for r in records}) == 100
    mismatches = [r["text"] for r in records if tokenizer(r["text"])["input_ids"] != r["ids"]]
    assert mismatches == []
    assert "<|im_start|>" in tokenizer.chat_template
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert chat.startswith("<|im_start|>system\n") and chat.endswith("<|im_start|>user\nhi<|im_end|>\n")
