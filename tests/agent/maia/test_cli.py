"""`jaxinterp maia describe|benchmark`: offline end to end, the agent on a loopback server, clear input errors."""

import json
import re

from jaxinterp.cli import main
from tests.agent.fake_openai import serve

EXPERIMENT = """[CODE]:
```python
def execute_command(system, tools):
    prompts = [f"a {c} square on sand" for c in ["green", "blue", "red", "yellow"]]
    activations, masked = system.call_neuron(tools.text2image(prompts))
    tools.save_experiment_log(activation_list=activations, image_list=masked, image_titles=prompts,
                              image_textual_information=None)
```"""


def _reply(body) -> str:
    """Agent: measures four coloured squares, labels the unit with the most activating colour. Judge: yes."""
    messages = body["messages"]
    if "ground-truth selectivity" in json.dumps(messages):
        return "[ANSWER]: yes"
    if len(messages) == 2:
        return EXPERIMENT
    log = "\n".join(p["text"] for p in messages[-1]["content"] if p["type"] == "text")
    found = re.findall(r'"a ([a-z]+) square on sand", activation: ([0-9.]+)', log)
    best = max(found, key=lambda pair: float(pair[1]))[0]
    return f"[DESCRIPTION]: it fires on {best} things.\n[LABEL]: {best}"


def test_offline_describe_labels_a_synthetic_neuron_and_writes_its_exemplars(tmp_path, capsys):
    out = tmp_path / "unit"
    assert main(["maia", "describe", "--out", str(out), "--unit", "star", "--num-images", "80"]) == 0
    assert "[LABEL]: star" in capsys.readouterr().out
    assert (out / "label.txt").read_text().strip() == "star"
    assert len(list((out / "exemplars").glob("*.png"))) == 15 and "exemplar 1" in (out / "index.html").read_text()


def test_agent_benchmark_on_loopback_server_with_judge(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "bench"
    args = ["maia", "benchmark", "--out", str(out), "--num-images", "80", "--limit", "1", "--judge"]
    with serve(_reply) as server:
        args += ["--agent", "openai:scripted", "--base-url", f"http://127.0.0.1:{server.server_address[1]}"]
        assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "MAIA agent (scripted, v1)"
    assert summary["modes"]["mono"]["label_accuracy"] == 1.0  # the first mono neuron is "red"
    assert all(row["judge_accuracy"] == 1.0 and row["n"] == 1 for row in summary["modes"].values())
    assert len(list((out / "units").glob("*/experiment.html"))) == 3
    usage = json.loads((out / "usage.json").read_text())["total"]
    assert usage["calls"] == 3 * 2 + 3  # 2 replies per unit, 3 judgements
    assert usage["cached_calls"] >= 2  # every unit's first request is the same: answered from the cache
    assert usage["prompt_tokens"] == 10 * (usage["calls"] - usage["cached_calls"])
    assert (out / "llm-cache").is_dir()


def test_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert main(["maia", "describe", "--out", str(tmp_path)]) == 2
    assert "either a synthetic neuron" in capsys.readouterr().err
    assert main(["maia", "describe", "--out", str(tmp_path), "--unit", "purple_unicorn"]) == 2
    assert "unknown concept(s) unicorn" in capsys.readouterr().err
    assert main(["maia", "benchmark", "--out", str(tmp_path), "--judge"]) == 2
    assert (
        main(
            [
                "maia",
                "describe",
                "--out",
                str(tmp_path),
                "--unit",
                "red",
                "--agent",
                "offline-agent",
                "--protocol",
                "v2",
            ]
        )
        == 2
    )
    assert "protocol v1 only" in capsys.readouterr().err
