"""Loading a local HF CLIP folder: preprocessing and tokenising as transformers does, the CLIP recogniser's
scores against transformers' logits (stored in tests/fixtures/clip.npz), and the errors a user can make
(InputError, CLI exit 2)."""

import json
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from jaxinterp.agent.checkup import clip_load, recognise
from jaxinterp.agent.checkup.clip_image import ImageSettings, preprocess
from jaxinterp.agent.checkup.recognise import ClipStyleRecogniser
from jaxinterp.cli import main
from jaxinterp.errors import InputError

CAPTIONS = ("red star", "circle", "a star", "square")  # the fixture's captions
IMAGES = [np.random.default_rng(k).integers(0, 256, size=shape, dtype=np.uint8)
          for k, shape in enumerate([(45, 37, 3), (30, 50, 3), (32, 32, 3), (20, 20, 3)])]  # fmt: skip


def test_fixture_inputs_are_this_files_inputs(clip_reference):
    assert tuple(clip_reference["captions"]) == CAPTIONS
    for k, image in enumerate(IMAGES):
        np.testing.assert_array_equal(clip_reference[f"image_{k}"], image)


def test_preprocessing_matches_transformers_clip_image_processor(quick_clip, clip_reference):
    folder = quick_clip
    settings = ImageSettings.from_folder(folder, image_size=32)
    assert settings == ImageSettings(size=32, crop=32)
    for k, image in enumerate(IMAGES):  # taller, wider, exact size, upsampled
        want = clip_reference[f"preprocessed_{k}"]  # transformers' CLIPImageProcessor(Pil), NHWC
        np.testing.assert_allclose(preprocess(image[None], settings), want, atol=1e-5)


def test_tokenizer_pads_to_the_context_with_end_of_text(quick_clip):
    folder = quick_clip
    clip = clip_load.load(folder)
    ids = clip.tokenize(["red star", "circle"])
    assert ids.shape == (2, 16)
    np.testing.assert_array_equal(ids[0, :4], [59, 58, 56, 60])  # SOT, "red</w>", "star</w>", EOT
    assert (ids[0, 4:] == 60).all()  # padded with EOT, so the first EOT is the text's end


def test_clip_recogniser_scores_are_transformers_logits_over_logit_scale(tiny_clip, clip_reference):
    folder, act = tiny_clip
    rec = ClipStyleRecogniser.from_folder(folder, CAPTIONS)
    assert isinstance(rec, recognise.Recogniser) and rec.name == f"clip:{folder.name}"
    images = np.stack([im[:20, :20] for im in IMAGES])
    # transformers' CLIPModel on its tokenizer's and image processor's inputs: logits_per_image / logit_scale.
    want, want_embeds = clip_reference[f"scores_{act}"], clip_reference[f"image_embeds_{act}"]
    scores, embedding = rec.scores(images), rec.embed(images)
    print(f"{act}: max |cosine diff| {np.abs(scores - want).max():.1e}")
    np.testing.assert_allclose(scores, want, atol=1e-5)
    np.testing.assert_array_equal(scores.argmax(1), want.argmax(1))  # the same caption ranked first
    np.testing.assert_allclose(embedding, want_embeds, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-6)


def test_template_wraps_each_caption_before_embedding(quick_clip):
    folder = quick_clip
    images = np.stack([im[:20, :20] for im in IMAGES])
    wrapped = ClipStyleRecogniser.from_folder(folder, ("star", "circle"), template="a {}")
    written = ClipStyleRecogniser.from_folder(folder, ("a star", "a circle"))
    assert wrapped.captions == ("star", "circle")  # what fidelity matches concepts against
    np.testing.assert_allclose(wrapped.scores(images), written.scores(images), atol=1e-6)
    plain = ClipStyleRecogniser.from_folder(folder, ("star", "circle"))
    assert np.abs(wrapped.scores(images) - plain.scores(images)).max() > 1e-4


def _broken(folder, tmp_path, how: str):
    """A copy of a good CLIP folder with one thing wrong."""
    bad = tmp_path / "clip"
    shutil.copytree(folder, bad)
    if how == "no folder":
        return tmp_path / "nowhere"
    if how == "no config":
        (bad / "config.json").unlink()
    elif how == "wrong model_type":
        config = json.loads((bad / "config.json").read_text())
        (bad / "config.json").write_text(json.dumps(config | {"model_type": "siglip"}))
    elif how == "eos mismatch":
        config = json.loads((bad / "config.json").read_text())
        config["text_config"]["eos_token_id"] = 5
        (bad / "config.json").write_text(json.dumps(config))
    elif how == "no tokenizer":
        for name in ("tokenizer.json", "vocab.json", "merges.txt"):
            (bad / name).unlink(missing_ok=True)
    elif how == "missing tensor":
        tensors = load_file(bad / "model.safetensors")
        del tensors["text_model.encoder.layers.1.mlp.fc2.bias"]
        save_file(tensors, bad / "model.safetensors", metadata={"format": "pt"})
    return bad


ERRORS = {"no folder": "nowhere", "no config": "config.json", "wrong model_type": "siglip",
          "no tokenizer": "tokenizer", "eos mismatch": "eos_token_id 5",
          "missing tensor": "layers.1.mlp.fc2.bias"}  # fmt: skip


@pytest.mark.parametrize("how", ERRORS)
def test_a_broken_folder_is_one_clear_line_and_exit_2(quick_clip, tmp_path, capsys, how):
    bad = _broken(quick_clip, tmp_path, how)
    with pytest.raises(InputError, match=ERRORS[how]):
        clip_load.load(bad)
    args = ["checkup", "generate", "--out", str(tmp_path / "out"), "--groups", "shapes", "--concepts", "circle"]
    assert main([*args, "--clip", str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("jaxinterp: error:") and ERRORS[how] in err and "\n" not in err
    assert not (tmp_path / "out" / "drawings").exists()  # refused before drawing anything


def test_generate_with_clip_scores_every_group(quick_clip, tmp_path, capsys):
    folder = quick_clip
    args = ["checkup", "generate", "--out", str(tmp_path), "--groups", "shapes,objects", "--concepts", "circle,car"]
    assert main([*args, "--samples", "2", "--clip", str(folder), "--quiet"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["measures"]) == {"shapes", "objects"}
    for measured in summary["measures"].values():
        assert measured["recogniser"] == f"clip:{folder.name}"
        assert 0.0 <= measured["fidelity"]["percentile"] <= 1.0 and measured["diversity"] is not None
    assert "objects fidelity top-1" in capsys.readouterr().out
