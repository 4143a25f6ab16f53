"""`jaxinterp quickstart` writes an index.html whose every image exists (tiny preset for speed)."""

import re

from PIL import Image

from jaxinterp import quickstart
from jaxinterp.gen.idc import demo as idc_demo


def test_quickstart_writes_an_index_of_existing_images(tmp_path, monkeypatch):
    short_idc = idc_demo.demo_config(10).replace(dip_iters=20)  # the demo at 48 px, few iterations
    monkeypatch.setattr(idc_demo, "demo_config", lambda iterations: short_idc)
    index = quickstart.run(
        tmp_path / "qs", image="builtin:coffee", preset="tiny", mech_steps=20, find_numeric=2, find_strings=2
    )
    html = index.read_text()
    sources = re.findall(r"<img src='([^']+)'", html)
    assert len(sources) >= 12
    for src in sources:
        assert not src.startswith("/")  # relative: the folder can be moved
        Image.open(index.parent / src).verify()
    assert "animation.gif" in html and "SinGAN: random samples" in html
    assert "Catch-A-Waveform: audio from one recording" in html and "generated_0.png" in html
    assert "IDC" in html and "prefill.png" in html
    assert "BlendGAN: morphing, melding and fusing" in html and "fuse_coffee_chelsea.png" in html
    assert "Model surgery: activation patching" in html and "patching_head_out_layer_head.png" in html
    assert "FIND: function interpretation (offline)" in html and "2 numeric and 2 string functions" in html
    assert "numeric: " in html and "string: " in html and (index.parent / "find" / "run" / "summary.json").is_file()
