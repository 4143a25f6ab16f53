"""The scripted offline agent drives the real MAIA loop (sandboxed code, tools, log) to the right labels."""

import pytest

from jaxinterp.agent.maia import agent, dataset, describer, neurons
from jaxinterp.agent.maia.offline_agent import OfflineAgent
from jaxinterp.agent.maia.system import ImageStore, synthetic_system
from jaxinterp.agent.maia.tools import Tools


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return dataset.stack(dataset.load_source(tmp_path_factory.mktemp("maia"), "train", num_train=300, num_test=4))


@pytest.mark.parametrize("name", ["stripes", "grass_red", "red|square"])
def test_offline_agent_labels_mono_or_and_neurons(pool, tmp_path, name):
    neuron = neurons.parse_neuron(name)
    store = ImageStore()
    result = agent.interpret_unit(synthetic_system(neuron, store), Tools(store, pool), OfflineAgent(), out=tmp_path)
    assert describer.label_matches(result.label, neuron.mode, neuron.concepts), result.label
    assert result.stopped_reason == "answer" and all(e["ok"] for e in result.experiments)
    assert len(result.experiments) == result.rounds - 1 and (tmp_path / "experiment.html").is_file()
