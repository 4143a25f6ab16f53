"""Loading local HF checkpoints into penzai: logit parity with transformers on tiny random models (folders
saved by transformers and their logits, stored in tests/fixtures by scripts/make_test_fixtures.py), errors."""

import json
import shutil

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz
from safetensors.numpy import load_file, save_file

from jaxinterp.errors import InputError
from jaxinterp.hf import read_config, read_tensors, rope_settings
from jaxinterp.mech.models.load import load_pretrained
from tests import fixtures

VOCAB = 101
TOKENS = np.random.default_rng(0).integers(0, VOCAB, size=(2, 11))
TOL = 1e-4
# Each case a folder tests/fixtures/hf_<case>: 2 layers, hidden 32, MLP 48, vocabulary 101, every parameter
# (norm scales and biases included) random rather than at its init value.
LLAMALIKE_CASES = {
    "llama_gqa": "4 heads of 8, 2 KV heads",
    "llama_rope_theta_500k": "rope_theta 500000",
    "llama_mqa_tied_head_dim": "1 KV head, head_dim 24 (not hidden / heads), tied embeddings",
    "mistral_sliding_window_4": "sliding_window 4 < sequence length",
    "qwen2_qkv_bias": "biases on q, k, v",
}


@pytest.fixture(scope="module")
def hf_logits():
    """Case -> transformers' logits on TOKENS (float32, under torch.no_grad)."""
    ref = fixtures.reference("hf")
    np.testing.assert_array_equal(ref["tokens"], TOKENS)
    return ref


