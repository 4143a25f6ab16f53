"""The run store's errors name the model a folder should hold and the one it does hold."""

import json

import pytest

from jaxinterp.errors import InputError
from jaxinterp.gen import pyramid_store
from jaxinterp.gen.blendgan.config import BlendGANConfig
from jaxinterp.gen.idc.config import IDCConfig


def test_a_missing_run_names_the_model_and_the_training_command(tmp_path):
    with pytest.raises(InputError, match="is not a BlendGAN run .*`jaxinterp blendgan train`"):
        pyramid_store.read_run_json(tmp_path, "blendgan", BlendGANConfig, "jaxinterp blendgan train")


def test_another_models_run_is_refused_by_name(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"model": "caw", "config": {}}))
    with pytest.raises(InputError, match="holds a 'caw' run, not a IDC one"):
        pyramid_store.read_run_json(tmp_path, "idc", IDCConfig, "jaxinterp idc train")
