"""`jaxinterp find build / run / score` end to end on a tiny benchmark: offline, resume, and an LLM on loopback."""

import json

import pytest

from jaxinterp.agent.find import run as find_run
from jaxinterp.agent.find.cli import parse_interpreter
from jaxinterp.agent.find.offline import OfflineInterpreter
from jaxinterp.cli import main
from tests.agent.fake_openai import serve


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    folder = tmp_path_factory.mktemp("find") / "bench"
    args = ["find", "build", "--out", str(folder), "--numeric", "6", "--strings", "6", "--mlp-steps", "10"]
    assert main(args) == 0
    return folder


class CountingOffline(OfflineInterpreter):
    calls = 0

    def chat(self, request):
        CountingOffline.calls += 1
        return super().chat(request)


@pytest.fixture
def counting(monkeypatch):
    CountingOffline.calls = 0
    monkeypatch.setattr(find_run, "OfflineInterpreter", CountingOffline)
    return CountingOffline


def _records(out):
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_offline_run_writes_results_summary_transcripts_and_html(bench, tmp_path, counting):
    out = tmp_path / "run"
    assert main(["find", "run", "--benchmark", str(bench), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["code_accuracy"]) == {"numeric", "string"}
    assert all(0.0 <= v["accuracy"] <= 1.0 and v["n"] == 6 for v in summary["code_accuracy"].values())
    assert summary["counts"]["functions"] == 12 and summary["counts"]["interpreted_this_run"] == 12
    assert summary["description_accuracy"] is None and "judge model" in summary["description_note"]
    records = _records(out)
    assert sorted((r["category"], r["id"]) for r in records) == sorted(
        (c, f"f{i:05d}") for c in ("numeric", "string") for i in range(6)
    )
    assert {r["task"] for r in records} == {"numeric", "numeric_mlp", "string"}
    assert all(r["description_score"] is None and r["stopped_reason"] == "answer" for r in records)
    assert all((out / r["transcript"]).exists() for r in records)
    page = (out / "index.html").read_text()
    assert "paper's number" in page and "numeric" in page
    assert counting.calls == 24  # two replies per function


def test_score_rereads_results_without_interpreting(bench, tmp_path, counting, capsys):
    out = tmp_path / "run"
    args = ["find", "run", "--benchmark", str(bench), "--out", str(out), "--quiet", "--limit", "2"]
    assert main(args) == 0
    before = json.loads((out / "summary.json").read_text())
    (out / "summary.json").unlink()
    (out / "index.html").unlink()
    calls = counting.calls
    capsys.readouterr()
    assert main(["find", "score", "--run", str(out)]) == 0
    assert counting.calls == calls  # nothing interpreted
    printed = capsys.readouterr().out
    assert (
        "| category | n | code accuracy |" in printed and "| numeric | 2 |" in printed and "| string | 2 |" in printed
    )
    after = json.loads((out / "summary.json").read_text())
    assert after["code_accuracy"] == before["code_accuracy"] and after["counts"]["interpreted_this_run"] == 0
    assert "paper's number" in (out / "index.html").read_text()
    assert main(["find", "score", "--run", str(tmp_path / "nope")]) == 2
    assert "no FIND run" in capsys.readouterr().err


def test_generate_is_an_alias_of_build(tmp_path):
    args = ["find", "generate", "--out", str(tmp_path / "b"), "--numeric", "0", "--strings", "2"]
    assert main(args) == 0
    assert len(list((tmp_path / "b").rglob("f0000*"))) >= 2


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("offline", ("offline", None, None)),
        ("llm", ("llm", None, None)),
        ("openai:gpt-4o", ("llm", "openai", "gpt-4o")),
        ("anthropic:claude-x:latest", ("llm", "anthropic", "claude-x:latest")),
    ],
)
def test_interpreter_names_provider_and_model(value, parsed):
    assert parse_interpreter(value) == parsed


