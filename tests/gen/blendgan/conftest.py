"""One tiny two-image BlendGAN per test session, trained through the CLI
(`jaxinterp blendgan train builtin:coffee builtin:chelsea --preset tiny`)."""

import pytest

from jaxinterp.cli import main


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("blendgan") / "model"
    args = ["blendgan", "train", "builtin:coffee", "builtin:chelsea", "--out", str(out), "--preset", "tiny", "--quiet"]
    assert main(args) == 0
    return out
