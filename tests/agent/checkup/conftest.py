"""Tiny random Hugging Face CLIP folders (stored in tests/fixtures, made by transformers + torch with
scripts/make_test_fixtures.py) for the CLIP port's parity and loading tests; no torch needed here."""

import pytest

from tests.agent.checkup.clip_vocab import CASES
from tests.fixtures import copy_folder, reference


@pytest.fixture(scope="session")
def clip_reference():
    """tests/fixtures/clip.npz: inputs and transformers' outputs (see scripts/make_test_fixtures.py)."""
    return reference("clip")


@pytest.fixture(scope="session")
def clip_folders(tmp_path_factory):
    """hidden_act -> a copy of the stored folder of a CLIPModel with every parameter perturbed off its init."""
    built = {}

    def get(act: str):
        if act not in built:
            built[act] = copy_folder(f"clip_{act}", tmp_path_factory.mktemp("clip") / f"clip-{act}")
        return built[act]

    return get


@pytest.fixture(params=list(CASES))
def tiny_clip(request, clip_folders):
    """(folder, hidden_act) for each hidden_act / pooling case."""
    return clip_folders(request.param), request.param


@pytest.fixture
def quick_clip(clip_folders):
    """The folder of the quick_gelu case only."""
    return clip_folders("quick_gelu")
