"""`jaxinterp quickstart` writes an index.html whose every image exists (tiny preset for speed).

CI runs every section except CAW's, IDC's and BlendGAN's, which `tests/gen/caw/test_apps.py`,
`tests/gen/idc/test_demo.py` and `tests/gen/blendgan/test_demo.py` run and check on their own (on models
those files train anyway); here they are replaced by a section of the same shape (about a minute and a
half of training saved). The test that trains every section is `slow`.
"""

import logging
import re

import numpy as np
import pytest
from PIL import Image

from jaxinterp import quickstart
from jaxinterp.data.images import save_png
from jaxinterp.gen.idc import demo as idc_demo

QUICK = dict(image="builtin:coffee", preset="tiny", mech_steps=20, find_numeric=2, find_strings=2)


def _assert_index_of_existing_images(index):
    html = index.read_text()
    sources = re.findall(r"<img src='([^']+)'", html)
    assert len(sources) >= 12
    for src in sources:
        assert not src.startswith("/")  # relative: the folder can be moved
        Image.open(index.parent / src).verify()
    assert "animation.gif" in html and "SinGAN: random samples" in html
    assert "generated_0.png" in html
    assert "Model surgery: activation patching" in html and "patching_head_out_layer_head.png" in html
    assert "FIND: function interpretation (offline)" in html and "2 numeric and 2 string functions" in html
    assert "numeric: " in html and "string: " in html and (index.parent / "find" / "run" / "summary.json").is_file()
    return html


def _assert_progress_and_no_noise(capsys, caplog):
    """One flushed line as each section starts and one as it ends, in order; none of absl's or TFDS's chatter."""
    out, err = capsys.readouterr()
    total = len(quickstart.SECTIONS)
    lines = [line for line in out.splitlines() if line.startswith("[")]
    expected = []
    for i, name in enumerate(quickstart.SECTIONS, 1):
        expected += [f"[{i}/{total}] {name} ... started", f"[{i}/{total}] {name} done in"]
    assert len(lines) == len(expected), out
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), (line, start)
        if " done in " in line:
            assert re.fullmatch(r"\[\d+/\d+\] \w+ done in \d+\.\d s", line), line
    assert "quickstart done in" in out
    for noise in ("Downloading and preparing dataset", "downloaded and prepared", "dataset_info.json"):
        assert noise not in out + err
    chatter = [r for r in caplog.records if r.name.startswith(("absl", "tensorflow")) and r.levelno < logging.ERROR]
    assert not chatter, [r.getMessage() for r in chatter]


def _stand_in_section(title: str, figure: str):
    def section(out):
        path = save_png(out / "results" / figure, np.full((8, 8, 3), 0.5, np.float32))
        return (title, "stand-in: trained and checked by its own test", [(figure, path)])

    return section


def test_quickstart_writes_an_index_of_existing_images(tmp_path, monkeypatch, capsys, caplog):
    monkeypatch.setattr(quickstart, "caw_section", _stand_in_section("CAW stand-in", "generated_0.png"))
    monkeypatch.setattr(quickstart, "idc_section", _stand_in_section("IDC stand-in", "prefill.png"))
    monkeypatch.setattr(quickstart, "blendgan_section", _stand_in_section("BlendGAN stand-in", "fuse.png"))
    html = _assert_index_of_existing_images(quickstart.run(tmp_path / "qs", **QUICK))
    _assert_progress_and_no_noise(capsys, caplog)
    assert html.index("CAW stand-in") < html.index("IDC stand-in") < html.index("BlendGAN stand-in")
    assert html.index("BlendGAN stand-in") < html.index("Model surgery")


@pytest.mark.slow
def test_quickstart_trains_every_section(tmp_path, monkeypatch, capsys, caplog):
    short_idc = idc_demo.demo_config(10).replace(dip_iters=20)  # the demo at 48 px, few iterations
    monkeypatch.setattr(idc_demo, "demo_config", lambda iterations: short_idc)
    html = _assert_index_of_existing_images(quickstart.run(tmp_path / "qs", **QUICK))
    _assert_progress_and_no_noise(capsys, caplog)
    assert "Catch-A-Waveform: audio from one recording" in html
    assert "IDC" in html and "prefill.png" in html
    assert "BlendGAN: morphing, melding and fusing" in html and "fuse_coffee_chelsea.png" in html
