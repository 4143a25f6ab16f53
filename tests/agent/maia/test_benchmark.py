"""The offline describer recovers synthetic neurons' labels at the bar; predictive evaluation separates the sets."""

import json

import pytest

from jaxinterp.agent.maia import benchmark, describer, predictive


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return benchmark.run_benchmark(tmp_path_factory.mktemp("maia-bench"), num_images=300)


def test_offline_describer_meets_the_bar_on_every_mode(result):
    modes = result.summary["modes"]
    assert [modes[m]["n"] for m in ("mono", "or", "and")] == [27, 18, 20]
    # The bar is 0.8 / 0.5 / 0.5; with exact masks the describer should get (nearly) all of them.
    assert modes["mono"]["label_accuracy"] >= 0.95
    assert modes["or"]["label_accuracy"] >= 0.8 and modes["and"]["label_accuracy"] >= 0.8
    lines = result.results.read_text().splitlines()
    assert len(lines) == 65 and all("predictive" in json.loads(line) for line in lines)
    assert "label accuracy" in result.html.read_text()


def test_predictive_evaluation_separates_positive_and_neutral_and_the_control_does_not(result):
    for row in result.summary["modes"].values():
        assert row["predictive_positive"] > 0.85 and row["predictive_neutral"] < 0.15
        assert abs(row["control_positive"] - row["control_neutral"]) < 0.3


@pytest.mark.parametrize(
    ("label", "mode", "concepts"),
    [
        ("stripes", "mono", ("stripes",)),
        ("The unit fires on red or blue things", "or", ("red", "blue")),
        ("boats, but only when water is in the image", "and", ("boat", "water")),
        ("nothing in particular", "none", ()),
    ],
)
def test_labels_are_read_word_by_word(label, mode, concepts):
    assert describer.parse_label(label) == (mode, concepts)
    if mode != "none":
        assert describer.label_matches(label, mode, concepts)
    assert not describer.label_matches("circle", "mono", ("square",))


def test_offline_prompts_name_the_concepts_and_neutrals_avoid_them():
    positives, neutrals = predictive.offline_prompts("star when night is present", 5)
    assert all("star" in p and "night" in p for p in positives)
    assert not any("star" in n or "night" in n for n in neutrals)
