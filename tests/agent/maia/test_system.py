"""System: activation = spatial max, NetDissect quantile threshold, masked image, `last` = class probability;
tiny subject models train (the loss goes down) and expose their layers."""

import chex
import jax
import numpy as np
import pytest

from jaxinterp.agent.maia import dataset, neurons, render, subject
from jaxinterp.agent.maia import system as S
from jaxinterp.agent.maia.tools import Tools
from jaxinterp.errors import InputError, NonFiniteLossError

TINY_CNN = subject.SubjectConfig("cnn", size=64, channels=(4, 6, 8))
TINY_VIT = subject.SubjectConfig("vit", size=64, patch=16, width=8, depth=1, heads=2)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return dataset.stack(dataset.load_source(tmp_path_factory.mktemp("maia"), "train", num_train=96, num_test=4))


@pytest.fixture(scope="module")
def cnn(pool):
    source = [{k: v[i] for k, v in pool.items()} for i in range(len(pool["image"]))]
    model, losses = subject.train(TINY_CNN, source, steps=40, batch_size=32, learning_rate=1e-2)
    return model, losses


def test_subject_training_lowers_the_loss_and_save_load_round_trips(cnn, tmp_path, pool):
    model, losses = cnn
    assert np.mean(losses[-5:]) < losses[0] - 0.1
    loaded = subject.load(subject.save(model, tmp_path / "cnn"))
    chex.assert_trees_all_close(loaded.params, model.params)
    assert loaded.classify(pool["image"][:4]) == model.classify(pool["image"][:4])
    with pytest.raises(InputError, match="no subject model"):
        subject.load(tmp_path / "missing")


def test_subject_training_stops_on_a_non_finite_loss(pool):
    source = [{k: v[i] for k, v in pool.items()} for i in range(8)]
    # A NaN learning rate poisons the parameters in the first update: the second step's loss is NaN.
    with pytest.raises(NonFiniteLossError, match=r"loss at subject training step 2\b"):
        subject.train(TINY_CNN, source, steps=3, batch_size=4, learning_rate=float("nan"))


def test_unit_activation_is_the_spatial_max_and_last_is_the_class_probability(cnn, pool):
    model, _ = cnn
    images = pool["image"][:3]
    logits, acts = model.apply(images)
    chex.assert_shape(acts["conv2"], (3, 16, 16, 6))
    system = S.model_system(model, "conv2", 4, pool["image"])
    activations, masked = system.call_neuron(list(images))
    np.testing.assert_allclose(activations, np.round(np.asarray(acts["conv2"][..., 4]).max(axis=(1, 2)), 2))
    chex.assert_shape(np.stack(masked), (3, 64, 64, 3))
    # a list element that is a list of images counts as its most active member
    batch_act, _ = system.call_neuron([list(images)])
    assert batch_act == [max(activations)]
    last = S.model_system(model, "last", 2, pool["image"])
    probs = np.asarray(jax.nn.softmax(logits, -1))
    np.testing.assert_allclose(last.call_neuron(list(images))[0], np.round(probs[:, 2], 2))
    with pytest.raises(InputError, match="out of range"):
        S.model_system(model, "conv1", 4, pool["image"][:2]).unit.__class__(model, "conv1", 99)


def test_threshold_is_the_netdissect_quantile_and_the_mask_darkens_the_rest(cnn, pool):
    model, _ = cnn
    system = S.model_system(model, "conv1", 1, pool["image"])
    maps = S.pool_maps(system.unit, pool["image"])
    assert system.threshold == pytest.approx(np.quantile(maps, 0.995))
    assert (maps > system.threshold).mean() <= 0.005 <= (maps >= system.threshold).mean()  # ties may sit at T
    image = pool["image"][int(np.argmax(maps.max(axis=(1, 2))))]
    unit_map = S.pool_maps(system.unit, image[None])[0]
    keep = np.asarray(jax.image.resize(unit_map, (64, 64), "bilinear")) >= system.threshold
    assert 0 < keep.sum() < keep.size
    masked = system.mask(image, unit_map)
    np.testing.assert_array_equal(masked[keep], image[keep])
    np.testing.assert_array_equal(masked[~keep], np.round(image[~keep] * 0.25).astype(np.uint8))


def test_vit_tokens_are_laid_on_a_grid_without_cls(pool):
    model = subject.Subject(TINY_VIT, subject.init_params(TINY_VIT, jax.random.PRNGKey(0)))
    _, acts = model.apply(pool["image"][:2])
    chex.assert_shape(acts["block1"], (2, 17, 8))
    grid = S.layer_grid(acts["block1"], "vit")
    chex.assert_shape(grid, (2, 4, 4, 8))
    np.testing.assert_array_equal(grid[:, 0, 1], acts["block1"][:, 2])  # token 1 + 1 (after CLS)
    system = S.model_system(model, "block1", 3, pool["image"][:8])
    assert system.call_neuron([pool["image"][0]])[0] == [round(float(grid[0, ..., 3].max()), 2)]


def test_synthetic_system_fires_on_rendered_images_and_masks_the_exact_region(pool):
    store = S.ImageStore()
    tools = Tools(store, pool)
    system = S.synthetic_system(neurons.parse_neuron("star"), store)
    images = tools.text2image(["a yellow star on grass", "a yellow circle on grass"])
    activations, masked = system.call_neuron(images)
    assert activations[0] >= neurons.FIRE_BASE and activations[1] <= neurons.NOISE
    star = render.concept_masks(store.get(images[0]))["star"]
    np.testing.assert_array_equal(masked[0][star], images[0][star])
    assert (masked[0][~star] < images[0][~star].astype(int) + 1).all() and masked[0][~star].mean() < 60
    with pytest.raises(InputError, match="only see images rendered"):
        system.call_neuron([np.zeros((64, 64, 3), np.uint8)])
