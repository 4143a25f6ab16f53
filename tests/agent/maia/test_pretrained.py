"""A user's pretrained Flax model from a local folder: layers read by path, units and System as for our subjects."""

import json

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinterp.agent.maia import subject
from jaxinterp.agent.maia import system as S
from jaxinterp.checkpoint import save_tree
from jaxinterp.errors import InputError


class Block(nn.Module):
    features: int

    @nn.compact
    def __call__(self, x):
        return nn.relu(nn.Conv(self.features, (3, 3), (2, 2), name="conv")(x))


class TinyNet(nn.Module):
    """Stands in for a user's ResNet: nested blocks, logits out."""

    num_classes: int = 5

    @nn.compact
    def __call__(self, x):
        x = Block(4, name="stem")(x)
        x = Block(6, name="stage1")(x)
        return nn.Dense(self.num_classes, name="head")(x.mean(axis=(1, 2)))


def _folder(tmp_path, **overrides):
    net = TinyNet(num_classes=5)
    params = net.init(jax.random.PRNGKey(1), jnp.zeros((1, 32, 32, 3)))["params"]
    save_tree(tmp_path / "params", params)
    spec = {
        "module": f"{__name__}:TinyNet",
        "kwargs": {"num_classes": 5},
        "size": 32,
        "layers": ["stem", "stage1/conv"],
        "classes": ["a", "b", "c", "d", "e"],
    } | overrides
    (tmp_path / "flax_subject.json").write_text(json.dumps(spec))
    return net, params


def test_pretrained_layers_are_the_submodules_outputs_and_feed_the_system(tmp_path):
    net, params = _folder(tmp_path)
    model = subject.load(tmp_path)
    images = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    logits, acts = model.apply(images)
    x = jax.image.resize(jnp.asarray(images, jnp.float32) / 255, (3, 32, 32, 3), "bilinear")
    x = (x - jnp.asarray([0.485, 0.456, 0.406])) / jnp.asarray([0.229, 0.224, 0.225])
    chex.assert_trees_all_close(logits, net.apply({"params": params}, x), atol=1e-5)
    chex.assert_shape(acts["stem"], (3, 16, 16, 4))
    chex.assert_shape(acts["stage1/conv"], (3, 8, 8, 6))
    expected = Block(4).apply({"params": params["stem"]}, x)
    chex.assert_trees_all_close(acts["stem"], expected, atol=1e-5)
    system = S.model_system(model, "stage1/conv", 5, images)
    activations, _ = system.call_neuron(list(images))
    np.testing.assert_allclose(activations, np.round(np.asarray(acts["stage1/conv"][..., 5]).max(axis=(1, 2)), 2))
    assert S.model_system(model, "last", 4, images).call_neuron([images[0]])[0][0] <= 1.0
    with pytest.raises(InputError, match="out of range"):
        S.ModelUnit(model, "stem", 4)


def test_bad_pretrained_folders_raise_one_line_errors(tmp_path):
    _folder(tmp_path, module="no_such_pkg.models:Net")
    with pytest.raises(InputError, match="cannot import the model"):
        subject.load(tmp_path)
    _folder(tmp_path, layers=["stem", "nowhere"])
    with pytest.raises(InputError, match="no submodule at nowhere"):
        subject.load(tmp_path).apply(np.zeros((1, 32, 32, 3), np.uint8))