def test_bad_interpreter_exits_2(bench, tmp_path, capsys):
    args = ["find", "run", "--benchmark", str(bench), "--out", str(tmp_path / "o"), "--interpreter", "gemini:x"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "openai:MODEL" in capsys.readouterr().err


def test_rerun_skips_finished_functions_and_finishes_a_cut_run(bench, tmp_path, counting):
    out = tmp_path / "run"
    args = ["find", "run", "--benchmark", str(bench), "--out", str(out), "--quiet", "--categories", "string"]
    assert main(args) == 0
    assert counting.calls == 12
    assert main(args) == 0
    assert counting.calls == 12  # nothing interpreted again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["resumed"] == 6 and summary["counts"]["interpreted_this_run"] == 0
    lines = (out / "results.jsonl").read_text().splitlines()
    (out / "results.jsonl").write_text("\n".join(lines[:4]) + "\n" + lines[4][:20])  # killed mid-write
    assert main(args) == 0
    assert counting.calls == 16  # the two unfinished functions only
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["functions"] == 6 and summary["counts"]["resumed"] == 4


def test_bad_input_exits_2_with_one_line(bench, tmp_path, capsys):
    assert main(["find", "run", "--benchmark", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert (
        main(["find", "run", "--benchmark", str(bench), "--out", str(tmp_path / "o"), "--categories", "neurons"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no benchmark folder" in err[0] and "unknown category neurons" in err[1]


def test_llm_without_key_exits_2_naming_the_variable(bench, tmp_path, monkeypatch, capsys):
    for var in ("OPENAI_API_KEY", "JAXINTERP_LLM_BASE_URL", "OPENAI_BASE_URL", "JAXINTERP_LLM_PROVIDER"):
        monkeypatch.delenv(var, raising=False)
    args = ["find", "run", "--benchmark", str(bench), "--out", str(tmp_path / "o"), "--interpreter", "llm"]
    assert main([*args, "--model", "gpt-4o"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "OPENAI_API_KEY" in err[0]
    args[-1] = "openai:gpt-4o"
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "OPENAI_API_KEY" in err[0]
    assert not (tmp_path / "o").exists()


def _probe_then_identity(body: dict) -> str:
    """Probes once, then answers "identity"; as judge always picks candidate 1."""
    messages = body["messages"]
    if "candidate functions" in json.dumps(messages):
        return "[ANSWER]: 1"
    if len(messages) == 2:
        return 'Let me look. PYTHON(function.py "hello" "World")'
    return "[DESCRIPTION]: returns its input unchanged\n[CODE]: def f(x):\n    return x"


def test_llm_run_on_loopback_server_records_tokens_and_judges(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "llm"
    with serve(_probe_then_identity) as server:
        args = ["find", "run", "--benchmark", str(bench), "--out", str(out), "--quiet"]
        args += ["--interpreter", "openai:local-model", "--base-url", f"http://127.0.0.1:{server.server_address[1]}"]
        args += ["--categories", "string", "--limit", "2", "--judge"]
        assert main(args) == 0
    records = _records(out)
    assert [r["id"] for r in sorted(records, key=lambda r: r["id"])] == ["f00000", "f00001"]
    for r in records:
        assert r["description"] == "returns its input unchanged" and r["rounds"] == 2
        assert 0.0 <= r["code_score"] <= 1.0 and 0.0 <= r["description_score"] <= 1.0
    # Both functions open with the same prompt; at temperature 0 the second one's first reply comes from the
    # cache and bills no tokens.
    assert sorted(r["usage"]["prompt_tokens"] for r in records) == [10, 20]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tokens_all_functions"] == {"calls": 4, "prompt_tokens": 30, "completion_tokens": 15}
    total = summary["usage_this_run"]["total"]  # the interpreter's 4 calls and the judge's
    assert total["calls"] == 4 + 2 * find_run.UNIT_TESTS_PER_FUNCTION and total["cached_calls"] == 1
    assert total["cost_usd"] is None  # a local model has no price
    assert summary["description_accuracy"]["string"]["n"] == 2
    judge_calls = [b for b in server.bodies if "candidate functions" in json.dumps(b["messages"])]
    assert len(judge_calls) == 2 * find_run.UNIT_TESTS_PER_FUNCTION
    assert any((out / "llm-cache").iterdir())
