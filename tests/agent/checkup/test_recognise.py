"""Recognisers: the CLIP-style adapter's cosine scores, the offline shape classifier's training, saving and use."""

import dataclasses

import numpy as np
import pytest

from jaxinterp.agent.checkup import recognise, ssl
from jaxinterp.agent.checkup.recognise import ClipStyleRecogniser, ShapeClassifier, ShapeClassifierConfig
from jaxinterp.cli import main

COLOURS = {"red": [1.0, 0.0, 0.0], "green": [0.0, 1.0, 0.0], "blue": [0.0, 0.0, 1.0]}
TINY = ShapeClassifierConfig(
    per_class=3, held_out=1, size=16, steps=5, batch_size=16,
    encoder=dataclasses.replace(ssl.SSLConfig(), widths=(8, 16), strides=(2, 2), grey_prob=0.0),
)  # fmt: skip


def test_clip_style_scores_are_cosines_between_image_and_caption_embeddings():
    rec = ClipStyleRecogniser("mean-colour", tuple(COLOURS), lambda im: im.mean((1, 2)),
                              lambda texts: [COLOURS[t] for t in texts])  # fmt: skip
    images = np.zeros((2, 4, 4, 3), np.uint8)
    images[0, ..., 0] = 200  # red
    images[1, ..., 1:] = 100  # green + blue
    scores = rec.scores(images)
    np.testing.assert_allclose(scores, [[1, 0, 0], [0, 2**-0.5, 2**-0.5]], atol=1e-12)
    assert isinstance(rec, recognise.Recogniser)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clf")
    return ShapeClassifier.cached(folder, TINY), folder


def test_shape_classifier_trains_saves_and_loads(tiny_classifier, monkeypatch):
    clf, folder = tiny_classifier
    assert len(clf.captions) == 20 and 0.0 <= clf.held_out_accuracy <= 1.0
    images = np.random.default_rng(0).integers(0, 256, (3, 40, 30, 3), dtype=np.uint8)  # any size is resized
    scores, embedding = clf.scores(images), clf.embed(images)
    assert scores.shape == (3, 20) and embedding.shape == (3, 16)
    monkeypatch.setattr(ShapeClassifier, "train", lambda cfg: pytest.fail("retrained instead of loading"))
    again = ShapeClassifier.cached(folder)
    assert again.cfg == TINY and again.held_out_accuracy == clf.held_out_accuracy
    np.testing.assert_allclose(again.scores(images), scores, rtol=1e-5, atol=1e-5)


def test_generate_reports_shape_fidelity_with_the_offline_recogniser(tiny_classifier, tmp_path, capsys):
    _, folder = tiny_classifier
    args = ["checkup", "generate", "--out", str(tmp_path), "--groups", "shapes", "--concepts", "circle,star"]
    assert main([*args, "--samples", "2", "--recogniser", str(folder), "--quiet"]) == 0
    assert "shapes fidelity top-1" in capsys.readouterr().out


@pytest.mark.slow
def test_default_shape_classifier_recognises_held_out_shapes(tmp_path):
    clf = ShapeClassifier.cached(tmp_path)
    assert clf.held_out_accuracy > 0.5  # chance: 0.05


def test_maia_subject_scores_the_shared_kinds_of_each_group(tmp_path):
    import jax

    from jaxinterp.agent.maia import subject as maia_subject

    cfg = maia_subject.SubjectConfig("cnn", size=16, channels=(8, 8, 8))
    params = maia_subject.module(cfg).init(jax.random.key(0), maia_subject.to_input(np.zeros((1, 16, 16, 3))))
    folder = maia_subject.save(maia_subject.Subject(cfg, params["params"]), tmp_path / "subject")
    recs = recognise.MaiaRecogniser.for_groups(folder)
    assert recs["shapes"].captions == ("circle", "square", "triangle", "star", "cross")
    assert recs["objects"].captions == ("house", "tree", "car", "flower", "boat")
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    logits, _ = recs["objects"].subject.apply(recognise._resize(images, 16))
    columns = [maia_subject.CLASSES.index(c) for c in recs["objects"].captions]
    np.testing.assert_allclose(recs["objects"].scores(images), np.asarray(logits)[:, columns], rtol=1e-6)
    assert recs["shapes"].embed(images).shape == (2, 8)