def _pz_logits(folder, **kwargs) -> np.ndarray:
    model = load_pretrained(folder, **kwargs)
    logits = model(pz.nx.wrap(jnp.asarray(TOKENS)).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary")
    chex.assert_shape(logits, (*TOKENS.shape, VOCAB))
    return np.asarray(logits, dtype=np.float32)


def _max_diff(folder, want: np.ndarray) -> float:
    diff = float(np.abs(_pz_logits(folder) - want).max())
    print(f"max |logit diff| = {diff:.2e}")  # shown with pytest -s; reported in the PR
    return diff


def _edit_config(folder, edit):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


@pytest.mark.parametrize("case", LLAMALIKE_CASES)
def test_llamalike_logits_match_transformers(case, hf_logits):
    assert _max_diff(fixtures.folder(f"hf_{case}"), hf_logits[case]) < TOL


@pytest.mark.parametrize("parallel_residual", [True, False])
def test_gpt_neox_partial_rotary_logits_match_transformers(parallel_residual, hf_logits):
    case = "gpt_neox_parallel" if parallel_residual else "gpt_neox_sequential"
    folder = fixtures.folder(f"hf_{case}")
    assert read_config(folder)["use_parallel_residual"] is parallel_residual
    assert read_config(folder)["rope_parameters"]["partial_rotary_factor"] == 0.25  # 4 of 16 dims per head
    assert _max_diff(folder, hf_logits[case]) < TOL


def test_sharded_checkpoint_logits_match_transformers(hf_logits):
    folder = fixtures.folder("hf_llama_gqa_sharded")  # llama_gqa saved with max_shard_size="10KB"
    assert (folder / "model.safetensors.index.json").is_file() and not (folder / "model.safetensors").exists()
    assert len(list(folder.glob("model-*.safetensors"))) > 1
    assert _max_diff(folder, hf_logits["llama_gqa"]) < TOL


def _llama_to_v4(config):
    config["rope_theta"] = config.pop("rope_parameters")["rope_theta"]
    config["rope_scaling"] = None
    config["torch_dtype"] = config.pop("dtype")


def _neox_to_v4(config):
    rope = config.pop("rope_parameters")
    config["rotary_emb_base"], config["rotary_pct"] = rope["rope_theta"], rope["partial_rotary_factor"]
    config["torch_dtype"] = config.pop("dtype")


def _neox_rope_20k(folder):
    """GPT-NeoX with rotary_emb_base 20000: the config.json transformers 5 wrote for it, on the weights of
    hf_gpt_neox_parallel (the base is no parameter, so the random weights are the same)."""
    fixtures.copy_folder("hf_gpt_neox_parallel", folder)
    shutil.copyfile(fixtures.folder("hf_gpt_neox_rope_20k_config") / "config.json", folder / "config.json")
    return folder


@pytest.mark.parametrize(
    "make_folder, to_v4",
    [
        (lambda folder: fixtures.copy_folder("hf_llama_rope_theta_500k", folder), _llama_to_v4),
        (_neox_rope_20k, _neox_to_v4),
    ],
    ids=["llama", "gpt_neox"],
)
def test_transformers_v4_config_loads_to_same_logits(make_folder, to_v4, tmp_path):
    folder = make_folder(tmp_path / "ckpt")
    settings_v5, logits_v5 = rope_settings(read_config(folder)), _pz_logits(folder)
    _edit_config(folder, to_v4)
    assert "rope_parameters" not in read_config(folder)
    assert rope_settings(read_config(folder)) == settings_v5
    assert settings_v5.theta != 10_000.0
    np.testing.assert_array_equal(_pz_logits(folder), logits_v5)


@pytest.mark.parametrize("torch_dtype", ["bfloat16", "float16"])
def test_half_precision_checkpoint_is_cast_to_float32(torch_dtype, hf_logits):
    # llama_gqa saved in half precision; the reference is transformers' float32 model holding exactly the
    # half-precision weights.
    folder = fixtures.folder(f"hf_llama_gqa_{torch_dtype}")
    assert load_file(folder / "model.safetensors")["lm_head.weight"].dtype.name == torch_dtype
    assert read_tensors(folder, np.float32)["lm_head.weight"].dtype == np.float32
    assert _max_diff(folder, hf_logits[f"llama_gqa_{torch_dtype}"]) < TOL


def test_bfloat16_load_keeps_bfloat16_parameters():
    params = pz.unbind_params(load_pretrained(fixtures.folder("hf_llama_gqa"), dtype=jnp.bfloat16))[1]
    assert {p.value.dtype for p in params} == {jnp.dtype(jnp.bfloat16)}


def _copy(tmp_path):
    return fixtures.copy_folder("hf_llama_gqa", tmp_path / "ckpt")


def test_missing_tensor_raises_input_error_naming_it(tmp_path):
    folder = _copy(tmp_path)
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.layers.1.self_attn.k_proj.weight"]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(InputError, match=r"model\.layers\.1\.self_attn\.k_proj\.weight.*missing"):
        load_pretrained(folder)


def test_wrong_tensor_shape_raises_input_error_naming_it(tmp_path):
    folder = _copy(tmp_path)
    tensors = load_file(folder / "model.safetensors")
    tensors["model.layers.0.mlp.up_proj.weight"] = np.zeros((47, 32), np.float32)
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(InputError, match=r"model\.layers\.0\.mlp\.up_proj\.weight.*\(47, 32\).*\(48, 32\)"):
        load_pretrained(folder)


def test_unknown_model_type_raises_input_error_listing_supported(tmp_path):
    folder = _copy(tmp_path)
    _edit_config(folder, lambda config: config.update(model_type="bert"))
    with pytest.raises(InputError, match=r"model_type = 'bert' is not supported; supported: ") as error:
        load_pretrained(folder)
    assert all(name in str(error.value) for name in ("gpt_neox", "llama", "mistral", "qwen2"))


def test_unsupported_rope_scaling_raises_input_error_naming_field(tmp_path):
    folder = _copy(tmp_path)
    _edit_config(folder, lambda config: config["rope_parameters"].update(rope_type="longrope", factor=8.0))
    with pytest.raises(InputError, match=r"rope_parameters\.rope_type = 'longrope'"):
        load_pretrained(folder)
    _edit_config(folder, lambda config: config.update(rope_parameters=None, rope_scaling={"type": "su"}))
    with pytest.raises(InputError, match=r"rope_scaling\.rope_type = 'su'"):
        load_pretrained(folder)


def test_missing_folder_or_files_raise_input_error_naming_them(tmp_path):
    with pytest.raises(InputError, match="nowhere"):
        load_pretrained(tmp_path / "nowhere")
    folder = _copy(tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(InputError, match=r"model\.safetensors"):
        load_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(InputError, match=r"config\.json.*missing"):
        load_pretrained(folder)
