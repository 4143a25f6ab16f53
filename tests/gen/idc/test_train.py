"""IDC training and the CLI: losses go down, the reconstruction ignores the hole, end to end, exit 2."""

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxinterp.cli import main
from jaxinterp.gen.idc.config import PRESETS
from jaxinterp.gen.idc.train import IDCRecipe, alpha_for, prepare, recipe_for, scale_data, spec_for
from jaxinterp.gen.pyramid_train import compiled_chunk, stack
from jaxinterp.gen.singan.train import init_state
from jaxinterp.mesh import models_mesh, shard_models

TINY = PRESETS["tiny"]


def _scale0(idc_inputs, cfg, recipe=None):
    """(step, state, data, keys, mesh, known) for scale 0 (masked) of the test image, one model."""
    geometry, reals, _ = prepare(*map(str, idc_inputs), cfg)
    spec = spec_for(geometry, 0, 0)
    real = jax.tree_util.tree_map(jnp.asarray, reals[0])
    state = stack([init_state(cfg, spec, jax.random.PRNGKey(1), None)])
    data = stack([scale_data(cfg, spec, real, [], jax.random.PRNGKey(2))])
    keys = np.stack([np.asarray(jax.random.PRNGKey(3))])
    mesh = models_mesh(1)
    step = compiled_chunk(recipe or IDCRecipe(cfg), spec, 1, mesh)
    return step, *shard_models((state, data, keys), mesh), mesh, reals[0]["known"]


def test_shapes_and_alpha_schedule(idc_inputs):
    geometry, reals, start = prepare(*map(str, idc_inputs), TINY)
    assert geometry.shapes == ((24, 24), (32, 32))
    chex.assert_shape([r["image"] for r in reals], [(24, 24, 3), (32, 32, 3)])
    assert all(np.all(r["image"][r["known"] == 0] == 0) for r in reals)  # the hole is blanked
    assert [alpha_for(TINY, n, 2) for n in range(2)] == [10.0, 100.0]
    assert [alpha_for(TINY, n, 10) for n in range(10)].count(100.0) == 3


def test_losses_decrease_and_reconstruction_ignores_the_hole(idc_inputs):
    step, state, data, keys, mesh, known = _scale0(idc_inputs, TINY)
    # g_steps = 1: the reported reconstruction loss is taken before any update, so it depends only on
    # the pixels the loss reads: changing hole pixels of the real image leaves it unchanged.
    hole = np.argwhere(known == 0)[0]
    seen = np.argwhere(known == 1)[0]

    def first_rec(pixel):
        real = np.array(data["real"])
        real[0, pixel[0], pixel[1]] += 0.7
        changed = shard_models({**data, "real": real}, mesh)
        return float(step(state, changed, [], keys)[1]["rec_loss"][0])

    base = float(step(state, data, [], keys)[1]["rec_loss"][0])
    assert first_rec(hole) == base
    assert first_rec(seen) != base
    history = []
    for _ in range(60):
        state, metrics = step(state, data, [], keys)
        history.append(float(metrics["rec_loss"][0]))
    assert np.isfinite(history).all()
    assert np.mean(history[-10:]) < 0.5 * np.mean(history[:10])


def test_reconstruction_loss_weighs_pixels_by_the_dilated_mask(idc_inputs):
    """With g_steps = 1 the first reported rec_loss is alpha * sum(w^2 err^2) / (3 sum(w)); a second
    difference in one channel of one real pixel p recovers w_p: 0 in the hole, < 1 beside it, ~1 far."""
    step, state, data, keys, mesh, known = _scale0(idc_inputs, TINY)
    weight = np.asarray(data["rec_weight"][0])
    scale = TINY.alpha / (3 * weight.sum())

    def rec_loss(pixel, delta):
        real = np.array(data["real"])
        real[0, pixel[0], pixel[1], 0] += delta
        return float(step(state, shard_models({**data, "real": real}, mesh), [], keys)[1]["rec_loss"][0])

    def recovered(pixel, delta=0.5):
        second = rec_loss(pixel, delta) + rec_loss(pixel, -delta) - 2 * rec_loss(pixel, 0.0)
        return np.sqrt(max(second, 0.0) / (2 * scale * delta**2))

    candidates = np.where((known == 1) & (weight > 0.1), weight, 2.0)
    beside = np.unravel_index(np.argmin(candidates), weight.shape)  # the least weighted one above 0.1
    assert known[beside[0] - 1 : beside[0] + 2, beside[1] - 1 : beside[1] + 2].min() == 0  # touches the hole
    assert weight[beside] < 0.5
    for pixel in (beside, (0, 0)):
        assert recovered(pixel) == pytest.approx(weight[pixel], rel=2e-2)
    assert recovered(tuple(np.argwhere(known == 0)[0])) == 0.0


