"""FIND function generators: counts, determinism, code == evaluate, corruption, scripts, layout, MLP fit."""

import json
import subprocess
import sys
from collections import Counter

import chex
import numpy as np
import pytest

from jaxinterp.agent.find import (
    NUMERIC_TEST_INPUTS,
    format_pairs,
    numeric_functions,
    read_benchmark,
    run_code,
    string_functions,
    write_benchmark,
)
from jaxinterp.agent.find.numeric import (
    COMPOSITE_FAMILIES,
    SIMPLE_FAMILIES,
    _base_fn,
    _in_interval,
    build_numeric,
    numeric_specs,
)
from jaxinterp.agent.find.strings import OPS


@pytest.fixture(scope="module")
def numeric_1000_specs():
    """The paper-sized draw without MLP training (MLP specs carry only their target)."""
    return numeric_specs(seed=0, count=1000, train_mlps=False)


@pytest.fixture(scope="module")
def small_numeric():
    """A small draw with trained MLPs (count 40 -> 6 MLPs)."""
    return numeric_functions(seed=3, count=40)


@pytest.fixture(scope="module")
def strings_1000():
    return string_functions(seed=0, count=1000)


def _same(a, b) -> bool:
    return np.array_equal(np.asarray(a, float), np.asarray(b, float), equal_nan=True)


def test_numeric_counts_match_release(numeric_1000_specs):
    specs = numeric_1000_specs
    assert Counter(s["variant"] for s in specs) == {"mlp": 150, "clean": 483, "noised": 176, "corrupted": 191}
    assert [s["variant"] for s in specs[:150]] == ["mlp"] * 150  # f00000-f00149, as in the release
    assert Counter(s["type"] for s in specs) == {"simple": 850, "composite": 150}
    for s in specs:
        fams = {s["family"], s.get("family2", s["family"])}
        assert fams <= set(SIMPLE_FAMILIES if s["type"] == "simple" else COMPOSITE_FAMILIES)
        if "noise" in s:
            assert s["noise"]["type"] in ("normal", "uniform", "poisson")
    assert set(s["family"] for s in specs if s["type"] == "simple") == set(SIMPLE_FAMILIES)
    assert len(SIMPLE_FAMILIES) == 16
    assert {s["corruption"]["type"] for s in specs if "corruption" in s} == {
        "interval_smaller",
        "interval_larger",
        "interval_inside",
    }


def test_string_counts_match_release(strings_1000):
    assert Counter(f.kind for f in strings_1000) == {"single": 300, "composition": 700}
    assert {f.spec["ops"][0] for f in strings_1000 if f.kind == "single"} == set(OPS)
    for f in strings_1000:
        assert len(f.test_inputs) == 10 and len(set(f.test_inputs)) == 10
        if f.kind == "composition":
            assert f.spec["ops"][0] != f.spec["ops"][1]


def test_test_points():
    assert len(NUMERIC_TEST_INPUTS) == 256
    assert NUMERIC_TEST_INPUTS[0] == -127.5 and NUMERIC_TEST_INPUTS[-1] == 127.5


def test_deterministic_from_seed(small_numeric):
    again = numeric_functions(seed=3, count=40)
    assert [f.code for f in again] == [f.code for f in small_numeric]
    for f, g in zip(small_numeric, again, strict=True):
        assert _same(f.evaluate(f.test_inputs), g.evaluate(g.test_inputs))
    other = numeric_functions(seed=4, count=40)
    assert sum(f.code != g.code for f, g in zip(small_numeric, other, strict=True)) > 30
    s1, s2, s3 = string_functions(5, 50), string_functions(5, 50), string_functions(6, 50)
    assert [f.code for f in s1] == [f.code for f in s2]
    assert [f.evaluate(f.test_inputs) for f in s1] == [f.evaluate(f.test_inputs) for f in s2]
    assert sum(f.code != g.code for f, g in zip(s1, s3, strict=True)) > 30


def test_numeric_code_reproduces_evaluate(numeric_1000_specs, small_numeric):
    rng = np.random.default_rng(0)
    idx = rng.choice(range(150, 1000), 50, replace=False)  # the non-MLP functions of the paper-sized draw
    fns = [build_numeric(f"f{i:05d}", numeric_1000_specs[i]) for i in idx]
    fns += [f for f in small_numeric if f.kind == "mlp"]
    assert {f.kind for f in fns} == {"clean", "noised", "corrupted", "mlp"}
    for f in fns:
        g = run_code(f.code)
        inputs = list(f.test_inputs) + [0, 1, -3, 99.9]
        assert _same([g(x) for x in inputs], f.evaluate(inputs)), f.id


def test_string_code_reproduces_evaluate(strings_1000):
    for f in strings_1000[::20]:
        g = run_code(f.code)
        inputs = f.test_inputs + ["", "a", "Hello World 42"]
        assert [g(x) for x in inputs] == f.evaluate(inputs), f.id


def test_noise_is_seeded_per_input(numeric_1000_specs):
    noised = [s for s in numeric_1000_specs if s["variant"] == "noised"]
    for kind, lo, hi in (("normal", -5, 5), ("uniform", -1, 1), ("poisson", 0, 10)):
        spec = next(s for s in noised if s["noise"]["type"] == kind)
        f, g = build_numeric("f", spec), build_numeric("f", spec)
        clean = build_numeric("f", spec | {"variant": "clean"})
        y = np.array(f.evaluate(NUMERIC_TEST_INPUTS))
        assert _same(y, g.evaluate(NUMERIC_TEST_INPUTS))  # same input, same noise
        noise = (y - np.array(clean.evaluate(NUMERIC_TEST_INPUTS)))[np.isfinite(y)]
        assert np.std(noise) > 0.2 and noise.min() >= lo - 1e-9 and noise.max() <= hi + 1e-9, kind


