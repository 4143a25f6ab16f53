"""IDC's quickstart section runs end to end and returns an index section whose figures exist.

The demo's config, image and hole are swapped for the tiny preset on the 40 px test image, so it
reuses the programs the other IDC tests compile; the real demo (chelsea at 48 px) is what
`jaxinterp quickstart` runs."""

import json

from jaxinterp.gen.idc import demo
from jaxinterp.gen.idc.config import PRESETS


def test_quickstart_section_trains_completes_and_reuses(idc_inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "SOURCE", str(idc_inputs[0]))
    monkeypatch.setattr(demo, "HOLE", (0.65, 0.9, 0.6, 0.85))  # conftest's hole, rows 26-35, cols 24-33
    monkeypatch.setattr(demo, "demo_config", lambda iterations: PRESETS["tiny"])
    title, text, figures = demo.quickstart_section(tmp_path)
    assert title.startswith("IDC") and "Hole diversity" in text and "24x24 and 32x32 px" in text
    assert [caption for caption, _ in figures] == [
        "input (hole in white) and completions",
        "Deep-Image-Prior pre-fill of the coarse scale",
    ]
    assert all(path.is_file() for _, path in figures)
    metrics = json.loads((tmp_path / "results" / "metrics.json").read_text())
    assert metrics["num"] == demo.NUM_COMPLETIONS and metrics["hole_diversity"] > 0
    assert f"{metrics['hole_diversity']:.2f}" in text
    trained = (tmp_path / "model" / "scales").stat().st_mtime_ns
    demo.quickstart_section(tmp_path)  # reuses the trained model
    assert (tmp_path / "model" / "scales").stat().st_mtime_ns == trained