def test_masked_critic_ignores_the_hole(idc_inputs):
    """The first critic loss (d_steps = 1, before any update) reads the real image only through visible
    patches: real scores are kept only there, and the BatchNorm statistics of the real image (and of the
    penalty's interpolates) are taken over them too, so a hole pixel of the real image changes nothing."""
    step, state, data, keys, mesh, known = _scale0(idc_inputs, TINY)
    hole, seen = np.argwhere(known == 0)[0], np.argwhere(known == 1)[0]

    def first_d_loss(pixel=None):
        real = np.array(data["real"])
        if pixel is not None:
            real[0, pixel[0], pixel[1]] += 0.7
        return float(step(state, shard_models({**data, "real": real}, mesh), [], keys)[1]["d_loss"][0])

    base = first_d_loss()
    assert first_d_loss(hole) == pytest.approx(base, abs=1e-6)
    assert abs(first_d_loss(seen) - base) > 1e-5


def test_complete_end_to_end_then_from_the_run(idc_inputs, tmp_path):
    image, mask = map(str, idc_inputs)
    out = tmp_path / "out"
    args = ["idc", "complete", image, mask, "-n", "3", "--preset", "tiny", "--out", str(out), "--quiet"]
    assert main(args) == 0
    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.shape == (32, 4 * 32 + 6, 3)  # input + 3 completions in one row
    completions = np.stack([np.asarray(Image.open(out / f"completion_{i:02d}.png")) for i in range(3)])
    known = np.load(out / "run" / "reals" / "known_01.npy") > 0
    np.testing.assert_array_equal(completions[0][known], completions[1][known])  # visible part kept
    assert np.abs(completions[0][~known].astype(int) - completions[1][~known]).max() > 0  # the hole varies
    rows = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {r["scale"]: r["iteration"] for r in rows} == {0: 6, 1: 9}  # pre-filled scale 0: niter; masked: 9
    assert (out / "run" / "prefill.png").is_file()
    level0, hole0 = np.load(out / "run" / "reals" / "00.npy"), np.load(out / "run" / "reals" / "known_00.npy") == 0
    assert np.std(level0[hole0]) > 0.01 and np.all(np.load(out / "run" / "reals" / "01.npy")[~known] == 0)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["hole_diversity"] > 0 and metrics["hole_patch_distance"] > 0 and metrics["num"] == 3
    assert metrics["hole_fraction"] == pytest.approx(np.mean(~known))
    assert 0 < metrics["original_patch_distance"] < metrics["flat_fill_patch_distance"]
    # A trained run: no retraining, default folder <run>/completions.
    assert "contact_sheet.png" in (out / "index.html").read_text()
    assert main(["idc", "complete", "--run", str(out / "run"), "-n", "3", "--sample-seed", "1"]) == 0
    again = np.asarray(Image.open(out / "run" / "completions" / "completion_00.png"))
    assert np.abs(again[~known].astype(int) - completions[0][~known]).max() > 0  # another seed
    assert main(["idc", "train", image, mask, "--preset", "tiny", "--out", str(out / "run"), "--quiet"]) == 2


def _png(path, array):
    Image.fromarray(array).save(path)
    return str(path)


def test_bad_inputs_exit_2(idc_inputs, tmp_path, capsys):
    image, mask = map(str, idc_inputs)
    base = ["--preset", "tiny", "--out", str(tmp_path / "o"), "--quiet"]
    blank = np.zeros((40, 40), np.uint8)
    cases = {
        "same size": _png(tmp_path / "small.png", np.zeros((30, 40), np.uint8)),
        "empty": _png(tmp_path / "empty.png", blank),
        "whole image": _png(tmp_path / "full.png", blank + 255),
        "too large": _png(tmp_path / "big.png", np.pad(blank[6:-6, 6:-6] + 255, 6)),
    }
    for message, bad_mask in cases.items():
        assert main(["idc", "train", image, bad_mask, *base]) == 2
        assert message in capsys.readouterr().err
    (tmp_path / "junk.png").write_bytes(b"not a png")
    assert main(["idc", "complete", str(tmp_path / "junk.png"), mask, *base]) == 2
    assert main(["idc", "complete", "--run", str(tmp_path)]) == 2
    assert main(["idc", "complete", image, "--out", str(tmp_path / "x")]) == 2
    assert main(["idc", "complete", "--run", str(tmp_path), "-n", "1"]) == 2


def test_masked_and_unmasked_scales_step_at_their_learning_rates(idc_inputs):
    """Adam's first update moves every weight by at most lr (and the largest by ~lr): 5e-5 on masked
    scales (upstream's lr_mask), 5e-4 on unmasked ones; 3000 vs 2000 iterations per scale. (Last in the
    file: the end-to-end test has compiled the masked scale-0 program.)"""
    paper = PRESETS["paper"]
    assert (recipe_for(paper, True).niter, recipe_for(paper, False).niter) == (3000, 2000)
    assert recipe_for(paper, True).cfg.lr_milestone > 3000  # upstream's drop at 3500: never reached
    for masked, lr in ((True, 5e-5), (False, 5e-4)):
        step, state, data, keys, _, _ = _scale0(idc_inputs, TINY, recipe_for(TINY, masked))
        new_state, _ = step(state, data, [], keys)
        for net in ("g", "d"):
            moves = jax.tree_util.tree_map(
                lambda a, b: np.abs(np.asarray(a) - b).max(), new_state[net]["params"], state[net]["params"]
            )
            assert max(jax.tree_util.tree_leaves(moves)) == pytest.approx(lr, rel=0.05)
