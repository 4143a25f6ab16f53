"""The MAIA loop end to end against a loopback OpenAI-compatible server replaying a scripted session: code runs in
the sandbox, errors come back, images are sent as data URIs, the description is parsed; v1 and v2."""

import pytest

from jaxinterp.agent.backends import OpenAICompatibleBackend
from jaxinterp.agent.maia import agent, dataset, neurons, prompts
from jaxinterp.agent.maia.system import ImageStore, synthetic_system
from jaxinterp.agent.maia.tools import Tools
from tests.agent.fake_openai import serve

V1_FAILING = """[HYPOTHESIS LIST]:
Hypothesis_1: stars
[CODE]:
```python
def execute_command(system, tools):
    images = tools.text2image(["a yellow star on grass"])
    return len(images) / 0
```"""
V1_EXPERIMENT = """[HYPOTHESIS LIST]:
Hypothesis_1: the unit detects stars
[CODE]:
```python
def execute_command(system, tools):
    exemplar_acts, exemplars = tools.dataset_exemplars(system)
    prompts = ["a yellow star on grass", "a yellow circle on grass"]
    images = tools.text2image(prompts)
    activations, masked = system.call_neuron(images)
    tools.save_experiment_log(activation_list=exemplar_acts[:2] + activations,
                              image_list=exemplars[:2] + masked,
                              image_titles=["exemplar 1", "exemplar 2"] + prompts,
                              image_textual_information=tools.summarize_images(exemplars[:2]))
```"""
V2_FIRST = """Let me start.
```python
acts, ex = tools.dataset_exemplars(system)
count = 1
print("top activation", acts[0])
```"""
V2_SECOND = """```python
images = tools.text2image(["a red star at night"])
count += 1
tools.display(images[0], f"count {count}, activation {system.call_neuron(images)[0][0]}")
```"""
ANSWER = "[DESCRIPTION]: The unit fires on stars of any colour.\n[LABEL]: star"


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    return dataset.stack(dataset.load_source(tmp_path_factory.mktemp("maia"), "train", num_train=80, num_test=4))


def _run(script, neuron, protocol, pool, out, monkeypatch, **kwargs):
    """Runs the loop for a synthetic neuron against a server replaying `script`; (result, request bodies)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    replies = iter(script)
    store = ImageStore()
    system = synthetic_system(neurons.parse_neuron(neuron), store)
    with serve(lambda body: next(replies)) as server:
        backend = OpenAICompatibleBackend(f"http://127.0.0.1:{server.server_address[1]}", "", "scripted-vlm")
        result = agent.interpret_unit(system, Tools(store, pool), backend, protocol, out=out, **kwargs)
    return result, server.bodies


def _texts(message):
    content = message["content"]
    return [content] if isinstance(content, str) else [p["text"] for p in content if p["type"] == "text"]


def test_v1_session_runs_code_feeds_back_errors_and_images_and_parses_the_answer(pool, tmp_path, monkeypatch):
    result, bodies = _run([V1_FAILING, V1_EXPERIMENT, ANSWER], "star", "v1", pool, tmp_path / "unit", monkeypatch)
    assert (result.description, result.label, result.rounds, result.stopped_reason) == (
        "The unit fires on stars of any colour.",
        "star",
        3,
        "answer",
    )
    first, second, third = bodies
    assert first["messages"][0]["content"] == prompts.api_prompt("v1")
    assert "def call_neuron(self, image_list: list)" in first["messages"][0]["content"]
    error = "\n".join(_texts(second["messages"][-1]))
    assert "Error while executing 'execute_command'" in error and "ZeroDivisionError" in error
    assert 'File "experiment.py", line 3, in execute_command' in error and "maia_runtime" not in error
    log = third["messages"][-1]["content"]
    images = [p["image_url"]["url"] for p in log if p["type"] == "image_url"]
    assert len(images) == 4 and all(u.startswith("data:image/png;base64,") for u in images)
    texts = [p["text"] for p in log if p["type"] == "text"]
    star_line = next(t for t in texts if t.startswith('"a yellow star on grass", activation: '))
    circle_line = next(t for t in texts if t.startswith('"a yellow circle on grass", activation: '))
    assert float(star_line.split(": ")[-1]) >= neurons.FIRE_BASE > float(circle_line.split(": ")[-1])
    assert any(t.startswith("[COMMON]: ") and "star" in t for t in texts)
    assert [e["ok"] for e in result.experiments] == [False, True]
    page = (tmp_path / "unit" / "experiment.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == 4 and "star" in page
    assert (tmp_path / "unit" / "label.txt").read_text().strip() == "star"


def test_v2_session_keeps_the_namespace_and_shows_prints_and_displays(pool, tmp_path, monkeypatch):
    result, bodies = _run([V2_FIRST, V2_SECOND, ANSWER], "star", "v2", pool, tmp_path / "unit", monkeypatch)
    assert result.label == "star" and [e["ok"] for e in result.experiments] == [True, True]
    second, third = bodies[1:]
    assert "top activation" in "\n".join(_texts(second["messages"][-1]))
    log = third["messages"][-1]["content"]
    assert [p["type"] for p in log] == ["image_url", "text"] and log[1]["text"].startswith("count 2, activation 0.")
    assert float(log[1]["text"].split()[-1]) >= neurons.FIRE_BASE


def test_round_limit_asks_for_the_final_answer_and_stops_without_one(pool, tmp_path, monkeypatch):
    result, bodies = _run(["thinking..."] * 3, "red", "v1", pool, tmp_path, monkeypatch, max_rounds=3, final_after=2)
    assert (result.description, result.stopped_reason, result.rounds) == ("", "max_rounds", 3)
    last_user = "\n".join(_texts(bodies[-1]["messages"][-1]))
    assert "No code to run was provided" in last_user and prompts.FINAL_PROMPT in last_user
    assert "No code" in "\n".join(_texts(bodies[1]["messages"][-1]))
    assert prompts.FINAL_PROMPT not in "\n".join(_texts(bodies[1]["messages"][-1]))


def test_answer_parsing_joins_several_labels():
    reply = "[DESCRIPTION]: red things or boats\n[LABEL 1]: red\n[LABEL 2]: boat"
    assert agent.parse_answer(reply) == ("red things or boats", "red OR boat")
    assert agent.parse_answer("no answer yet") is None
