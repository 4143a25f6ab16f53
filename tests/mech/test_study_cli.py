"""`jaxinterp mech entity-tracking --smoke` and `jaxinterp mech variable-binding` end to end in CI time:
models trained and fine-tuned in a shared vocabulary, every analysis run, the report written, a rerun
reusing the finished work."""

import json

from jaxinterp.cli import main
from jaxinterp.mech.entity_tracking.report import findings


def test_entity_tracking_smoke_runs_every_step_and_reuses_its_work(tmp_path):
    out = tmp_path / "et"
    assert main(["mech", "entity-tracking", "--smoke", "--out", str(out), "--quiet"]) == 0
    numbers = json.loads((out / "numbers.json").read_text())
    assert set(numbers["accuracies"]) == {"base", "arithmetic", "positional"}
    (seed,) = numbers["seeds"]
    assert set(seed["faithfulness"]) == {"base", "arithmetic", "positional"}
    assert set(seed["cmap"]) == {"arithmetic", "positional"}
    assert 0 < seed["nodes"] <= seed["all_nodes"]
    assert set(seed["accuracies"]) == {"base", "arithmetic", "positional"}
    by_boxes = seed["accuracy_by_boxes"]  # the smoke config's box counts
    assert set(by_boxes) == {"base", "arithmetic", "positional"}
    assert all(set(v) == {"3", "4"} for v in by_boxes.values())
    for key in ("random_accuracy", "random_outside_accuracy", "empty_accuracy"):
        assert 0.0 <= seed["faithfulness"]["base"][key] <= 1.0
    text = (out / "index.html").read_text()
    assert text.count("<tr>") == 1 + len(findings([seed | {"circuit": None}]))
    for name in ("faith.png", "dcm.png", "cmap.png", "boxes.png", "path_patching_value_fetcher.png"):
        assert (out / name).is_file()
    stamp = (out / "seed_0.json").stat().st_mtime_ns
    assert main(["mech", "entity-tracking", "--smoke", "--out", str(out), "--quiet"]) == 0
    assert (out / "seed_0.json").stat().st_mtime_ns == stamp  # finished seeds are not redone


def test_bad_study_arguments_exit_2(tmp_path, capsys):
    assert main(["mech", "entity-tracking", "--seeds", "0", "--out", str(tmp_path)]) == 2
    assert main(["mech", "variable-binding", "--steps", "0", "--out", str(tmp_path)]) == 2
