"""mech/models/gpt2.py: GPT-2 as a penzai TransformerLM matches HF's logits (a tiny random checkpoint and its
transformers logits stored in tests/fixtures), follows penzai's surgery conventions, and loads checkpoints
(prefixed, unprefixed, sharded) without torch, with clear errors for bad ones."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz
from safetensors.numpy import load_file, save_file

from jaxinterp.errors import InputError
from jaxinterp.mech.models.gpt2 import GPT2Config, build_gpt2_transformer, load_gpt2
from tests import fixtures

TOKENS = np.random.default_rng(0).integers(0, 97, size=(2, 9))


def logits_of(model, tokens=TOKENS) -> np.ndarray:
    out = model(pz.nx.wrap(jnp.asarray(tokens)).tag("batch", "seq"))
    return np.asarray(out.untag("batch", "seq", "vocabulary").unwrap())


@pytest.fixture(scope="module")
def hf_checkpoint():
    """A tiny random GPT2LMHeadModel (32 wide, 2 layers, 4 heads, vocab 97) saved with save_pretrained, and its
    logits on TOKENS (tests/fixtures/gpt2_tiny, gpt2.npz)."""
    ref = fixtures.reference("gpt2")
    np.testing.assert_array_equal(ref["tokens"], TOKENS)
    return fixtures.folder("gpt2_tiny"), ref["logits"]


def copy_checkpoint(src, dst, rename=lambda k: k, drop=(), shards=1, config_updates=None, config_drop=()):
    """Rewrites a checkpoint folder: renamed/dropped tensors and config fields, optionally sharded with an index."""
    tensors = {rename(k): v for k, v in load_file(src / "model.safetensors").items() if rename(k) not in drop}
    config = json.loads((src / "config.json").read_text()) | (config_updates or {})
    config = {k: v for k, v in config.items() if k not in config_drop}
    (dst / "config.json").write_text(json.dumps(config))
    if shards == 1:
        save_file(tensors, dst / "model.safetensors")
        return
    names = sorted(tensors)
    weight_map = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: tensors[k] for k in names[s::shards]}, dst / file)
        weight_map |= {k: file for k in names[s::shards]}
    (dst / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def test_logits_match_hf_gpt2(hf_checkpoint):
    folder, reference = hf_checkpoint
    diff = np.abs(logits_of(load_gpt2(folder)) - reference).max()
    print(f"max |logits - HF| = {diff:.3g}")
    assert diff < 1e-4


@pytest.mark.parametrize("layout", ["unprefixed", "sharded"])
def test_checkpoint_layouts_load_to_the_same_logits(hf_checkpoint, tmp_path, layout):
    folder, reference = hf_checkpoint
    if layout == "unprefixed":  # as saved from GPT2Model
        copy_checkpoint(folder, tmp_path, rename=lambda k: k.removeprefix("transformer."))
    else:
        copy_checkpoint(folder, tmp_path, shards=2)
    assert np.abs(logits_of(load_gpt2(tmp_path)) - reference).max() < 1e-4


def test_random_model_has_named_logits_and_patchable_per_head_outputs():
    config = GPT2Config(vocab_size=53, n_positions=16, d_model=48, n_layers=3, n_heads=6, d_mlp=80)
    model = build_gpt2_transformer(config, init_key=jax.random.key(1))
    tokens = np.random.default_rng(1).integers(0, 53, size=(3, 7))
    out = model(pz.nx.wrap(jnp.asarray(tokens)).tag("batch", "seq"))
    assert out.named_shape == {"batch": 3, "seq": 7, "vocabulary": 53}
    chex.assert_tree_all_finite(out.unwrap("batch", "seq", "vocabulary"))

    @pz.pytree_dataclass
    class ScaleHeads(pz.nn.Layer):
        mask: pz.nx.NamedArray

        def __call__(self, z, **_):
            assert set(z.named_shape) - {"worlds"} == {"batch", "seq", "heads", "projection"}  # worlds: from layer 1
            return z * self.mask

    # Keep all heads in world 0, knock out head 2 of every layer in world 1: one forward over both worlds.
    mask = pz.nx.wrap(jnp.ones((2, 6)).at[1, 2].set(0.0)).tag("worlds", "heads")
    selection = pz.select(model).at_instances_of(pz.nn.Attention).at(lambda a: a.attn_value_to_output.sublayers[0])
    assert selection.count() == 3
    patched = selection.insert_after(ScaleHeads(mask))(pz.nx.wrap(jnp.asarray(tokens)).tag("batch", "seq"))
    assert patched.named_shape == {"worlds": 2, "batch": 3, "seq": 7, "vocabulary": 53}
    clean = out.unwrap("batch", "seq", "vocabulary")
    np.testing.assert_allclose(patched[{"worlds": 0}].unwrap("batch", "seq", "vocabulary"), clean, atol=1e-5)
    assert np.abs(patched[{"worlds": 1}].unwrap("batch", "seq", "vocabulary") - clean).max() > 1e-4


def test_bad_checkpoints_raise_input_error_naming_the_problem(hf_checkpoint, tmp_path):
    folder, _ = hf_checkpoint
    cases = {
        "missing_tensor": ({"drop": {"transformer.h.1.mlp.c_fc.bias"}}, "h.1.mlp.c_fc.bias"),
        "wrong_shape": ({"config_updates": {"n_positions": 64}}, "wpe.weight"),
        "wrong_model_type": ({"config_updates": {"model_type": "gpt_neox"}}, "model_type"),
        "missing_field": ({"config_drop": {"n_head"}}, "n_head"),
    }
    for case, (kwargs, expected) in cases.items():
        (tmp_path / case).mkdir()
        copy_checkpoint(folder, tmp_path / case, **kwargs)
        with pytest.raises(InputError, match=expected):
            load_gpt2(tmp_path / case)
    (tmp_path / "missing_tensor" / "model.safetensors").unlink()
    with pytest.raises(InputError, match="model.safetensors"):
        load_gpt2(tmp_path / "missing_tensor")
    with pytest.raises(InputError, match="config.json"):
        load_gpt2(tmp_path / "does_not_exist")


def test_load_pretrained_dispatches_gpt2(hf_checkpoint):
    from jaxinterp.mech.models.load import load_pretrained

    folder, reference_logits = hf_checkpoint
    model = load_pretrained(folder)
    logits = model(pz.nx.wrap(jnp.arange(6)[None]).tag("batch", "seq"))
    assert logits.named_shape == {"batch": 1, "seq": 6, "vocabulary": 97}
    assert np.abs(logits_of(model) - reference_logits).max() < 1e-4
