"""The FIND interpreter loop: command parsing, sandboxed execution, round limit, answers; the offline interpreter."""

import http.server
import json
import threading

import numpy as np
import pytest

from jaxinterp.agent.backends import ChatResponse, OpenAICompatibleBackend, RetryPolicy, Usage
from jaxinterp.agent.find.interpreter import (
    MAX_COMMANDS_PER_REPLY,
    MAX_ROUNDS,
    NO_COMMAND_MESSAGE,
    interpret,
    parse_answer,
    parse_commands,
)
from jaxinterp.agent.find.offline import OfflineInterpreter
from jaxinterp.agent.find.scoring import (
    NUMERIC_TEST_POINTS,
    function_outputs,
    score_numeric_code,
    score_string_code,
)
from tests.agent.fake_openai import send_chat_completion

# Function scripts in the released form: `python function.py x1 x2 ...` prints the input/output pairs.
_NUMERIC = """\
import math, random, sys

def f(x):
{body}

print("Function input - output pairs: " + " ".join(f"({{a}}, {{f(float(a))}})" for a in sys.argv[1:]))
"""
_STRING = """\
import sys

def f(x):
{body}

print("Function input - output pairs: " + " ".join(f"({{a}}, {{f(a)}})" for a in sys.argv[1:]))
"""
LINEAR = "    return 3 * x + 2"
NOISY_QUADRATIC = "    return 0.5 * x ** 2 - 3 * x + 1 + random.Random(repr(x)).gauss(0, 1)"
CORRUPTED_SQUARE = (
    "    if 20 <= x <= 40:\n        return 5461.0 + random.Random(repr(x)).gauss(0, 0.1)\n    return x ** 2"
)
REVERSE = "    return x[::-1]"
UPPER_THEN_REVERSE = "    return x.upper()[::-1]"


def numeric_script(tmp_path, body, name="function.py"):
    path = tmp_path / name
    path.write_text(_NUMERIC.format(body=body))
    return path


def string_script(tmp_path, body, name="function.py"):
    path = tmp_path / name
    path.write_text(_STRING.format(body=body))
    return path


class Scripted:
    """A backend that replays `replies` in order (the last one forever) and records what it was sent."""

    provider, base_url, model = "scripted", "scripted://", "scripted"

    def __init__(self, replies):
        self.replies = list(replies)
        self.seen = []

    def chat(self, request):
        self.seen.append(list(request.messages))
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return ChatResponse(text, Usage(1, 1), None, self.model)


# --- parsing -------------------------------------------------------------------------------------------


def test_parse_commands_several_per_reply_commas_and_quotes():
    reply = 'First PYTHON(function.py 1, 2 -3.5) then PYTHON(./temp/function.py "a b" "x,(y)" "say \\"hi\\"")'
    numeric, strings = parse_commands(reply, numeric=True)[0], parse_commands(reply)[1]
    assert numeric.error is None and numeric.args == ("1", "2", "-3.5")
    assert strings.script == "./temp/function.py" and strings.args == ("a b", "x,(y)", 'say "hi"')


@pytest.mark.parametrize(
    "reply, why",
    [
        ("PYTHON(function.py 1 2", "closing parenthesis"),
        ("PYTHON(function.py 'abc')", "single quotes"),
        ('PYTHON(function.py """abc""")', "triple quotes"),
        ("PYTHON(1 2 3)", "script name"),
        ("PYTHON(function.py)", "no inputs"),
        ("PYTHON(function.py 1 two)", "not numbers: two"),
    ],
)
def test_parse_commands_malformed_gives_an_error(reply, why):
    (command,) = parse_commands(reply, numeric=True)
    assert command.error is not None and why in command.error


