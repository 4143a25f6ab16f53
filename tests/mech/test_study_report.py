"""Study reports: the HTML lists every finding with its verdict, numbers.json round-trips, bars are drawn."""

import json

import numpy as np
from PIL import Image

from jaxinterp.mech.study_report import Finding, bar_chart_png, mean_spread, write_report


def test_report_lists_findings_and_writes_numbers(tmp_path):
    figure = bar_chart_png({"base": {"full": (0.5, 0.1)}}, tmp_path / "bars.png", "accuracy")
    findings = [Finding("faithful", "1.00", "0.93", True), Finding("gain <b>", "0.16", "-0.02", False, "note")]
    page = write_report(tmp_path, "Study", "intro", findings, [("bars", figure)], {"x": np.float32(0.5)})
    text = page.read_text()
    assert text.count("<tr>") == 3 and "agrees" in text and "differs" in text and "gain &lt;b&gt;" in text
    assert "src='bars.png'" in text
    assert json.loads((tmp_path / "numbers.json").read_text()) == {"x": 0.5}


def test_bar_height_follows_the_value(tmp_path):
    path = bar_chart_png({"g": {"a": (1.0, 0.0), "b": (0.25, 0.0)}}, tmp_path / "b.png", "t")
    pixels = np.asarray(Image.open(path).convert("RGB"))
    blue = (pixels == (33, 102, 172)).all(axis=-1)
    red = (pixels == (178, 24, 43)).all(axis=-1)
    # ignore the legend swatches (right of the plot): count bar rows in the plot area only
    plot = slice(0, pixels.shape[1] - 150)
    blue_rows, red_rows = blue[:, plot].any(axis=1).sum(), red[:, plot].any(axis=1).sum()
    assert abs(blue_rows / red_rows - 4.0) < 0.15


def test_mean_spread():
    assert mean_spread([0.5]) == "0.500"
    assert mean_spread([1.0, 0.0]) == "0.500 +- 0.500 (n=2)"


def test_missing_values_draw_no_bar(tmp_path):
    path = bar_chart_png({"g": {"a": (float("nan"), 0.0), "b": (0.5, 0.0)}}, tmp_path / "n.png", "t")
    pixels = np.asarray(Image.open(path).convert("RGB"))[:, : pixels_width(path) - 150]
    assert not (pixels == (33, 102, 172)).all(axis=-1).any()  # series "a" has no bar
    assert (pixels == (178, 24, 43)).all(axis=-1).any()


def pixels_width(path):
    return Image.open(path).size[0]
