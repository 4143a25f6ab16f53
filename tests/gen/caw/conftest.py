"""One tiny CAW model per test session, trained through the CLI (`jaxinterp caw train --preset tiny`)."""

import pytest

from jaxinterp.cli import main


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("caw") / "run"
    assert main(["caw", "train", "builtin:music", "--out", str(out), "--preset", "tiny", "--quiet"]) == 0
    return out
