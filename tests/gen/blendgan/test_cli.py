"""`jaxinterp blendgan ...` end to end on one tiny model: training signal, identity conditioning,
morph / meld / fuse outputs, and exit code 2 for bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from jaxinterp.cli import main
from jaxinterp.data.images import load_rgb
from jaxinterp.gen.blendgan import store


@pytest.fixture(scope="module")
def model(model_dir):
    return store.load_trained(model_dir)


def _mse(a, b):
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


def test_training_losses_decrease_at_every_scale(model_dir, model):
    rows = [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()]
    assert model.geometry.num_scales == 2 and len(rows) == 2 * 4  # 40 iterations per scale, rows of 10
    for scale in range(2):
        rec = [r["rec_loss"] for r in rows if r["scale"] == scale]
        assert rec[-1] < 0.6 * rec[0], rec
        assert all(np.isfinite(r["d_loss"]) and np.isfinite(r["gp"]) for r in rows)


def test_each_identity_reconstructs_its_own_image(model_dir, model):
    reals = model.reals[-1]
    assert reals.shape == (2, 24, 36, 3)
    for k in range(2):
        rec = load_rgb(model_dir / "samples" / f"reconstruction_{k}.png")
        assert rec.shape == (24, 36, 3)
        assert _mse(rec, reals[k]) < 0.5 * _mse(rec, reals[1 - k])
        assert load_rgb(model_dir / "samples" / f"random_{k}.png").shape == (24, 36, 3)


def test_morph_goes_from_one_reconstruction_to_the_other(model_dir, tmp_path):
    assert main(["blendgan", "morph", "--model", str(model_dir), "--frames", "5", "--out", str(tmp_path)]) == 0
    frames = [load_rgb(tmp_path / f"frame_{t:03d}.png") for t in range(5)]
    recs = [load_rgb(model_dir / "samples" / f"reconstruction_{k}.png") for k in range(2)]
    np.testing.assert_allclose(frames[0], recs[0], atol=2.5 / 255)
    np.testing.assert_allclose(frames[-1], recs[1], atol=2.5 / 255)
    to_last = [_mse(f, recs[1]) for f in frames]
    assert to_last[0] > to_last[2] > to_last[-1]
    assert load_rgb(tmp_path / "contact_sheet.png").shape == (24, 5 * 36, 3)
    assert (tmp_path / "morph_0_to_1.gif").is_file()


def test_meld_follows_the_mask(model_dir, tmp_path):
    mask = np.zeros((48, 72), np.uint8)
    mask[:, 36:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    args = ["blendgan", "meld", "--model", str(model_dir), "--mask", str(tmp_path / "mask.png"), "--softness", "0"]
    assert main([*args, "--out", str(tmp_path / "meld")]) == 0
    meld = load_rgb(tmp_path / "meld" / "meld_0_1.png")
    recs = [load_rgb(model_dir / "samples" / f"reconstruction_{k}.png") for k in range(2)]
    left, right = np.s_[:, :12], np.s_[:, -12:]
    assert _mse(meld[left], recs[0][left]) < _mse(meld[left], recs[1][left])
    assert _mse(meld[right], recs[1][right]) < _mse(meld[right], recs[0][right])
    identity = load_rgb(tmp_path / "meld" / "identity_map.png")
    assert identity[0, 0, 0] == -1.0 and identity[0, -1, 0] == 1.0
    split = ["blendgan", "meld", "--model", str(model_dir), "--split", "circle", "--random", "--out", str(tmp_path)]
    assert main(split) == 0 and load_rgb(tmp_path / "meld_0_1.png").shape == (24, 36, 3)


def test_fuse_writes_an_image_and_same_identity_is_the_reconstruction(model_dir, tmp_path):
    base = ["blendgan", "fuse", "--model", str(model_dir), "--switch-scale", "1", "--out", str(tmp_path)]
    assert main([*base, "--structure", "0", "--texture", "1"]) == 0
    fused = load_rgb(tmp_path / "structure_0_texture_1_scale_1.png")
    assert fused.shape == (24, 36, 3)
    assert main([*base, "--structure", "0", "--texture", "0"]) == 0
    same = load_rgb(tmp_path / "structure_0_texture_0_scale_1.png")
    np.testing.assert_allclose(same, load_rgb(model_dir / "samples" / "reconstruction_0.png"), atol=1.5 / 255)
    assert _mse(fused, same) > 0


def test_bad_inputs_exit_with_code_2(model_dir, tmp_path, capsys):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    Image.fromarray(np.zeros((10, 40), np.uint8)).save(tmp_path / "wide.png")
    model = ["--model", str(model_dir), "--out", str(tmp_path / "o")]
    cases = {
        "at least 2": ["blendgan", "train", "builtin:coffee", "--out", str(tmp_path / "a"), "--preset", "tiny"],
        "cannot read": [
            "blendgan",
            "train",
            "builtin:coffee",
            str(tmp_path / "broken.png"),
            "--out",
            str(tmp_path / "b"),
        ],
        "aspect": ["blendgan", "meld", *model, "--mask", str(tmp_path / "wide.png")],
        "not found": ["blendgan", "meld", *model, "--mask", str(tmp_path / "missing.png")],
        "between 0 and 1": ["blendgan", "morph", *model, "--b", "7"],
        "between 1 and 1": ["blendgan", "fuse", *model, "--switch-scale", "2"],
        "no run.json": ["blendgan", "fuse", "--model", str(tmp_path), "--switch-scale", "1"],
    }
    for message, argv in cases.items():
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err
