"""`jaxinterp asapnet train|translate|compare` end to end on a tiny run, and the errors a user can make.

Compiling SPADE's training step takes ~30 s on 2 cores, so the CI test scores `compare` on a copied
ASAPNet run and the test that trains both generators is marked slow."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from jaxinterp.cli import main
from jaxinterp.data.paired.procedural import generate
from jaxinterp.gen.asapnet.compare import compare
from jaxinterp.gen.asapnet.run import RunSpec

TINY = ["--size", "32x64", "--batch-size", "2", "--preset", "tiny", "--quiet"]


def test_train_translate_compare_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("JAXINTERP_DATA", str(tmp_path / "data"))
    run = tmp_path / "run"
    assert main(["asapnet", "train", "--out", str(run), "--steps", "3", *TINY]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics) == 3 and all(np.isfinite(m["l1"]) for m in metrics)
    assert Image.open(run / "samples.png").size == (3 * 64, 4 * 32)  # label | fake | real, 4 test pairs
    # a rerun without --resume refuses to overwrite; with --resume and more steps it continues
    assert main(["asapnet", "train", "--out", str(run), "--steps", "3", *TINY]) == 2
    assert main(["asapnet", "train", "--out", str(run), "--steps", "4", "--resume", *TINY]) == 0
    assert len(json.loads((run / "metrics.json").read_text())) == 4

    labels, images = generate(1, 32, 64, seed=9)
    Image.fromarray(labels[0]).save(tmp_path / "labels.png")
    Image.fromarray(images[0]).save(tmp_path / "real.png")
    out = tmp_path / "fake.png"
    args = ["asapnet", "translate", str(tmp_path / "labels.png"), "--model", str(run), "--out", str(out)]
    assert main([*args, "--image", str(tmp_path / "real.png")]) == 0
    assert Image.open(out).size == (64, 32) and (tmp_path / "fake_compare.png").is_file()

    bad = labels[0].copy()
    bad[0, 0] = 200  # class 200 of 10
    Image.fromarray(bad).save(tmp_path / "bad.png")
    capsys.readouterr()
    assert main(["asapnet", "translate", str(tmp_path / "bad.png"), "--model", str(run)]) == 2
    assert "bad.png" in capsys.readouterr().err
    assert main(["asapnet", "translate", str(tmp_path / "labels.png"), "--model", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err

    # compare() on a finished run (copied in, so nothing is retrained): scores and report
    cmp = tmp_path / "cmp"
    shutil.copytree(run, cmp / "asapnet")
    spec = RunSpec("asapnet", height=32, width=64, steps=4, batch_size=2, preset="tiny")
    compare(cmp, {"asapnet": spec}, test_pairs=2, show_progress=False)
    (row,) = json.loads((cmp / "numbers.json").read_text()).values()
    assert row["pairs"] == 2 and row["l1_255"] > 0 and row["swd"] > 0 and np.isfinite(row["psnr"])
    assert (cmp / "index.html").is_file()


@pytest.mark.slow
def test_compare_trains_both_generators(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXINTERP_DATA", str(tmp_path / "data"))
    cmp = tmp_path / "cmp"
    assert main(["asapnet", "compare", "--out", str(cmp), "--steps", "1", "--test-pairs", "2", *TINY]) == 0
    numbers = json.loads((cmp / "numbers.json").read_text())
    assert set(numbers) == {"asapnet", "spade"}
    assert numbers["asapnet"]["generator_params"] != numbers["spade"]["generator_params"]


def test_bad_training_arguments_exit_2(tmp_path):
    assert main(["asapnet", "train", "--out", str(tmp_path / "r"), "--steps", "0", *TINY]) == 2
    assert main(["asapnet", "train", "--out", str(tmp_path / "r"), "--size", "30x64", "--quiet"]) == 2
    assert main(["asapnet", "train", "--out", str(tmp_path / "r"), "--data", "nope", "--quiet"]) == 2


@pytest.mark.slow
def test_bench_times_both_generators_at_paper_width(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert main(["asapnet", "bench", "--sizes", "64x128", "--repeats", "1", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())["rows"]
    assert row["asapnet"]["ms"] > 0 and row["spade"]["ms"] > 0
    assert "SPADE / ASAPNet" in capsys.readouterr().out