def test_parse_answer_sections_and_code_fences():
    reply = "Done.\n[DESCRIPTION]: f doubles x.\n[DOMAIN]: none\n[CODE]:\n```python\ndef f(x):\n    return 2 * x\n```"
    answer = parse_answer(reply)
    assert answer == {"description": "f doubles x.", "domain": "none", "code": "def f(x):\n    return 2 * x\n"}
    assert parse_answer("PYTHON(function.py 1)") is None


# --- the loop with a scripted model --------------------------------------------------------------------


def test_commands_run_in_the_sandbox_and_outputs_come_back(tmp_path):
    script = numeric_script(tmp_path, LINEAR)
    backend = Scripted(
        [
            "Let me look. PYTHON(function.py 0 1) and PYTHON(function.py -2)",
            "PYTHON(function.py 1 two) PYTHON(function.py 'x')",
            "[DESCRIPTION]: f(x) = 3x + 2\n[DOMAIN]: none\n[CODE]: def f(x):\n    return 3 * x + 2",
        ]
    )
    result = interpret(script, backend, "numeric")
    assert result.stopped_reason == "answer" and result.rounds == 3
    assert result.description == "f(x) = 3x + 2" and result.domain == "none"
    assert result.code == "def f(x):\n    return 3 * x + 2\n"
    first_feedback = backend.seen[1][-1]
    assert first_feedback.role == "user"
    assert first_feedback.text() == (
        "Response: Function input - output pairs: (0, 2.0) (1, 5.0)\n"
        "Response: Function input - output pairs: (-2, -4.0)"
    )
    errors = backend.seen[2][-1].text().splitlines()
    assert errors[0].startswith("Error in PYTHON(function.py 1 two)") and "not numbers: two" in errors[0]
    assert "single quotes" in errors[1]
    assert [(c.round, c.args, c.ok) for c in result.transcript.commands] == [
        (1, ["0", "1"], True),
        (1, ["-2"], True),
        (2, [], False),
        (2, [], False),
    ]
    assert json.loads(json.dumps(result.to_json()))["rounds"] == 3


def test_round_limit_is_enforced_and_replies_without_commands_are_nudged(tmp_path):
    script = string_script(tmp_path, REVERSE)
    backend = Scripted(["I am thinking about it."])
    result = interpret(script, backend, "string")
    assert result.stopped_reason == "max_rounds" and result.rounds == MAX_ROUNDS == 20
    assert len(backend.seen) == 20 and result.description == ""
    assert backend.seen[1][-1].text() == NO_COMMAND_MESSAGE
    assert sum(m.role == "assistant" for m in result.transcript.messages) == 20


def test_commands_beyond_the_per_reply_limit_are_refused(tmp_path):
    script = numeric_script(tmp_path, LINEAR)
    backend = Scripted(
        [" ".join(f"PYTHON(function.py {i})" for i in range(MAX_COMMANDS_PER_REPLY + 2)), "[DESCRIPTION]: x"]
    )
    result = interpret(script, backend, "numeric")
    oks = [c.ok for c in result.transcript.commands]
    assert oks == [True] * MAX_COMMANDS_PER_REPLY + [False, False]
    assert "at most" in result.transcript.commands[-1].response


def test_script_failure_is_reported_as_an_error(tmp_path):
    script = numeric_script(tmp_path, "    return math.log(x)")
    backend = Scripted(["PYTHON(function.py -1)", "[DESCRIPTION]: log"])
    result = interpret(script, backend, "numeric")
    assert result.transcript.commands[0].response.startswith("Error: the function script failed")
    assert "ValueError" in result.transcript.commands[0].response


def test_search_init_and_one_shot_prompts(tmp_path):
    script = string_script(tmp_path, REVERSE)
    backend = Scripted(["[DESCRIPTION]: reverses"])
    interpret(script, backend, "string", variant="search_init", exemplars=["abc", "hello world"], max_rounds=1)
    prompt = backend.seen[0][1].text()
    assert "Response: Function input - output pairs: (abc, cba) (hello world, dlrow olleh)" in prompt
    assert len(backend.seen) == 1  # max_rounds=1: FIND's single-round baseline
    backend = Scripted(["[DESCRIPTION]: reverses"])
    interpret(script, backend, "string", variant="one_shot")
    assert "example.py" in backend.seen[0][1].text()


