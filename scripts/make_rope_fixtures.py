r"""Writes tests/fixtures/rope/: transformers' reference for the RoPE scaling variants (linear, dynamic, llama3, yarn).

The test (`tests/mech/test_rope_variants.py`) needs no torch; this script does. From the repository root:

    pip install -e ".[test,reference]"
    python scripts/make_rope_fixtures.py
    python -m pytest -q -n 0 tests/mech/test_rope_variants.py

It writes, under tests/fixtures/rope/:
- `<variant>/` for each of `MODELS`: a tiny random LLaMA-like checkpoint saved by transformers
  (config.json + model.safetensors) and `logits.npz`, transformers' float32 logits on `reference.npz`'s
  tokens (`logits`); for "dynamic" also the logits of the first 12 tokens alone (`short`, within the
  original context) and of KV-cached decoding (`cached`: a 12-token prefill, then tokens 12..23 one at a time
  with the cache, crossing the original context at position 16). Weights are stored in float16 (each folder
  about 170 kB); the logits come from the float32 model holding exactly those rounded weights.
- `reference.npz`: the input `tokens` (2 x 48, longer than every model's original context) and
  `freq|<case>|...`: transformers' inverse frequencies and attention factor (`ROPE_INIT_FUNCTIONS`) for the
  raw config dicts of `FREQUENCY_CASES`, at the sizes of real checkpoints.
- `VERSIONS.json`: the versions that made them.

Every parameter (norm scales included) is moved off its init value by 0.2 * N(0, 1), seeded, so attention is
sharp enough for the RoPE variant to change the logits by far more than the test's tolerance.
"""

from __future__ import annotations

import copy
import datetime
import json
import platform
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "rope"

VOCAB = 128
SIZES = dict(hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             vocab_size=VOCAB, tie_word_embeddings=True)  # fmt: skip
# Variant -> (config class, max_position_embeddings, rope_parameters). Head size 16: 8 rotated pairs.
MODELS = {
    "linear": (transformers.LlamaConfig, 64, {"rope_type": "linear", "factor": 2.0, "rope_theta": 10_000.0}),
    "dynamic": (transformers.LlamaConfig, 16, {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10_000.0}),
    # Original context 32: wavelengths above 32 are divided by 8, below 8 kept, pair 1 (19.9) is blended.
    "llama3": (
        transformers.LlamaConfig,
        128,
        {
            "rope_type": "llama3",
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
            "rope_theta": 10_000.0,
        },
    ),  # fmt: skip
    # Qwen2 (q/k/v biases) with YaRN as Qwen2.5 publishes it: factor and original context only.
    "yarn": (
        transformers.Qwen2Config,
        64,
        {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 10_000.0},
    ),
    # Every YaRN option: betas, mscale / mscale_all_dim (attention factor from their ratio), no truncation.
    "yarn_options": (
        transformers.LlamaConfig,
        64,
        {
            "rope_type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 16,
            "rope_theta": 10_000.0,
            "beta_fast": 8.0,
            "beta_slow": 2.0,
            "mscale": 1.0,
            "mscale_all_dim": 0.5,
            "truncate": False,
        },
    ),  # fmt: skip
}
TOKENS = np.random.default_rng(0).integers(1, VOCAB, size=(2, 48))  # no 0: penzai's sampler pads with 0
SHORT, PREFILL, STEPS = 12, 12, 12