def test_corruption_changes_outputs_only_inside_interval(numeric_1000_specs):
    specs = [s for s in numeric_1000_specs if s["variant"] == "corrupted"]
    assert len(specs) == 191
    for spec in specs:
        f = build_numeric("f", spec)
        clean = build_numeric("f", spec | {"variant": "clean"})
        interval = f.corruption["interval"]
        edges = [b for b in interval if b is not None]
        xs = list(NUMERIC_TEST_INPUTS) + edges + [e + d for e in edges for d in (-0.05, 0.05)]
        inside = np.array([_in_interval(float(x), interval) for x in xs])
        y, y0 = np.array(f.evaluate(xs)), np.array(clean.evaluate(xs))
        assert _same(y[~inside], y0[~inside])
        assert inside.any() and np.all(y[inside] != y0[inside])
        assert np.all(np.abs(y[inside] - f.corruption["mean"]) < 1.0)  # N(mean, 0.1)


def test_mlp_fits_target(small_numeric):
    mlps = [f for f in small_numeric if f.kind == "mlp"]
    assert len(mlps) == 6
    for f in mlps:
        w = f.spec["mlp"]
        chex.assert_shape([np.array(w["w1"]), np.array(w["b1"]), np.array(w["w2"])], (64,))
        target = _base_fn(f.spec)
        xs = np.linspace(*f.domain, 2000)
        t = np.array([target(x) for x in xs])
        p = np.array(f.evaluate(xs))
        rel = np.mean((t - p) ** 2) / max(np.var(t), 1e-6 * max(1.0, np.mean(t**2)))
        assert rel < 0.1, (f.name, rel)
        assert w["fit_rel_mse"] < 0.1


def _run_script(path, args):
    out = subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, check=True, timeout=60)
    return out.stdout


def test_scripts_print_release_format(tmp_path, small_numeric, strings_1000):
    kinds = {}
    for f in small_numeric:
        kinds.setdefault(f.kind, f)
    picks = list(kinds.values()) + [next(f for f in strings_1000 if f.kind == k) for k in ("single", "composition")]
    write_benchmark(picks, tmp_path)
    for f in picks:
        folder = "numeric" if f.category == "numeric" else "strings"
        script = tmp_path / folder / f.id / "function_code.py"
        args = ["1", "-2.5", "0.5", "100"] if f.category == "numeric" else ["hello", "Ab3 xY", "zebra"]
        stdout = _run_script(script, args)
        assert stdout == format_pairs(args, f.evaluate(args)) + "\n"
        assert stdout.startswith("Function input - output pairs: (" + args[0] + ", ")
    # the exact layout of one numeric line
    f = kinds["clean"]
    y = f.evaluate([2])[0]
    assert _run_script(tmp_path / "numeric" / f.id / "function_code.py", ["2"]) == (
        f"Function input - output pairs: (2, {y}) \n"
    )


def test_write_read_round_trip(tmp_path, small_numeric, strings_1000):
    fns = small_numeric + strings_1000[:30]
    entries = read_benchmark(write_benchmark(fns, tmp_path))
    assert [(e.category, e.id) for e in entries] == [(f.category, f.id) for f in fns]
    for e, f in zip(entries, fns, strict=True):
        assert e.description == f.description
        assert e.script.exists() and e.script.name == "function_code.py"
        assert e.domain == f.domain and e.corruption == f.corruption
        assert e.test_inputs == f.test_inputs
        rebuilt = (build_numeric(f.id, e.meta["spec"]) if f.category == "numeric" else f).code
        assert rebuilt == f.code
    data = json.loads((tmp_path / "numeric" / "data.json").read_text())
    assert {"dir", "name", "type", "params", "domain", "noise_type", "corruption_type", "corruption_params"} <= set(
        data[0]
    )
    assert read_benchmark(tmp_path / "strings")[0].id == "f00000"


def test_read_release_layout(tmp_path):
    """The downloaded release: GT script named by func_name_dict.json, string items in test_data.json."""
    num = tmp_path / "numeric"
    for fid in ("f00000", "f00001"):
        (num / fid).mkdir(parents=True)
    entry = {
        "type": "simple",
        "params": [26.8, -8.2],
        "name": "absolute((26.8, -8.2))",
        "dir": "f00001",
        "corruption_type": "interval_smaller",
        "corruption_params": {"std": 1345.3, "boundary": [31.1]},
        "domain": [-100, 100],
        "noise_type": "uniform",
        "noise_params": 1,
        "GPT_description": "",
    }
    (num / "data.json").write_text(json.dumps([entry | {"dir": "f00000"}, entry, entry | {"dir": "f00002"}]))
    (num / "func_name_dict.json").write_text(
        json.dumps({"f00000": "load_mlp.py", "f00001": "corrupted_function_code.py"})
    )
    strs = tmp_path / "strings"
    (strs / "f00000").mkdir(parents=True)
    (strs / "test_data.json").write_text(
        json.dumps([{"name": "f00000", "description": ": Appends 'lvmBi'.\n\n", "test_inputs": ': "Hello", World'}])
    )
    entries = read_benchmark(tmp_path)
    assert [(e.category, e.id, e.script.name) for e in entries] == [
        ("numeric", "f00000", "load_mlp.py"),
        ("numeric", "f00001", "corrupted_function_code.py"),
        ("string", "f00000", "function_code.py"),
    ]
    assert entries[0].corruption is None and entries[0].description == "absolute((26.8, -8.2))"
    assert entries[1].corruption == {"type": "interval_smaller", "interval": [None, 31.1], "mean": 1345.3, "std": 0.1}
    assert entries[2].description == "Appends 'lvmBi'." and entries[2].test_inputs == ["Hello", "World"]
