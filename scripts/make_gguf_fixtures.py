r"""Regenerates tests/fixtures/gguf/: what transformers (+ torch) reads from GGUF files, for tests/mech/test_gguf.py.

From the repository root, with torch, transformers, gguf and accelerate installed (`pip install -e ".[test,reference]"
accelerate`) and the real file fetched (`bash scripts/fetch_smollm2.sh`):

    python scripts/make_gguf_fixtures.py            # tiny files + the real model
    python scripts/make_gguf_fixtures.py --tiny     # only the tiny files (no real file needed)
    python -m pytest -n 0 -q tests/mech/test_gguf.py

Writes:
- `tiny_llama_gqa_q8_0.gguf`, `tiny_qwen2_bias_f32.gguf`: 2-layer random models written by
  `jaxinterp.gguf.write_gguf` (llama: 4 query / 2 KV heads, Q/K rows permuted as llama.cpp does, weights Q8_0;
  qwen2: q/k/v biases, F32) with a 262-token byte-level BPE vocabulary; the weights, vocabulary and texts
  come from tests/mech/test_gguf.py (`TINY`, `tiny_*`), so the test and this script cannot drift apart;
- `tiny.npz`: per file, the input ids and transformers' float32 logits of (a) its own GGUF load
  (`from_pretrained(dir, gguf_file=...)`) and (b) the HF folder `convert_gguf` wrote; and the ids of
  transformers' GGUF tokenizer for `TINY_TEXTS`;
- `smollm2_logits.npz`: SmolLM2-135M-Instruct (Q4_1): the token ids of `PROMPTS` and the last position's
  float32 logits of transformers' GGUF load (3 x 49152 floats, ~0.6 MB);
- `smollm2_tokens.json`: `TEXTS` (100 strings: unicode, digits, whitespace, code, special tokens) and the ids
  of transformers' GGUF tokenizer (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`);
- `VERSIONS.json`: the versions that made them.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from jaxinterp.gguf import write_gguf  # noqa: E402
from jaxinterp.mech.models.convert import convert_gguf  # noqa: E402
from tests.mech.test_gguf import TINY, TINY_TEXTS, tiny_config, tiny_tensors, tiny_tokenizer  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "gguf"
SMOLLM2 = Path(os.environ.get("JAXINTERP_SMOLLM2_GGUF", "~/.cache/jaxinterp/SmolLM2-135M-Instruct.Q4_1.gguf"))

PROMPTS = [
    "The capital of France is",
    "When Mary and John went to the store, John gave a drink to",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
]

_BASE_TEXTS = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\n\n\n",
    "\r\n",
    "Hello world",
    " Hello world",
    "Hello  world",
    "hello\tworld\n",
    "The quick brown fox jumps over the lazy dog.",
    "THE QUICK BROWN FOX",
    "0",
    "42",
    "12345",
    "3.14159265358979",
    "1,000,000 and 1 000 000",
    "2026-12-06T14:13:40Z",
    "-17 + 4 = -13",
    "phone: +44 (0)20 7946 0958",
    "0x1F 0b1011 0o17 1e-9",
    "Ünïcödé tëxt wïth dïäcrïtïcs",
    "naïve café résumé",
    "日本語のテキスト",
    "中文文本测试",
    "한국어 텍스트",
    "Русский текст",
    "Ελληνικά",
    "العربية",
    "עברית",
    "हिन्दी पाठ",
    "emoji 🤖🚀🎉👍🏽",
    "👨‍👩‍👧‍👦 family",
    "math ∑∫√∞ ≤ ≥ ≠ ± × ÷",
    "arrows → ← ↑ ↓ ⇒",
    "zero\u200bwidth",
    "non\u00a0breaking",
    "def f(x):\n    return x ** 2\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "import numpy as np\nprint(np.arange(10))",
    '<div class="a">text</div>',
    '{"key": [1, 2, 3], "nested": {"a": null}}',
    "SELECT * FROM users WHERE id = 7;",
    "$ ls -la ~/.cache | grep jax",
    "    indented with spaces",
    "\t\tindented with tabs",
    "trailing spaces   ",
    "line one\nline two\r\nline three",
    "a" * 40,
    "ab" * 20,
    "!!!???...,,,;;;",
    "\"quoted\" 'single' `backtick`",
    "it's don't we'll they've I'm",
    "CamelCaseIdentifier snake_case_identifier kebab-case",
    "https://example.com/path?query=1&x=y#frag",
    "user@example.com",
    "#hashtag @mention",
    "<|im_start|>",
    "<|im_end|>",
    "<|endoftext|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>",
    "text<|im_end|>more text",
    "The ring is in Box Z, and the lamp is in Box D. Box D contains the",
    "When Mary and John went to the store, John gave a drink to",
    "Ça va? Très bien, merci!",
    "¿Qué tal? ¡Muy bien!",
    "Straße, Größe, Fuß",
    "ﬁ ligature ﬂ",
    "full-width ＡＢＣ１２３",
    "Tab\tseparated\tvalues\t1\t2",
    "mixed 123abc456def",
    "version 1.2.3-beta+build.45",
    "π ≈ 3.14, e ≈ 2.718",
    "£100 €200 ¥300 $400",
    "°C °F µs Ω",
    "x" + " " * 10 + "y",
    "end.",
]


def texts() -> list[str]:
    """100 strings: the hand-written ones above, then pairs of them joined by varied separators."""
    out = list(_BASE_TEXTS)
    separators = [" ", "\n", "  ", "\t", "", ". ", " 7 "]
    i = 0
    while len(out) < 100:
        a, b = _BASE_TEXTS[(7 * i + 3) % len(_BASE_TEXTS)], _BASE_TEXTS[(11 * i + 5) % len(_BASE_TEXTS)]
        out.append(a + separators[i % len(separators)] + b)
        i += 1
    return out


TEXTS = texts()


@torch.no_grad()
def logits_of(model, ids: np.ndarray) -> np.ndarray:
    return model(torch.from_numpy(ids)).logits.float().numpy()


def make_tiny() -> None:
    arrays = {}
    ids = np.random.default_rng(7).integers(0, 262, size=(2, 9))
    for name, (model_type, qtype, seed) in TINY.items():
        config = tiny_config(model_type)
        write_gguf(OUT / name, config, tiny_tensors(config, seed), tiny_tokenizer(), qtype)
        model = AutoModelForCausalLM.from_pretrained(OUT, gguf_file=name, dtype=torch.float32).eval()
        key = name.removesuffix(".gguf")
        arrays[f"{key}/ids"] = ids
        arrays[f"{key}/gguf_logits"] = logits_of(model, ids)
        with tempfile.TemporaryDirectory() as tmp:
            convert_gguf(OUT / name, tmp)
            converted = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
            arrays[f"{key}/converted_logits"] = logits_of(converted, ids)
            converted_tok = AutoTokenizer.from_pretrained(tmp)
        tokenizer = AutoTokenizer.from_pretrained(OUT, gguf_file=name)
        for i, text in enumerate(TINY_TEXTS):
            arrays[f"{key}/text_{i}"] = np.asarray(tokenizer(text)["input_ids"], dtype=np.int64)
            assert converted_tok(text)["input_ids"] == tokenizer(text)["input_ids"], text
        print(
            name,
            "transformers GGUF vs converted folder:",
            np.abs(arrays[f"{key}/gguf_logits"] - arrays[f"{key}/converted_logits"]).max(),
        )
    np.savez(OUT / "tiny.npz", **arrays)


def make_smollm2() -> None:
    path = SMOLLM2.expanduser()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    records = [{"text": text, "ids": tokenizer(text)["input_ids"]} for text in TEXTS]
    lines = ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)  # one string a line
    (OUT / "smollm2_tokens.json").write_text(f"[\n{lines}\n]\n")
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    arrays = {}
    for i, prompt in enumerate(PROMPTS):
        ids = np.asarray([tokenizer(prompt)["input_ids"]])
        arrays[f"ids_{i}"] = ids
        arrays[f"logits_{i}"] = logits_of(model, ids)[0, -1].astype(np.float32)
    np.savez(OUT / "smollm2_logits.npz", **arrays)
    with tempfile.TemporaryDirectory() as tmp:  # transformers reads the folder convert_gguf writes
        convert_gguf(path, tmp)
        converted = AutoModelForCausalLM.from_pretrained(tmp, dtype=torch.float32).eval()
        for i in range(len(PROMPTS)):
            diff = np.abs(logits_of(converted, arrays[f"ids_{i}"])[0, -1] - arrays[f"logits_{i}"]).max()
            print(f"SmolLM2 prompt {i}: transformers on the converted folder vs its GGUF load: {diff:.2e}")
            assert diff < 1e-4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="only the tiny files (the real GGUF is not needed)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    make_tiny()
    if not args.tiny:
        make_smollm2()
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__}
    versions["gguf"] = importlib.metadata.version("gguf")
    (OUT / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n")


if __name__ == "__main__":
    main()
