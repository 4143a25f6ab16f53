"""The quickstart section: the demo reuses a finished tiny run and writes the three applications."""

import shutil

import numpy as np

from jaxinterp.data.images import load_rgb
from jaxinterp.gen.blendgan.demo import MORPH_FRAMES, quickstart_section


def test_quickstart_section_reuses_the_model_and_writes_morph_meld_fuse(model_dir, tmp_path):
    shutil.copytree(model_dir, tmp_path / "model")  # the demo trains exactly `--preset tiny` on these images
    metrics = (tmp_path / "model" / "metrics.jsonl").read_text()
    title, text, figures = quickstart_section(tmp_path)
    assert (tmp_path / "model" / "metrics.jsonl").read_text() == metrics  # nothing retrained
    assert title.startswith("BlendGAN") and "SWD" in text
    images = {path.name: load_rgb(path) for _, path in figures}
    assert sorted(images) == sorted(
        [
            "reals.png",
            "reconstructions.png",
            "morph.png",
            "meld.png",
            "fuse_coffee_chelsea.png",
            "fuse_chelsea_coffee.png",
        ]
    )
    h, w = 24, 36
    recs = images["reconstructions.png"]
    assert images["reals.png"].shape == recs.shape == (h, 2 * w, 3)
    morph = images["morph.png"]
    assert morph.shape == (h, MORPH_FRAMES * w, 3)
    np.testing.assert_allclose(morph[:, :w], recs[:, :w], atol=2.5 / 255)  # the ends are the reconstructions
    np.testing.assert_allclose(morph[:, -w:], recs[:, w:], atol=2.5 / 255)
    meld, left = images["meld.png"], np.s_[:, : w // 3]
    assert np.mean((meld[left] - recs[:, :w][left]) ** 2) < np.mean((meld[left] - recs[:, w:][left]) ** 2)
    for name in ("fuse_coffee_chelsea.png", "fuse_chelsea_coffee.png"):
        assert images[name].shape == (h, w, 3)
    assert not np.array_equal(images["fuse_coffee_chelsea.png"], recs[:, :w])
