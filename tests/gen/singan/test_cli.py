"""`jaxinterp singan ...` end to end on a tiny model, and the exit code 2 contract for bad input."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jaxinterp.cli import main
from jaxinterp.data.images import load_rgb
from jaxinterp.gen.singan import apps


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert (
        main(["singan", "train", "builtin:coffee", "--out", str(out), "--preset", "tiny", "--samples", "2", "--quiet"])
        == 0
    )
    return out


def _png(path, array, mode=None):
    Image.fromarray(array, mode).save(path)
    return str(path)


def _finest(model_dir):
    from jaxinterp.gen.singan import store

    return store.load_trained(model_dir).reals[-1]


def test_train_writes_samples_and_reconstruction(model_dir):
    samples = sorted(p.name for p in (model_dir / "samples").iterdir())
    assert samples == ["random_00.png", "random_01.png", "reconstruction.png"]
    assert load_rgb(model_dir / "samples" / "random_00.png").shape == _finest(model_dir).shape


def test_sample_any_size_and_from_a_scale(model_dir, tmp_path):
    h, w, _ = _finest(model_dir).shape
    assert (
        main(
            [
                "singan",
                "sample",
                "--model",
                str(model_dir),
                "--num",
                "2",
                "--scale-w",
                "1.5",
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert load_rgb(tmp_path / "a" / "sample_01.png").shape == (h, round(w * 1.5), 3)
    assert (
        main(
            [
                "singan",
                "sample",
                "--model",
                str(model_dir),
                "--num",
                "1",
                "--gen-start-scale",
                "1",
                "--out",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )
    assert load_rgb(tmp_path / "b" / "sample_00.png").shape == (h, w, 3)


@pytest.mark.parametrize("command", ["harmonize", "edit"])
def test_harmonize_and_edit_keep_the_unmasked_region(model_dir, tmp_path, command):
    real = ((_finest(model_dir) + 1) * 127.5).round().astype(np.uint8)
    h, w, _ = real.shape
    naive = real.copy()
    naive[h // 3 : h // 2, w // 3 : w // 2] = [255, 0, 0]
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3 : h // 2, w // 3 : w // 2] = 255
    args = ["--image", _png(tmp_path / "naive.png", naive), "--mask", _png(tmp_path / "mask.png", mask)]
    out = tmp_path / command
    assert main(["singan", command, "--model", str(model_dir), *args, "--start-scale", "1", "--out", str(out)]) == 0
    blended = load_rgb(out / "start_scale_1_blended.png")
    generated = load_rgb(out / "start_scale_1.png")
    weights = apps.soft_mask(mask / 255.0, radius={"harmonize": 7, "edit": 20}[command])[..., 0]
    expected = (1 - weights[..., None]) * _finest(model_dir) + weights[..., None] * generated
    np.testing.assert_allclose(blended, expected, atol=0.02)  # 8-bit PNG rounding
    assert weights.max() == 1.0 and (command == "edit" or weights.min() == 0.0)


def test_paint_sr_and_animation(model_dir, tmp_path, capsys):
    real = ((_finest(model_dir) + 1) * 127.5).round().astype(np.uint8)
    paint = _png(tmp_path / "paint.png", real[::-1].copy())
    assert (
        main(
            [
                "singan",
                "paint",
                "--model",
                str(model_dir),
                "--paint",
                paint,
                "--start-scale",
                "1",
                "--quantize",
                "--out",
                str(tmp_path / "p"),
            ]
        )
        == 0
    )
    assert load_rgb(tmp_path / "p" / "start_scale_1.png").shape == real.shape
    assert main(["singan", "sr", "--model", str(model_dir), "--factor", "2", "--out", str(tmp_path / "sr")]) == 0
    assert "not trained for super-resolution" in capsys.readouterr().err  # a tiny preset model, alpha 10
    h, w, _ = real.shape
    assert load_rgb(tmp_path / "sr" / "x2.png").shape == (2 * h, 2 * w, 3)
    assert (
        main(
            [
                "singan",
                "animate",
                "--model",
                str(model_dir),
                "--frames",
                "5",
                "--start-scale",
                "1",
                "--out",
                str(tmp_path / "gif"),
            ]
        )
        == 0
    )
    gif = Image.open(next((tmp_path / "gif").glob("*.gif")))
    assert gif.n_frames == 5 and gif.size == (w, h)


def test_help_exists_for_every_command():
    for argv in (["--help"], ["singan", "--help"], ["singan", "train", "--help"], ["quickstart", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0


def _bad_inputs(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, size=(60, 80, 3), dtype=np.uint8)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return {
        "corrupt": str(corrupt),
        "missing": str(tmp_path / "nope.png"),
        "gray": _png(tmp_path / "gray.png", rgb[..., 0]),
        "rgba": _png(tmp_path / "rgba.png", np.concatenate([rgb, rgb[..., :1]], -1)),
        "16bit": _png(tmp_path / "16.png", rgb[..., 0].astype(np.uint16) * 200),
        "tiny": _png(tmp_path / "small.png", rgb[:20, :20]),
    }


@pytest.mark.parametrize("kind", ["corrupt", "missing", "gray", "rgba", "16bit", "tiny"])
def test_bad_training_images_exit_2(tmp_path, capsys, kind):
    path = _bad_inputs(tmp_path)[kind]
    assert main(["singan", "train", path, "--out", str(tmp_path / "o"), "--preset", "tiny", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxinterp: error:") and err.count("\n") == 1 and "Traceback" not in err


def test_wrong_size_mask_and_paint_and_other_config_exit_2(model_dir, tmp_path, capsys):
    real = ((_finest(model_dir) + 1) * 127.5).round().astype(np.uint8)
    image = _png(tmp_path / "im.png", real)
    small_mask = _png(tmp_path / "m.png", np.zeros((10, 10), np.uint8))
    assert (
        main(
            [
                "singan",
                "harmonize",
                "--model",
                str(model_dir),
                "--image",
                image,
                "--mask",
                small_mask,
                "--start-scale",
                "1",
            ]
        )
        == 2
    )
    wrong_paint = _png(tmp_path / "p.png", real[:-3])
    assert main(["singan", "paint", "--model", str(model_dir), "--paint", wrong_paint, "--start-scale", "1"]) == 2
    assert main(["singan", "sample", "--model", str(model_dir), "--gen-start-scale", "99"]) == 2
    assert main(["singan", "sample", "--model", str(tmp_path / "no-such-run")]) == 2
    other = [
        "singan",
        "train",
        "builtin:coffee",
        "--out",
        str(model_dir),
        "--preset",
        "tiny",
        "--niter",
        "7",
        "--resume",
        "--quiet",
    ]
    assert main(other) == 2
    assert "another config" in capsys.readouterr().err


def test_installed_command_prints_one_line_and_exits_2(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxinterp",
            "singan",
            "train",
            str(tmp_path / "nope.png"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"jaxinterp: error: image file not found: {tmp_path / 'nope.png'}"]


def test_evaluate_writes_swd_and_diversity(model_dir, tmp_path):
    import json

    out = tmp_path / "eval"
    assert main(["singan", "evaluate", "--model", str(model_dir), "--num", "4", "--out", str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert result["swd_mean"] > 0 and 0 < result["diversity"] < 5
    assert "sifid_mean" not in result


def test_nearest_colour_exact():
    import jax.numpy as jnp

    from jaxinterp.gen.singan.train import nearest_colour

    centres = jnp.array([[-1.0, -1.0, -1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    image = jnp.array([[[-0.9, -0.7, -1.0], [0.6, 0.1, 0.2], [0.1, 0.0, 0.7]]])
    np.testing.assert_array_equal(nearest_colour(image, centres), centres[None])


def test_quantized_paint_retrains_the_start_scale_once(model_dir, tmp_path, monkeypatch):
    import jax

    from jaxinterp.gen.singan import store, train

    model = store.load_trained(model_dir)
    paint = ((model.reals[-1][::-1] + 1) * 127.5).round().astype(np.uint8)
    first = apps.paint_to_image(model, paint, 1, jax.random.PRNGKey(0), quantize=True)
    cached = store.load_trained(model_dir).run_dir / "paint" / "scale_01" / "scale"
    assert cached.is_dir()
    tuned = train.train_paint_scale(model, 1, apps.kmeans_colors(model.reals[1].reshape(-1, 3)), show_progress=False)
    original = model.scales[1]["g"]["params"]
    diffs = jax.tree_util.tree_map(lambda a, b: float(np.abs(np.asarray(a) - b).max()), tuned["g"]["params"], original)
    assert max(jax.tree_util.tree_leaves(diffs)) > 1e-3  # a retrained scale, not the stored one

    def no_training(*args, **kwargs):
        raise AssertionError("the fine-tuned scale should come from the cache")

    monkeypatch.setattr(train.pyramid_train, "train_scale", no_training)
    again = apps.paint_to_image(model, paint, 1, jax.random.PRNGKey(0), quantize=True)
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert first.shape == model.reals[-1].shape and np.isfinite(first).all()
