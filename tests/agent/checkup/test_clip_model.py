"""The JAX CLIP port: parity with transformers' CLIPModel on tiny random checkpoints (its outputs stored in
tests/fixtures/clip.npz), full-size shapes."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.agent.checkup import clip_load
from jaxinterp.agent.checkup.clip_model import Clip, ClipConfig
from jaxinterp.hf import read_tensors
from tests.agent.checkup.clip_vocab import CASES, EOT, MODEL_VOCAB
from tests.fixtures import reference_only

TOL = 1e-4
PIXELS = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype(np.float32)


def _tokens(eos: int) -> np.ndarray:
    """Random ids with EOT at positions 4, 7, 11; ids above EOT (61..63) sit before it in every row."""
    tokens = np.random.default_rng(1).integers(0, EOT, size=(3, 12))
    tokens[:, 1] = MODEL_VOCAB - 1
    if eos != 2:
        tokens[[0, 1, 2], [4, 7, 11]] = EOT
    return tokens


def _ours(folder):
    loaded = clip_load.load(folder)
    return Clip(loaded.cfg), {"params": loaded.params}


def test_image_text_features_and_logits_match_transformers(tiny_clip, clip_reference):
    folder, act = tiny_clip
    clip, variables = _ours(folder)
    tokens = _tokens(CASES[act])
    np.testing.assert_array_equal(clip_reference["pixels"], PIXELS)  # the inputs transformers was given
    np.testing.assert_array_equal(clip_reference[f"tokens_{act}"], tokens)
    # transformers' get_image_features, get_text_features and logits_per_image on them.
    want_image, want_text, want_logits = (clip_reference[f"{name}_{act}"]
                                          for name in ("image_features", "text_features", "logits"))  # fmt: skip
    image = clip.apply(variables, jnp.asarray(PIXELS), method=Clip.image_features)
    text = clip.apply(variables, jnp.asarray(tokens), method=Clip.text_features)
    logits = clip.apply(variables, jnp.asarray(PIXELS), jnp.asarray(tokens))["logits_per_image"]
    chex.assert_shape([image, text, logits], [(3, 24), (3, 24), (3, 3)])
    errors = [float(np.abs(np.asarray(a) - b).max()) for a, b in
              ((image, want_image), (text, want_text), (logits, want_logits))]  # fmt: skip
    print(f"{act}: max |diff| image {errors[0]:.1e}, text {errors[1]:.1e}, logits {errors[2]:.1e}")
    assert max(errors) < TOL


def test_text_pooling_reads_the_end_of_text_position(quick_clip):
    """With eos_token_id set, the pooled state is the first EOT's: changing a later token changes nothing,
    changing an earlier one does (causal mask)."""
    folder = quick_clip
    clip, variables = _ours(folder)
    tokens = _tokens(EOT)
    after, before = tokens.copy(), tokens.copy()
    after[0, 5] = (after[0, 5] + 1) % EOT
    before[0, 3] = (before[0, 3] + 1) % EOT
    text = [np.asarray(clip.apply(variables, jnp.asarray(t), method=Clip.text_features))[0]
            for t in (tokens, after, before)]  # fmt: skip
    np.testing.assert_array_equal(text[0], text[1])
    assert np.abs(text[0] - text[2]).max() > 1e-3


def test_full_size_default_config_has_vit_b32_parameter_count():
    """ClipConfig's defaults are ViT-B/32: 151,277,313 parameters, as transformers' CLIPModel(CLIPConfig())."""
    cfg = ClipConfig()
    shapes = jax.eval_shape(lambda: Clip(cfg).init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)),
                                                   jnp.zeros((1, 77), jnp.int32)))  # fmt: skip
    assert sum(x.size for x in jax.tree.leaves(shapes)) == 151_277_313
    assert clip_load.config_from_hf({"model_type": "clip"}) == cfg  # absent fields take transformers' defaults


def test_loaded_parameters_have_the_structure_and_shapes_of_init(quick_clip):
    folder = quick_clip
    loaded = clip_load.load(folder)
    clip = Clip(loaded.cfg)
    init = jax.eval_shape(lambda: clip.init(jax.random.key(0), PIXELS[:1], jnp.zeros((1, 16), jnp.int32)))
    chex.assert_trees_all_equal_shapes_and_dtypes(init["params"], loaded.params)


RAW_CONFIGS = {
    "defaults": {},
    "sizes and gelu": {"projection_dim": 24,
                       "text_config": {"hidden_size": 32, "hidden_act": "gelu", "eos_token_id": 2},
                       "vision_config": {"image_size": 32, "patch_size": 8, "layer_norm_eps": 1e-6}},
    "legacy text_config_dict overrides text_config": {"text_config": {"hidden_size": 32, "eos_token_id": 2},
                                                      "text_config_dict": {"num_hidden_layers": 3}},
}  # fmt: skip


@pytest.mark.parametrize("case", RAW_CONFIGS)
def test_config_fields_are_read_as_transformers_reads_them(case):
    import transformers  # its config classes need no torch

    raw = {"model_type": "clip", **RAW_CONFIGS[case]}
    ours, want = clip_load.config_from_hf(raw), transformers.CLIPConfig(**raw)
    text, vision = want.text_config, want.vision_config
    assert (ours.text.width, ours.text.layers, ours.text.act, ours.eos_token_id, ours.vocab, ours.context) == (
        text.hidden_size, text.num_hidden_layers, text.hidden_act, text.eos_token_id, text.vocab_size,
        text.max_position_embeddings)  # fmt: skip
    assert (ours.vision.width, ours.vision.eps, ours.image_size, ours.patch, ours.projection) == (
        vision.hidden_size,
        vision.layer_norm_eps,
        vision.image_size,
        vision.patch_size,
        want.projection_dim,
    )


@pytest.mark.slow
@reference_only
def test_full_size_vit_b32_matches_transformers(tmp_path):
    """ViT-B/32 at full size (random init, 224 px, 77 tokens): the 7 x 7 patch grid and 12-layer stacks too.
    Reference-only: runs transformers' model itself (600 MB of weights: too big for tests/fixtures)."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = transformers.CLIPModel(transformers.CLIPConfig()).eval()
    model.save_pretrained(tmp_path)
    cfg = clip_load.config_from_hf(json.loads((tmp_path / "config.json").read_text()))
    params = clip_load.params_from_hf(read_tensors(tmp_path), cfg)
    pixels = np.random.default_rng(0).normal(size=(2, 224, 224, 3)).astype(np.float32)
    tokens = np.random.default_rng(1).integers(0, 49406, size=(2, 77))
    tokens[:, [0, -1]] = 49406, 49407  # SOT ... EOT
    with torch.no_grad():
        want = model(input_ids=torch.tensor(tokens), pixel_values=torch.tensor(pixels.transpose(0, 3, 1, 2)))
    got = Clip(cfg).apply({"params": params}, jnp.asarray(pixels), jnp.asarray(tokens))
    for name in ("image_embeds", "text_embeds", "logits_per_image"):
        diff = float(np.abs(np.asarray(got[name]) - getattr(want, name).numpy()).max())
        print(f"ViT-B/32 {name}: max |diff| {diff:.1e}")
        assert diff < TOL
