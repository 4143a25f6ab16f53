"""`jaxinterp mech ...` end to end on a tiny model: train, list tasks, patch (JSON + valid PNG heatmaps), and
exit code 2 with one line for bad input."""

import json

import pytest
from PIL import Image

from jaxinterp.cli import main

TINY = ["--size", "tiny", "--d-model", "32", "--heads", "2", "--batch-size", "16", "--quiet"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "boxes-tiny"
    assert main(["mech", "train", "--task", "boxes", "--out", str(out), "--steps", "3", *TINY]) == 0
    return out


def test_train_writes_a_checkpoint_folder(model_dir):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "task.json"):
        assert (model_dir / name).is_file()
    assert json.loads((model_dir / "task.json").read_text())["steps"] == 3


def test_tasks_lists_the_registry(capsys):
    assert main(["mech", "tasks"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("boxes", "induction", "arithmetic"))


@pytest.mark.parametrize(
    "site, views", [("head_out", ("layer_head", "layer_position")), ("resid_post", ("layer_position",))]
)
def test_patch_writes_results_and_heatmaps(model_dir, tmp_path, site, views):
    out = tmp_path / "patch"
    assert main(["mech", "patch", "--model", str(model_dir), "--site", site, "--n", "4", "--out", str(out)]) == 0
    result = json.loads((out / f"patching_{site}.json").read_text())
    assert result["task"] == "boxes" and result["axes"]["layer"] == 2 and result["axes"]["seq"] == 26
    assert len(result["logit_difference"]) == 2 and result["heatmap_values"]
    for view in views:
        path = out / f"patching_{site}_{view}.png"
        with Image.open(path) as image:
            image.verify()
        assert str(path) in result["heatmaps"]


def test_patch_over_layer_and_heads_writes_a_layer_by_head_grid(model_dir, tmp_path):
    out = tmp_path / "patch"
    argv = ["mech", "patch", "--model", str(model_dir), "--site", "head_out", "--over", "layer,heads"]
    assert main([*argv, "--n", "4", "--out", str(out)]) == 0
    result = json.loads((out / "patching_head_out.json").read_text())
    assert result["axes"] == {"layer": 2, "heads": 2} and result["over"] == ["layer", "heads"]
    with Image.open(out / "patching_head_out_layer_head.png") as image:
        image.verify()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["mech", "patch", "--model", "{model}", "--site", "head_out", "--over", "layer,embedding"], "component axes"),
        (["mech", "patch", "--model", "{model}", "--task", "nope", "--site", "head_out"], "unknown task 'nope'"),
        (["mech", "patch", "--model", "{model}", "--site", "nowhere"], "unknown site 'nowhere'"),
        (["mech", "patch", "--model", "{missing}", "--site", "head_out"], "does not exist"),
        (["mech", "patch", "--model", "{model}", "--task", "induction", "--site", "head_out"], "not trained on"),
        (["mech", "train", "--task", "nope", "--out", "{missing}", "--quiet"], "unknown task 'nope'"),
        (["mech", "train", "--size", "huge", "--out", "{missing}", "--quiet"], "unknown model size 'huge'"),
    ],
)
def test_bad_input_exits_2_with_one_line(model_dir, tmp_path, capsys, argv, message):
    argv = [a.format(model=model_dir, missing=tmp_path / "missing") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