# --- an OpenAI-compatible server on loopback ----------------------------------------------------------


class _FakeOpenAI(http.server.ThreadingHTTPServer):
    def __init__(self, replies):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies = list(replies)
        self.bodies = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        text = self.server.replies.pop(0)
        send_chat_completion(self, body["model"], text)

    def log_message(self, *args):
        pass


def test_openai_compatible_backend_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = _FakeOpenAI(
        [
            'PYTHON(function.py "Hello" "ab c")',
            "[DESCRIPTION]: upper-cases then reverses\n[CODE]: def f(x):\n    return x.upper()[::-1]",
        ]
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        backend = OpenAICompatibleBackend(
            f"http://127.0.0.1:{server.server_address[1]}", "", "local-model", retry=RetryPolicy(timeout=5.0)
        )
        result = interpret(string_script(tmp_path, UPPER_THEN_REVERSE), backend, "string")
    finally:
        server.shutdown()
        server.server_close()
    assert result.stopped_reason == "answer" and result.rounds == 2
    sent = server.bodies[1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert "Function input - output pairs: (Hello, OLLEH) (ab c, C BA)" in json.dumps(sent[-1])
    assert score_string_code(result.code, [("xyz", "ZYX"), ("Hi 5", "5 IH")]).score == 1.0


# --- the offline interpreter -------------------------------------------------------------------------


def _offline(script, category):
    return interpret(script, OfflineInterpreter(), category)


def test_offline_recovers_linear_function_exactly(tmp_path):
    script = numeric_script(tmp_path, LINEAR)
    result = _offline(script, "numeric")
    assert result.stopped_reason == "answer" and result.rounds == 2
    assert "3.0 * x" in result.description and "2.0" in result.description
    assert result.domain.startswith("none")
    y = function_outputs(script, NUMERIC_TEST_POINTS)
    score = score_numeric_code(result.code, y)
    assert score.score == 1.0 and score.value == 0.0


def test_offline_fits_noisy_quadratic(tmp_path):
    script = numeric_script(tmp_path, NOISY_QUADRATIC)
    result = _offline(script, "numeric")
    assert "quadratic" in result.description and "noise" in result.description
    clean = 0.5 * np.asarray(NUMERIC_TEST_POINTS) ** 2 - 3 * np.asarray(NUMERIC_TEST_POINTS) + 1
    score = score_numeric_code(result.code, clean)
    assert score.score == 1.0 and score.value < 1e-3


def test_offline_finds_corrupted_interval(tmp_path):
    script = numeric_script(tmp_path, CORRUPTED_SQUARE)
    result = _offline(script, "numeric")
    assert "quadratic" in result.description
    lo, hi = (float(v) for v in result.domain[1 : result.domain.index("]")].split(","))
    assert abs(lo - 20) <= 2 and abs(hi - 40) <= 2
    score = score_numeric_code(result.code, function_outputs(script, NUMERIC_TEST_POINTS))
    assert score.score == 1.0


@pytest.mark.parametrize("body, words", [(REVERSE, ["reverses"]), (UPPER_THEN_REVERSE, ["upper case", "reverses"])])
def test_offline_recovers_string_functions(tmp_path, body, words):
    script = string_script(tmp_path, body)
    result = _offline(script, "string")
    assert result.stopped_reason == "answer"
    assert all(w in result.description for w in words), result.description
    truth = {"reverse": lambda s: s[::-1], "upper": lambda s: s.upper()[::-1]}
    f = truth["upper"] if "upper" in body else truth["reverse"]
    held_out = ["Held out", "CamelCase42", "x", "two  spaces", "é accent"]
    assert score_string_code(result.code, [(s, f(s)) for s in held_out]).score == 1.0
