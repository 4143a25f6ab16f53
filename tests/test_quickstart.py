"""`jaxinterp quickstart` writes an index.html whose every image exists (tiny preset for speed).

CI runs every section except IDC's and BlendGAN's, which `tests/gen/idc/test_demo.py` and
`tests/gen/blendgan/test_demo.py` train and check on their own; here they are replaced by a section
of the same shape (about a minute of training saved). The test that trains every section is `slow`.
"""

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
    assert "Catch-A-Waveform: audio from one recording" in html and "generated_0.png" in html
    assert "Model surgery: activation patching" in html and "patching_head_out_layer_head.png" in html
    assert "FIND: function interpretation (offline)" in html and "2 numeric and 2 string functions" in html
    assert "numeric: " in html and "string: " in html and (index.parent / "find" / "run" / "summary.json").is_file()
    return html


def _stand_in_section(title: str, figure: str):
    def section(out):
        path = save_png(out / "results" / figure, np.full((8, 8, 3), 0.5, np.float32))
        return (title, "stand-in: trained and checked by its own test", [(figure, path)])

    return section


def test_quickstart_writes_an_index_of_existing_images(tmp_path, monkeypatch):
    monkeypatch.setattr(quickstart, "idc_section", _stand_in_section("IDC stand-in", "prefill.png"))
    monkeypatch.setattr(quickstart, "blendgan_section", _stand_in_section("BlendGAN stand-in", "fuse.png"))
    html = _assert_index_of_existing_images(quickstart.run(tmp_path / "qs", **QUICK))
    assert html.index("Catch-A-Waveform") < html.index("IDC stand-in") < html.index("BlendGAN stand-in")
    assert html.index("BlendGAN stand-in") < html.index("Model surgery")


@pytest.mark.slow
def test_quickstart_trains_every_section(tmp_path, monkeypatch):
    short_idc = idc_demo.demo_config(10).replace(dip_iters=20)  # the demo at 48 px, few iterations
    monkeypatch.setattr(idc_demo, "demo_config", lambda iterations: short_idc)
    html = _assert_index_of_existing_images(quickstart.run(tmp_path / "qs", **QUICK))
    assert "IDC" in html and "prefill.png" in html
    assert "BlendGAN: morphing, melding and fusing" in html and "fuse_coffee_chelsea.png" in html
