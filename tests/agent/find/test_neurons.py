"""FIND's synthetic neurons: generators, P("1") from log-probabilities over a loopback OpenAI server, the
offline stand-in, and a whole neuron run (interpreter, neuron model and judge) with exact known scores."""

import http.server
import json
import math
import re
import threading

import pytest

from jaxinterp.agent.backends import BackendError, ChatResponse, OpenAICompatibleBackend, RetryPolicy
from jaxinterp.agent.backends.base import TokenLogprob, Usage
from jaxinterp.agent.find import read_benchmark, write_benchmark
from jaxinterp.agent.find.interpreter import interpret
from jaxinterp.agent.find.neuron_data import CONCEPTS, RELATIONS
from jaxinterp.agent.find.neurons import (
    ENTITIES,
    NeuronFunction,
    StandInNeuronModel,
    entity_neurons,
    expected_output,
    neuron_outputs,
    relation_neurons,
    yes_probability,
)
from jaxinterp.agent.find.run import run_benchmark
from jaxinterp.errors import InputError
from tests.agent.fake_openai import send_chat_completion


def test_generators_have_the_papers_structure_and_are_deterministic():
    entities, relations = entity_neurons(0), relation_neurons(0)
    assert [n.kind for n in entities].count("single") == len(CONCEPTS) == 48
    assert [n.kind for n in entities].count("union") == 20
    assert len(relations) == 75 and [n.kind for n in relations].count("clean") == 25 == len(RELATIONS)
    assert entity_neurons(0) == entities and relation_neurons(0) == relations
    assert entity_neurons(1) != entities
    for n in entities:  # search initialisation mixes 5 activating words with 5 others
        members = {w for c in n.concepts for w in CONCEPTS[c]}
        assert sum(w in members for w in n.exemplars) == 5 and len(n.exemplars) == 10
        assert n.test_inputs and set(n.test_inputs) <= members
    for n in relations:
        defined = [x for x in n.exemplars if expected_output(n, x) != "undefined"]
        assert len(n.exemplars) == 10 and len(defined) >= 8 - (len(n.exemplars) - 2) * bool(n.exception)
    ids = [n.id for n in entities]
    assert len(set(ids)) == len(ids)


def _response(top, token=None):
    token = token or top[0][0]
    logprob = dict(top)[token]
    return ChatResponse(token, Usage(1, 1), [TokenLogprob(token, logprob, tuple(top))], "m")


def test_yes_probability_is_p1_over_p0_plus_p1():
    assert yes_probability(_response([("1", math.log(0.3)), ("0", math.log(0.1)), ("2", -1.0)])) == pytest.approx(0.75)
    assert yes_probability(_response([(" 0", math.log(0.6)), ('"1', math.log(0.2))])) == pytest.approx(0.25)
    assert yes_probability(_response([("maybe", -0.1)])) == 0.0  # neither answer among the top tokens
    with pytest.raises(BackendError, match="log-probabilities"):
        yes_probability(ChatResponse("1", Usage(1, 1), None, "m"))


class _LogprobServer(http.server.ThreadingHTTPServer):
    """Answers entity prompts like a model that is sure (p = 0.9) about `related` words, OpenAI-style."""

    def __init__(self, related):
        super().__init__(("127.0.0.1", 0), _LogprobHandler)
        self.related, self.bodies = set(related), []


class _LogprobHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        word = body["messages"][-1]["content"].rsplit("Input: ", 1)[1]
        p1 = 0.9 if word in self.server.related else 0.2
        top = [{"token": "1", "logprob": math.log(p1)}, {"token": "0", "logprob": math.log(1 - p1) - 0.5}]
        token = max(top, key=lambda t: t["logprob"])
        send_chat_completion(self, body["model"], token["token"], logprobs=[{**token, "top_logprobs": top}])

    def log_message(self, *args):
        pass


def test_entity_activation_over_an_openai_compatible_server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    neuron = next(n for n in entity_neurons(0) if n.concepts == ("golf",))
    server = _LogprobServer(["putter"])
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        backend = OpenAICompatibleBackend(url, "", "vicuna", retry=RetryPolicy(timeout=5.0))
        text, ok = NeuronFunction(neuron, backend)(["putter", "window"])
    finally:
        server.shutdown()
        server.server_close()
    # P1 / (P0 + P1) with P0 = (1 - p1) / e^0.5
    expected = [p / (p + (1 - p) * math.exp(-0.5)) for p in (0.9, 0.2)]
    assert ok and text == f"Function input - output pairs: (putter, {expected[0]:.4f}) (window, {expected[1]:.4f})"
    body = server.bodies[0]
    assert body["logprobs"] is True and body["top_logprobs"] == 5 and body["max_tokens"] == 1
    assert 'related to golf, "0" otherwise' in body["messages"][0]["content"]


