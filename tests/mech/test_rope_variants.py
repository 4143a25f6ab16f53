"""RoPE scaling variants (linear, dynamic NTK, llama3, yarn): logit parity with transformers on tiny random
LLaMA-like models over sequences longer than their original context, transformers' inverse frequencies at
real checkpoints' sizes, both config forms, errors. References: tests/fixtures/rope/, written by
scripts/make_rope_fixtures.py (transformers 5.25)."""

import dataclasses
import json

import chex
import jax.numpy as jnp
import numpy as np
import pytest
from penzai import pz
from penzai.models.transformer import sampling_mode

from jaxinterp.errors import InputError
from jaxinterp.hf import RopeSettings, read_config, rope_settings
from jaxinterp.mech.models import rope as rope_lib
from jaxinterp.mech.models.load import load_pretrained
from tests import fixtures

VARIANTS = ("linear", "dynamic", "llama3", "yarn", "yarn_options")
TOL = 1e-4  # max |logit diff|, float32; logits reach about 7
REF = fixtures.reference("rope/reference")
TOKENS = REF["tokens"]  # 2 x 48: past every model's original context (16 or 32 tokens)
FREQUENCY_CASES = sorted({key.split("|")[1] for key in REF if key.startswith("freq|")})


def _tag(tokens: np.ndarray) -> pz.nx.NamedArray:
    return pz.nx.wrap(jnp.asarray(tokens)).tag("batch", "seq")


def _logits(model, tokens: np.ndarray) -> np.ndarray:
    logits = model(_tag(tokens)).unwrap("batch", "seq", "vocabulary")
    chex.assert_shape(logits, (*tokens.shape, 128))
    return np.asarray(logits, dtype=np.float32)


