"""Tiny random Hugging Face CLIP folders (torch CPU) for the CLIP port's parity and loading tests."""

import json
import string

import pytest

LETTERS = string.ascii_lowercase
MERGES = ["c i", "ci r", "s t", "st a", "sta r</w>", "r e", "re d</w>"]
# Byte-level BPE vocabulary of the tiny tokenizer: letters, word-final letters, merges, then SOT (59), EOT (60).
VOCAB = [*LETTERS, *(c + "</w>" for c in LETTERS), *(m.replace(" ", "") for m in MERGES)]
VOCAB += ["<|startoftext|>", "<|endoftext|>"]
EOT = len(VOCAB) - 1
MODEL_VOCAB = len(VOCAB) + 3  # ids above EOT exist, so "argmax of the ids" and "first EOT" pool differently
# hidden_act -> text_config.eos_token_id: the legacy 2 pools at argmax(ids), EOT pools at the first EOT.
CASES = {"quick_gelu": EOT, "gelu": 2}


def tiny_config(transformers, act: str, eos: int):
    text = dict(vocab_size=MODEL_VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=16, hidden_act=act, eos_token_id=eos,
                bos_token_id=EOT - 1, pad_token_id=EOT)  # fmt: skip
    vision = dict(hidden_size=40, intermediate_size=56, num_hidden_layers=2, num_attention_heads=4,
                  image_size=32, patch_size=8, hidden_act=act)  # fmt: skip
    return transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=24)


def write_tokenizer(transformers, folder) -> None:
    """vocab.json + merges.txt of the tiny vocabulary, re-saved by transformers (adds tokenizer.json)."""
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    transformers.CLIPTokenizer.from_pretrained(str(folder)).save_pretrained(folder)


@pytest.fixture(scope="session")
def clip_folders(tmp_path_factory):
    """hidden_act -> (torch CLIPModel with every parameter perturbed off its init, its saved folder); built once."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    built = {}

    def get(act: str):
        if act not in built:
            torch.manual_seed(0)
            model = transformers.CLIPModel(tiny_config(transformers, act, CASES[act])).eval()
            with torch.no_grad():
                for param in model.parameters():
                    param.add_(0.2 * torch.randn_like(param))
            folder = tmp_path_factory.mktemp(f"clip-{act}")
            model.save_pretrained(folder)
            write_tokenizer(transformers, folder)
            processor = getattr(transformers, "CLIPImageProcessorPil", transformers.CLIPImageProcessor)
            processor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
            built[act] = model, folder
        return built[act]

    return get


@pytest.fixture(params=list(CASES))
def tiny_clip(request, clip_folders):
    """(torch model, folder, hidden_act) for each hidden_act / pooling case."""
    return (*clip_folders(request.param), request.param)


@pytest.fixture
def quick_clip(clip_folders):
    """(torch model, folder) of the quick_gelu case only."""
    return clip_folders("quick_gelu")
