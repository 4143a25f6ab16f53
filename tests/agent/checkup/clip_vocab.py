"""The tiny CLIP tokenizer vocabulary and pooling cases shared by the CLIP tests and
scripts/make_test_fixtures.py (a helper module, not a test module)."""

import string

LETTERS = string.ascii_lowercase
MERGES = ["c i", "ci r", "s t", "st a", "sta r</w>", "r e", "re d</w>"]
# Byte-level BPE vocabulary of the tiny tokenizer: letters, word-final letters, merges, then SOT (59), EOT (60).
VOCAB = [*LETTERS, *(c + "</w>" for c in LETTERS), *(m.replace(" ", "") for m in MERGES)]
VOCAB += ["<|startoftext|>", "<|endoftext|>"]
EOT = len(VOCAB) - 1
MODEL_VOCAB = len(VOCAB) + 3  # ids above EOT exist, so "argmax of the ids" and "first EOT" pool differently
# hidden_act -> text_config.eos_token_id: the legacy 2 pools at argmax(ids), EOT pools at the first EOT.
CASES = {"quick_gelu": EOT, "gelu": 2}