def _want(variant: str) -> dict[str, np.ndarray]:
    with np.load(fixtures.folder(f"rope/{variant}") / "logits.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def models():
    return {variant: load_pretrained(fixtures.folder(f"rope/{variant}")) for variant in VARIANTS}


def _plain_rope(model):
    """The same model with penzai's plain RoPE in place of the scaled one."""
    return (
        pz.select(model)
        .at_instances_of(rope_lib.ApplyScaledRoPE)
        .apply(
            lambda r: pz.nn.ApplyRoPE(
                embedding_axis=r.embedding_axis,
                max_wavelength=r.rope.theta,
                positions_input_name=r.positions_input_name,
            )
        )
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_scaled_rope_logits_match_transformers(variant, models):
    model, want = models[variant], _want(variant)["logits"]
    assert rope_settings(read_config(fixtures.folder(f"rope/{variant}"))).rope_type == variant.split("_")[0]
    assert pz.select(model).at_instances_of(pz.nn.ApplyRoPE).count() == 0
    assert pz.select(model).at_instances_of(rope_lib.ApplyScaledRoPE).count() == 4  # q and k of 2 blocks
    diff = float(np.abs(_logits(model, TOKENS) - want).max())
    print(f"{variant}: max |logit diff| = {diff:.2e}")  # shown with pytest -s
    assert diff < TOL
    # The test can fail: plain RoPE on the same weights is far off.
    assert np.abs(_logits(_plain_rope(model), TOKENS) - want).max() > 100 * TOL


def test_dynamic_kv_cached_decoding_matches_transformers_cache(models):
    """Penzai's KV-caching sampler: a 12-token prefill (within the original context of 16: plain RoPE), then 12
    single-token steps across it. Each step matches transformers' cached decoding (its frequencies grow with
    the position; keys in the cache keep theirs) and differs from an uncached forward over the same tokens."""
    want = _want("dynamic")
    sampler = sampling_mode.KVCachingTransformerLM.from_uncached(
        models["dynamic"], cache_len=24, batch_axes={"batch": 2}
    )
    call = pz.variable_jit(lambda model, tokens: model(tokens))
    prefill = call(sampler, _tag(TOKENS[:, :12])).unwrap("batch", "seq", "vocabulary")
    assert np.abs(prefill - want["short"]).max() < TOL
    steps = [
        call(sampler, _tag(TOKENS[:, t : t + 1])).unwrap("batch", "seq", "vocabulary")[:, 0] for t in range(12, 24)
    ]
    assert np.abs(np.stack(steps, axis=1) - want["cached"]).max() < TOL
    uncached = _logits(models["dynamic"], TOKENS[:, :24])[:, 12:]
    assert np.abs(uncached - want["cached"]).max() > 100 * TOL


@pytest.mark.parametrize("case", FREQUENCY_CASES)
def test_inverse_frequencies_match_transformers(case):
    config = json.loads(str(REF[f"freq|{case}|config"]))
    rope = rope_settings(config)
    dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    if rope.rope_type == "dynamic":
        got = np.asarray(rope_lib.dynamic_inverse_frequencies(rope, dim, jnp.int32(REF[f"freq|{case}|seq_len"])))
    else:
        got = rope_lib.inverse_frequencies(rope, dim)
    chex.assert_shape(got, (dim // 2,))
    np.testing.assert_allclose(got, REF[f"freq|{case}|inv_freq"], rtol=2e-6)
    assert rope_lib.attention_factor(rope) == pytest.approx(float(REF[f"freq|{case}|attention_factor"]), rel=1e-12)


def test_known_frequency_cases_cover_each_branch():
    """The stored cases exercise what they are named for (a renamed or emptied case would pass vacuously)."""
    settings = {case: rope_settings(json.loads(str(REF[f"freq|{case}|config"]))) for case in FREQUENCY_CASES}
    assert {s.rope_type for s in settings.values()} == {"linear", "dynamic", "llama3", "yarn"}
    assert settings["yarn_null_factor"].factor == 4.0  # 8192 / 2048
    assert settings["yarn_top_level_original"].original_max_position_embeddings == 1024
    assert settings["llama3_original_from_max"].original_max_position_embeddings == 2048
    assert settings["yarn_betas_no_truncate"].truncate is False
    dynamic = {case: REF[f"freq|{case}|inv_freq"] for case in FREQUENCY_CASES if case.startswith("dynamic_")}
    assert np.array_equal(dynamic["dynamic_1000"], dynamic["dynamic_2048"])  # within the context: plain RoPE
    rope = settings["dynamic_1000"]
    within = rope_lib.dynamic_inverse_frequencies(rope, 128, jnp.int32(2048))
    np.testing.assert_allclose(within, rope_lib.inverse_frequencies(RopeSettings(theta=rope.theta), 128), rtol=1e-6)
    assert dynamic["dynamic_20000"][-1] < dynamic["dynamic_2049"][-1] < dynamic["dynamic_2048"][-1]


def _to_v4(config: dict) -> dict:
    """The transformers-4.x form of a 5.x config: top-level rope_theta, rope_scaling with the old "type" key."""
    config = dict(config)
    scaling = dict(config.pop("rope_parameters"))
    config["rope_theta"] = scaling.pop("rope_theta")
    config["rope_scaling"] = {"type": scaling.pop("rope_type"), **scaling}
    return config


@pytest.mark.parametrize("variant", VARIANTS)
def test_v4_and_v5_config_forms_give_same_settings(variant):
    config = read_config(fixtures.folder(f"rope/{variant}"))
    v4 = _to_v4(config)
    assert "rope_parameters" not in v4 and "rope_type" not in v4["rope_scaling"]
    settings = rope_settings(config)
    assert rope_settings(v4) == settings
    assert settings != RopeSettings(theta=settings.theta)


def test_default_rope_keeps_penzais_layer():
    model = load_pretrained(fixtures.folder("hf_llama_gqa"))
    assert pz.select(model).at_instances_of(rope_lib.ApplyScaledRoPE).count() == 0
    assert pz.select(model).at_instances_of(pz.nn.ApplyRoPE).count() == 4
    assert rope_lib.with_scaled_rope(model, rope_settings(read_config(fixtures.folder("hf_llama_gqa")))) is model


def _copy_with(tmp_path, name: str, edit):
    folder = fixtures.copy_folder(name, tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_unknown_rope_type_raises_input_error_naming_it(tmp_path):
    folder = _copy_with(tmp_path, "rope/llama3", lambda c: c["rope_parameters"].update(rope_type="longrope"))
    with pytest.raises(InputError, match=r"rope_parameters\.rope_type = 'longrope' is not supported"):
        load_pretrained(folder)
    with pytest.raises(InputError, match=r"rope_scaling\.rope_type = 'longrope' is not supported"):
        rope_settings(_to_v4(read_config(folder)))


def test_missing_rope_field_raises_input_error_naming_it(tmp_path):
    folder = _copy_with(tmp_path, "rope/llama3", lambda c: c["rope_parameters"].pop("low_freq_factor"))
    with pytest.raises(InputError, match=r"rope_type = 'llama3' needs a number in rope_parameters\.low_freq_factor"):
        load_pretrained(folder)
    config = {"rope_scaling": {"type": "linear", "factor": "two"}}
    with pytest.raises(InputError, match=r"rope_scaling\.factor = 'two' is not a number"):
        rope_settings(config)


def test_scaling_on_gpt_neox_raises_input_error(tmp_path):
    def edit(config):
        config["rope_parameters"].update(rope_type="linear", factor=2.0)

    with pytest.raises(InputError, match=r"rope_type = 'linear' is not supported for gpt_neox"):
        load_pretrained(_copy_with(tmp_path, "hf_gpt_neox_parallel", edit))


def test_yarn_attention_factor_scales_cos_and_sin():
    """With the ramp pinned to plain RoPE (factor 1 interpolates nothing), yarn's output is plain RoPE's times
    the attention factor."""
    rope = RopeSettings(
        theta=100.0, rope_type="yarn", factor=1.0, original_max_position_embeddings=16, beta_fast=32.0,
        beta_slow=1.0, attention_factor=1.5, truncate=True,
    )  # fmt: skip
    x = pz.nx.wrap(np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)).tag("seq", "projection")
    positions = pz.nx.arange("seq", 5)
    scaled = rope_lib.ApplyScaledRoPE("projection", "token_positions", rope)(x, token_positions=positions)
    plain = pz.nn.ApplyRoPE("projection", 100.0, "token_positions")(x, token_positions=positions)
    np.testing.assert_allclose(
        scaled.unwrap("seq", "projection"), 1.5 * plain.unwrap("seq", "projection"), rtol=1e-5, atol=1e-6
    )
    assert rope_lib.attention_factor(dataclasses.replace(rope, attention_factor=None)) == 1.0