def test_stand_in_model_answers_every_neuron_from_its_table():
    model = StandInNeuronModel()
    for neuron in relation_neurons(0):  # the relation prompt round-trips for all 75 neurons
        _, _, _, table, _ = next(r for r in RELATIONS if r[0] == neuron.relation)
        words = [*table, "banana split"]
        assert neuron_outputs(neuron, model, words) == [expected_output(neuron, w) for w in words]
    union = next(n for n in entity_neurons(0) if n.kind == "union")
    a, b = union.concepts
    other = next(c for c in CONCEPTS if c not in union.concepts)
    acts = neuron_outputs(union, model, [CONCEPTS[a][0], CONCEPTS[b][0], CONCEPTS[other][0]])
    assert acts == pytest.approx([0.95, 0.95, 0.05])


class _DescribeByProbing:
    """A scripted interpreter: probes the neuron's exemplars (already shown) and names the concept whose words
    activated it, or (`wrong`) another concept; for relations it answers a fixed text."""

    provider, base_url, model = "scripted", "scripted://", "prober"

    def __init__(self, wrong=False):
        self.wrong = wrong

    def chat(self, request):
        pairs = re.findall(r"\(([^,()]+), ([0-9.]+)\)", request.messages[1].text())
        hot = {w for w, y in pairs if float(y) > 0.5}
        found = [c for c, words in CONCEPTS.items() if hot & set(words)]
        if self.wrong:
            found = [next(c for c in CONCEPTS if c not in found)]
        return ChatResponse(f"[DESCRIPTION]: {' or '.join(found) or 'unknown'}", Usage(1, 1), None, self.model)


class _KeywordJudge:
    """A judge that picks the candidate word belonging to a concept named in the description (else no answer,
    which scores as wrong)."""

    provider, base_url, model = "scripted", "scripted://", "judge"

    def chat(self, request):
        prompt = request.messages[-1].text()
        description = prompt.split("\n")[1]
        words = re.findall(r"^(\d)\. (.+)$", prompt, re.M)
        named = {w for c, ws in CONCEPTS.items() if c in description for w in ws}
        pick = next((k for k, w in words if w in named), None)
        return ChatResponse(f"[ANSWER]: {pick}" if pick else "none fits", Usage(1, 1), None, self.model)


@pytest.mark.parametrize(("wrong", "expected"), [(False, 1.0), (True, 0.0)])
def test_neuron_run_end_to_end_with_search_init_and_judge(tmp_path, wrong, expected):
    write_benchmark(entity_neurons(0, n_single=4, n_union=2), tmp_path / "bench")
    assert {e.category for e in read_benchmark(tmp_path / "bench")} == {ENTITIES}
    run = run_benchmark(
        tmp_path / "bench",
        tmp_path / "run",
        interpreter="llm",
        backend=_DescribeByProbing(wrong),
        variant="search_init",
        judge=_KeywordJudge(),
        neuron_model=StandInNeuronModel(),
        show_progress=False,
    )
    acc = run.summary["description_accuracy"][ENTITIES]
    assert acc == {"accuracy": expected, "n": 6}
    records = [json.loads(line) for line in run.results.read_text().splitlines()]
    assert all(r["code_score"] is None and r["rounds"] == 1 for r in records)


def test_neurons_without_a_model_are_skipped_or_refused(tmp_path):
    from jaxinterp.agent.find import string_functions

    write_benchmark([*string_functions(0, 2), *relation_neurons(0)[:3]], tmp_path / "bench")
    run = run_benchmark(tmp_path / "bench", tmp_path / "run", show_progress=False)
    assert set(run.summary["skipped"]) == {"neurons_relations"}
    assert run.summary["counts"]["functions"] == 2
    with pytest.raises(InputError, match="need a language model"):
        run_benchmark(tmp_path / "bench", tmp_path / "run2", categories=["neurons_relations"], show_progress=False)
    with pytest.raises(InputError, match="no function script"):
        interpret(tmp_path / "missing.py", StandInNeuronModel(), "neurons_relations")
