"""SimCLR pieces and the linear probe: NT-Xent's known values, augmentations, a loss that goes down, the probe."""

import dataclasses
import json
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.agent.checkup import pretrain, probe, ssl
from jaxinterp.cli import main
from jaxinterp.errors import NonFiniteLossError

TINY = dataclasses.replace(ssl.SSLConfig(), widths=(8, 16), strides=(2, 2), projection=(16, 8), batch_size=16)


def test_nt_xent_known_values():
    # Orthonormal directions, each view identical to its partner: logit 1/T to the partner, 0 to the 2B-2 others.
    z = jnp.eye(4)
    t = 0.5
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 6))
    assert float(ssl.nt_xent(z, z, t)) == pytest.approx(expected, rel=1e-5)
    # All views identical: the partner is one of 2B - 1 equal logits.
    same = jnp.ones((4, 3))
    assert float(ssl.nt_xent(same, same, 0.2)) == pytest.approx(math.log(7), rel=1e-5)


def test_augmentations_keep_shape_and_range_and_differ_per_key():
    images = jnp.asarray(np.random.default_rng(0).random((3, 16, 16, 3)), jnp.float32)
    augment = jax.jit(ssl.augment, static_argnums=2)
    a = augment(jax.random.key(0), images, TINY)
    b = augment(jax.random.key(1), images, TINY)
    chex.assert_shape(a, images.shape)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert float(jnp.abs(a - b).mean()) > 0.01


def _two_colour_images(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Each image split by a random line into two random colours: easy to tell apart after crops."""
    colours = rng.integers(0, 256, (n, 2, 3))
    yy, xx = np.mgrid[:size, :size] - size / 2
    angle = rng.uniform(0, np.pi, n)[:, None, None]
    side = (np.cos(angle) * xx + np.sin(angle) * yy > 0)[..., None]
    return np.where(side, colours[:, :1, None], colours[:, 1:, None]).astype(np.uint8)


def test_simclr_loss_goes_down_on_a_tiny_set():
    images = _two_colour_images(32, 16, np.random.default_rng(0))
    cfg = dataclasses.replace(TINY, steps=40, learning_rate=1e-2)
    _, losses = pretrain.train_encoder(images, cfg, seed=0)
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert losses[0] == pytest.approx(math.log(2 * 16 - 1), abs=0.3)  # near chance at the start
    assert np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.3


def test_simclr_stops_on_a_non_finite_loss():
    images = _two_colour_images(16, 16, np.random.default_rng(0))
    cfg = dataclasses.replace(TINY, steps=3, learning_rate=float("nan"))
    # The first update makes the parameters NaN: the loss of step 2 is the first non-finite one.
    with pytest.raises(NonFiniteLossError, match=r"loss at SimCLR noise seed 0 step 2\b"):
        pretrain.train_encoder(images, cfg, seed=0, label="noise seed 0")


def test_linear_probe_is_exact_on_separable_features():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(5), 20).astype(np.int32)
    centres = 10.0 * np.eye(5, 7)
    x = centres[labels] + rng.normal(0, 0.1, (100, 7))
    result = probe.linear_probe(x[::2], labels[::2], x[1::2], labels[1::2])
    assert result == {"train_accuracy": 1.0, "test_accuracy": 1.0}


def test_digits_are_dark_ink_on_white_pages_and_split_stratified():
    images, labels = probe.digits(32)
    chex.assert_shape(images, (1797, 32, 32, 3))
    assert images[:, :4].min() == 1.0 and images.min() == 0.0  # white margins, black ink
    train, test = probe.split(labels)
    assert len(set(train) & set(test)) == 0 and len(train) + len(test) == 1797
    assert np.abs(np.bincount(labels[train]) - np.bincount(labels[test])).max() <= 1


def test_pretrain_writes_results_for_every_source_and_seed(tmp_path):
    cfg = pretrain.PretrainConfig(
        n_images=40, seeds=(0, 1), ssl=dataclasses.replace(TINY, steps=3), probe=probe.ProbeConfig(steps=50)
    )
    result = pretrain.run_pretrain(cfg, tmp_path, show_progress=False)
    assert [(r["source"], r["seed"]) for r in result["runs"]] == [
        (source, seed) for seed in (0, 1) for source in ("random_init", "code", "noise")
    ]
    assert all(0.0 <= r["test_accuracy"] <= 1.0 for r in result["runs"])
    assert result["summary"]["code"]["n"] == 2 and result["raw_pixels"]["test_accuracy"] > 0.9
    assert json.loads((tmp_path / "results.json").read_text())["summary"] == result["summary"]
    for name in ("code_images.npz", "code_images.png", "noise_images.png", "loss.png", "index.html"):
        assert (tmp_path / name).is_file()
    # A rerun in the same folder reads the rendered images back instead of rendering again.
    images, kinds = pretrain.code_images(40, 32, 0, tmp_path / "code_images.npz")
    assert images.shape == (40, 32, 32, 3) and len(kinds) == 40


def test_pretrain_rejects_fewer_images_than_a_batch(tmp_path, capsys):
    assert main(["checkup", "pretrain", "--out", str(tmp_path), "--images", "10", "--quiet"]) == 2
    assert "batch size" in capsys.readouterr().err
