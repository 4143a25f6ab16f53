"""Loading local HF checkpoints into penzai: logit parity with transformers on tiny random models, errors."""

import copy
import json
import shutil

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz
from safetensors.numpy import load_file, save_file

from jaxinterp.errors import InputError
from jaxinterp.mech.hf_checkpoint import read_config, read_tensors, rope_settings
from jaxinterp.mech.load import load_pretrained

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

VOCAB = 101
TOKENS = np.random.default_rng(0).integers(0, VOCAB, size=(2, 11))
TOL = 1e-4
SIZES = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, vocab_size=VOCAB)
SIZES |= dict(max_position_embeddings=64)


def _random_model(config):
    """A tiny HF model whose every parameter (norm scales and biases included) is random, not init values."""
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn_like(param))
    return model


def _hf_logits(model) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(TOKENS)).logits.float().numpy()


def _pz_logits(folder, **kwargs) -> np.ndarray:
    model = load_pretrained(folder, **kwargs)
    logits = model(pz.nx.wrap(jnp.asarray(TOKENS)).tag("batch", "seq")).unwrap("batch", "seq", "vocabulary")
    chex.assert_shape(logits, (*TOKENS.shape, VOCAB))
    return np.asarray(logits, dtype=np.float32)


def _max_diff(model, folder) -> float:
    diff = float(np.abs(_pz_logits(folder) - _hf_logits(model)).max())
    print(f"max |logit diff| = {diff:.2e}")  # shown with pytest -s; reported in the PR
    return diff


def _edit_config(folder, edit):
    path = folder / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


LLAMALIKE_CASES = {
    "llama_gqa": transformers.LlamaConfig(**SIZES, num_key_value_heads=2),
    "llama_rope_theta_500k": transformers.LlamaConfig(**SIZES, num_key_value_heads=4, rope_theta=500_000.0),
    "llama_mqa_tied_head_dim": transformers.LlamaConfig(
        **SIZES, num_key_value_heads=1, head_dim=24, tie_word_embeddings=True
    ),
    "mistral_sliding_window_4": transformers.MistralConfig(**SIZES, num_key_value_heads=2, sliding_window=4),
    "qwen2_qkv_bias": transformers.Qwen2Config(**SIZES, num_key_value_heads=2),
}


@pytest.mark.parametrize("case", LLAMALIKE_CASES)
def test_llamalike_logits_match_transformers(case, tmp_path):
    model = _random_model(LLAMALIKE_CASES[case])
    model.save_pretrained(tmp_path)
    assert _max_diff(model, tmp_path) < TOL


@pytest.mark.parametrize("parallel_residual", [True, False])
def test_gpt_neox_partial_rotary_logits_match_transformers(parallel_residual, tmp_path):
    config = transformers.GPTNeoXConfig(**SIZES, rotary_pct=0.25, use_parallel_residual=parallel_residual)
    model = _random_model(config)
    model.save_pretrained(tmp_path)
    assert read_config(tmp_path)["rope_parameters"]["partial_rotary_factor"] == 0.25
    assert _max_diff(model, tmp_path) < TOL


def test_sharded_checkpoint_logits_match_transformers(tmp_path):
    model = _random_model(LLAMALIKE_CASES["llama_gqa"])
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file() and not (tmp_path / "model.safetensors").exists()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    assert _max_diff(model, tmp_path) < TOL


def _llama_to_v4(config):
    config["rope_theta"] = config.pop("rope_parameters")["rope_theta"]
    config["rope_scaling"] = None
    config["torch_dtype"] = config.pop("dtype")


def _neox_to_v4(config):
    rope = config.pop("rope_parameters")
    config["rotary_emb_base"], config["rotary_pct"] = rope["rope_theta"], rope["partial_rotary_factor"]
    config["torch_dtype"] = config.pop("dtype")


@pytest.mark.parametrize(
    "hf_config, to_v4",
    [
        (LLAMALIKE_CASES["llama_rope_theta_500k"], _llama_to_v4),
        (transformers.GPTNeoXConfig(**SIZES, rotary_pct=0.25, rotary_emb_base=20_000.0), _neox_to_v4),
    ],
    ids=["llama", "gpt_neox"],
)
def test_transformers_v4_config_loads_to_same_logits(hf_config, to_v4, tmp_path):
    _random_model(hf_config).save_pretrained(tmp_path)
    settings_v5, logits_v5 = rope_settings(read_config(tmp_path)), _pz_logits(tmp_path)
    _edit_config(tmp_path, to_v4)
    assert "rope_parameters" not in read_config(tmp_path)
    assert rope_settings(read_config(tmp_path)) == settings_v5 != (10_000.0, 1.0)
    np.testing.assert_array_equal(_pz_logits(tmp_path), logits_v5)