_BIG = dict(model_type="llama", num_hidden_layers=1, intermediate_size=8, vocab_size=8)
# Case -> (raw config.json dict as checkpoints publish it, sequence length for dynamic or None).
FREQUENCY_CASES = {
    "linear_v4": (
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 4096,
         "rope_theta": 500_000.0, "rope_scaling": {"type": "linear", "factor": 2.5}},
        None,
    ),
    **{
        f"dynamic_{n}": (
            {**_BIG, "hidden_size": 512, "num_attention_heads": 4, "max_position_embeddings": 2048,
             "rope_parameters": {"rope_type": "dynamic", "factor": 4.0, "rope_theta": 10_000.0}},
            n,
        )
        for n in (1000, 2048, 2049, 3000, 20_000)
    },
    "llama3_8b": (  # Llama 3.1 8B
        {**_BIG, "hidden_size": 512, "num_attention_heads": 4, "max_position_embeddings": 131_072,
         "rope_parameters": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192, "rope_theta": 500_000.0}},
        None,
    ),
    "llama3_1b_v4": (  # Llama 3.2 1B, transformers 4.x form
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 131_072,
         "rope_theta": 500_000.0,
         "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                          "original_max_position_embeddings": 8192}},
        None,
    ),
    "llama3_original_from_max": (  # no original_max_position_embeddings: transformers takes the context
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 2048,
         "rope_parameters": {"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "rope_theta": 10_000.0}},
        None,
    ),
    "yarn_qwen25_v4": (  # Qwen2.5-7B-Instruct's long-context recipe
        {**_BIG, "hidden_size": 512, "num_attention_heads": 4, "max_position_embeddings": 32_768,
         "rope_theta": 1_000_000.0,
         "rope_scaling": {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32_768}},
        None,
    ),
    "yarn_betas_no_truncate": (
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 32_768,
         "rope_parameters": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 4096,
                             "beta_fast": 16.0, "beta_slow": 2.0, "truncate": False, "rope_theta": 10_000.0}},
        None,
    ),
    "yarn_mscale": (
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 163_840,
         "rope_parameters": {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                             "mscale": 0.707, "mscale_all_dim": 1.0, "rope_theta": 10_000.0}},
        None,
    ),
    "yarn_attention_factor": (
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 8192,
         "rope_parameters": {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 4096,
                             "attention_factor": 1.25, "rope_theta": 10_000.0}},
        None,
    ),
    "yarn_null_factor": (  # factor null: max_position_embeddings / original_max_position_embeddings
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 8192,
         "rope_parameters": {"rope_type": "yarn", "factor": None, "original_max_position_embeddings": 2048,
                             "rope_theta": 10_000.0}},
        None,
    ),
    "yarn_top_level_original": (  # a top-level original_max_position_embeddings wins over the RoPE dict's
        {**_BIG, "hidden_size": 256, "num_attention_heads": 4, "max_position_embeddings": 8192,
         "original_max_position_embeddings": 1024,
         "rope_parameters": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 4096,
                             "rope_theta": 10_000.0}},
        None,
    ),
}  # fmt: skip


def _model(variant: str) -> transformers.PreTrainedModel:
    """A fresh float32 model (fresh RoPE state) with weights already rounded to float16."""
    config_class, max_positions, rope = MODELS[variant]
    config = config_class(**SIZES, max_position_embeddings=max_positions, rope_parameters=dict(rope))
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn_like(param))
            param.copy_(param.half().float())
    return model.eval()


def _logits(model, tokens: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor(tokens)).logits.float().numpy()


def _cached_logits(model, tokens: np.ndarray) -> np.ndarray:
    """Logits of tokens PREFILL..PREFILL+STEPS-1, each fed alone after a cached prefill of the first PREFILL."""
    ids = torch.tensor(tokens)
    steps = []
    with torch.no_grad():
        out = model(ids[:, :PREFILL], use_cache=True)
        cache = out.cache
        for t in range(PREFILL, PREFILL + STEPS):
            out = model(ids[:, t : t + 1], cache=cache, use_cache=True)
            cache = out.cache
            steps.append(out.logits[:, -1].float().numpy())
    return np.stack(steps, axis=1)


def _frequencies(config: dict, seq_len: int | None) -> tuple[np.ndarray, float]:
    hf_config = transformers.LlamaConfig.from_dict(copy.deepcopy(config))
    rope_type = hf_config.rope_parameters["rope_type"]
    inv_freq, factor = ROPE_INIT_FUNCTIONS[rope_type](hf_config, seq_len=seq_len)
    return inv_freq.float().numpy(), float(factor)


def main() -> int:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    ref: dict[str, np.ndarray] = {"tokens": TOKENS}
    for variant in MODELS:
        model = _model(variant)
        folder = OUT / variant
        copy.deepcopy(model).half().save_pretrained(folder)  # a copy: `.half()` would round the RoPE buffers too
        logits = {"logits": _logits(model, TOKENS)}
        if variant == "dynamic":  # fresh models: transformers' dynamic RoPE keeps state between calls
            logits["short"] = _logits(_model(variant), TOKENS[:, :SHORT])
            logits["cached"] = _cached_logits(_model(variant), TOKENS)
        np.savez(folder / "logits.npz", **logits)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 1e3
        print(f"  {variant}: {size:.0f} kB, logits max |.| {np.abs(logits['logits']).max():.2f}")
    for case, (config, seq_len) in FREQUENCY_CASES.items():
        inv_freq, factor = _frequencies(config, seq_len)
        ref[f"freq|{case}|config"] = np.array(json.dumps(config))
        ref[f"freq|{case}|seq_len"] = np.array(-1 if seq_len is None else seq_len)
        ref[f"freq|{case}|inv_freq"] = inv_freq
        ref[f"freq|{case}|attention_factor"] = np.array(factor)
    np.savez(OUT / "reference.npz", **ref)
    print(f"  reference.npz: {len(ref)} arrays, {(OUT / 'reference.npz').stat().st_size / 1e3:.0f} kB")
    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "written": datetime.date.today().isoformat(),
        "command": "python scripts/make_rope_fixtures.py",
    }
    (OUT / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
