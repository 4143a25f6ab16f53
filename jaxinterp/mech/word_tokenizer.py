"""A word-level Hugging Face tokenizer for a synthetic task, saved so `AutoTokenizer` loads it.

The task's vocabulary is the tokenizer's: word i has id i (`tokenizers` WordLevel model), text is split on
whitespace (WhitespaceSplit pre-tokenizer), unknown words map to `<unk>`, and a template post-processor
puts `<bos>` in front of every encoded text. So `AutoTokenizer.from_pretrained(folder)(text).input_ids`
equals the task's token ids for the prompt whose words (after `<bos>`) are `text`. The folder gets
`tokenizer.json` and a `tokenizer_config.json` / `special_tokens_map.json` naming the special tokens
(transformers 5 reads the first two; older versions also read the map).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

from jaxinterp.mech.tasks.base import BOS, PAD, SPECIAL_TOKENS, UNK

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def build_tokenizer(vocabulary: Sequence[str]) -> Tokenizer:
    """A WordLevel tokenizer over `vocabulary` (special tokens `<pad>`, `<unk>`, `<bos>` must be in it)."""
    missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
    if missing:
        raise ValueError(f"vocabulary lacks the special tokens {missing}")
    ids = {word: i for i, word in enumerate(vocabulary)}
    tokenizer = Tokenizer(models.WordLevel(vocab=ids, unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, ids[BOS])]
    )
    tokenizer.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    return tokenizer


def save_tokenizer(vocabulary: Sequence[str], folder: str | Path) -> list[Path]:
    """Writes the tokenizer of `vocabulary` into `folder` (created if needed); returns the written files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(vocabulary).save(str(folder / TOKENIZER_FILES[0]))
    special = {"bos_token": BOS, "pad_token": PAD, "unk_token": UNK}
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": 1 << 30,
        "add_bos_token": False,  # the post-processor already adds it
        "clean_up_tokenization_spaces": False,
        **special,
    }
    (folder / TOKENIZER_FILES[1]).write_text(json.dumps(config, indent=2) + "\n")
    (folder / TOKENIZER_FILES[2]).write_text(json.dumps(special, indent=2) + "\n")
    return [folder / name for name in TOKENIZER_FILES]