@pytest.mark.parametrize("torch_dtype", ["bfloat16", "float16"])
def test_half_precision_checkpoint_is_cast_to_float32(torch_dtype, tmp_path):
    model, dtype = _random_model(LLAMALIKE_CASES["llama_gqa"]), getattr(torch, torch_dtype)
    with torch.no_grad():  # the float32 reference holds exactly the half-precision weights
        for param in model.parameters():
            param.copy_(param.to(dtype).float())
    copy.deepcopy(model).to(dtype).save_pretrained(tmp_path)  # a copy: `.to` would also round RoPE buffers
    assert load_file(tmp_path / "model.safetensors")["lm_head.weight"].dtype.name == torch_dtype
    assert read_tensors(tmp_path, np.float32)["lm_head.weight"].dtype == np.float32
    assert _max_diff(model, tmp_path) < TOL


def test_bfloat16_load_keeps_bfloat16_parameters(tmp_path):
    _random_model(LLAMALIKE_CASES["llama_gqa"]).save_pretrained(tmp_path)
    params = pz.unbind_params(load_pretrained(tmp_path, dtype=jnp.bfloat16))[1]
    assert {p.value.dtype for p in params} == {jnp.dtype(jnp.bfloat16)}


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    _random_model(LLAMALIKE_CASES["llama_gqa"]).save_pretrained(folder)
    return folder


def _copy(llama_folder, tmp_path):
    folder = tmp_path / "ckpt"
    shutil.copytree(llama_folder, folder)
    return folder


def test_missing_tensor_raises_input_error_naming_it(llama_folder, tmp_path):
    folder = _copy(llama_folder, tmp_path)
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.layers.1.self_attn.k_proj.weight"]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(InputError, match=r"model\.layers\.1\.self_attn\.k_proj\.weight.*missing"):
        load_pretrained(folder)


def test_wrong_tensor_shape_raises_input_error_naming_it(llama_folder, tmp_path):
    folder = _copy(llama_folder, tmp_path)
    tensors = load_file(folder / "model.safetensors")
    tensors["model.layers.0.mlp.up_proj.weight"] = np.zeros((95, 64), np.float32)
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(InputError, match=r"model\.layers\.0\.mlp\.up_proj\.weight.*\(95, 64\).*\(96, 64\)"):
        load_pretrained(folder)


def test_unknown_model_type_raises_input_error_listing_supported(llama_folder, tmp_path):
    folder = _copy(llama_folder, tmp_path)
    _edit_config(folder, lambda config: config.update(model_type="bert"))
    with pytest.raises(InputError, match=r"model_type = 'bert' is not supported; supported: ") as error:
        load_pretrained(folder)
    assert all(name in str(error.value) for name in ("gpt_neox", "llama", "mistral", "qwen2"))


def test_unsupported_rope_scaling_raises_input_error_naming_field(llama_folder, tmp_path):
    folder = _copy(llama_folder, tmp_path)
    _edit_config(folder, lambda config: config["rope_parameters"].update(rope_type="llama3", factor=8.0))
    with pytest.raises(InputError, match=r"rope_parameters\.rope_type = 'llama3'"):
        load_pretrained(folder)
    _edit_config(folder, lambda config: config.update(rope_parameters=None, rope_scaling={"type": "yarn"}))
    with pytest.raises(InputError, match=r"rope_scaling\.rope_type = 'yarn'"):
        load_pretrained(folder)


def test_missing_folder_or_files_raise_input_error_naming_them(llama_folder, tmp_path):
    with pytest.raises(InputError, match="nowhere"):
        load_pretrained(tmp_path / "nowhere")
    folder = _copy(llama_folder, tmp_path)
    (folder / "model.safetensors").unlink()
    with pytest.raises(InputError, match=r"model\.safetensors"):
        load_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(InputError, match=r"config\.json.*missing"):
        load_pretrained(folder)
