"""Synthetic neurons fire exactly on their concepts (mono, OR, AND), over the stored dataset's exact masks."""

import numpy as np
import pytest

from jaxinterp.agent.maia import dataset, neurons, render


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    source = dataset.load_source(tmp_path_factory.mktemp("maia"), "train", num_train=120, num_test=4)
    batch = dataset.stack(source)
    return batch, dataset.batch_masks(batch)


def test_stored_maps_give_the_masks_of_the_rendered_scene(pool):
    batch, masks = pool
    for i in (0, 7, 42):
        r = render.render(render.random_scene(np.random.default_rng([0, i])), 64, seed=i)
        np.testing.assert_array_equal(batch["image"][i], r.image)
        for concept, mask in render.concept_masks(r).items():
            np.testing.assert_array_equal(masks[concept][i], mask)
        assert render.KINDS[batch["label"][i]] in [t.kind for t in r.scene.things]


def test_benchmark_has_the_papers_or_and_counts_and_every_concept_as_mono():
    all_neurons = neurons.synthetic_neurons()
    assert [sum(n.mode == m for n in all_neurons) for m in neurons.MODES] == [len(render.CONCEPTS), 18, 20]
    assert len({n.name for n in all_neurons}) == len(all_neurons)
    assert neurons.parse_neuron("boat|water") == neurons.SyntheticNeuron("and", ("boat", "water"))


def test_neurons_fire_exactly_when_their_concepts_are_present(pool):
    batch, masks = pool
    present = {c: m.any(axis=(1, 2)) for c, m in masks.items()}
    keys = np.arange(len(batch["image"]))
    for neuron in neurons.synthetic_neurons():
        maps = neuron.activation_maps(masks, keys)
        a, b = (neuron.concepts + (None,))[:2]
        expected = {
            "mono": present[a],
            "or": present[a] | (present[b] if b else False),
            "and": present[a] & (present[b] if b else False),
        }[neuron.mode]
        acts = maps.max(axis=(1, 2))
        np.testing.assert_array_equal(acts >= neurons.FIRE_BASE, expected, err_msg=neuron.name)
        assert (acts[~expected] < neurons.NOISE).all()
        region = neuron.region(masks)
        np.testing.assert_array_equal(maps >= neurons.FIRE_BASE, region)
    # the same image gets the same activation alone or in a batch
    neuron = neurons.parse_neuron("red_circle")
    single = neuron.activation_maps({c: m[5] for c, m in masks.items()}, np.array(5))
    np.testing.assert_array_equal(single, neuron.activation_maps(masks, keys)[5])


def test_detector_errors_miss_and_add_detections_at_their_rates(pool):
    batch, masks = pool
    keys = np.arange(len(batch["image"]))
    exact = neurons.SyntheticNeuron("or", ("red", "blue"))
    noisy = neurons.SyntheticNeuron("or", ("red", "blue"), miss=0.3, spurious=0.2)
    fires = exact.activation_maps(masks, keys).max(axis=(1, 2)) >= neurons.FIRE_BASE
    noisy_fires = noisy.activation_maps(masks, keys).max(axis=(1, 2)) >= neurons.FIRE_BASE
    assert 0.15 < (~noisy_fires[fires]).mean() < 0.45  # misses among images with the concept
    assert 0.05 < noisy_fires[~fires].mean() < 0.4  # false detections among the others
    np.testing.assert_array_equal(noisy_fires, noisy.activation_maps(masks, keys).max(axis=(1, 2)) >= 0.6)
