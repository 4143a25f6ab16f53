"""Chat backends against a loopback server that imitates the OpenAI and Anthropic APIs."""

import base64
import dataclasses
import hashlib
import http.server
import io
import json
import socket
import time

import numpy as np
import pytest
from PIL import Image as PILImage

from jaxinterp.agent.backends import (
    AnthropicBackend,
    BackendError,
    CachedBackend,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    MeteredBackend,
    OpenAICompatibleBackend,
    RetryPolicy,
    TokenLogprob,
    Usage,
    UsageLedger,
    backend_from_env,
)
from jaxinterp.errors import InputError
from tests.agent.fake_openai import running

KEY = "sk-test-SECRET-0123456789abcdef"
FAST = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=0.01, timeout=5.0)
HI = ChatRequest([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0)

OPENAI_REPLY = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "a red square"},
            "logprobs": {
                "content": [
                    {"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": [{"token": "a", "logprob": -0.1}]},
                    {"token": " red", "logprob": -0.5, "top_logprobs": [{"token": " red", "logprob": -0.5}]},
                ]
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 120, "completion_tokens": 3, "total_tokens": 123},
}
ANTHROPIC_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "a red "}, {"type": "text", "text": "square"}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 200, "output_tokens": 4},
}


class FakeAPI(http.server.ThreadingHTTPServer):
    """Records every request; answers from `script` (status, body, headers, delay) first, then the default reply."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict, dict, float]] = []
        self.openai_reply = OPENAI_REPLY
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        api: FakeAPI = self.server
        api.requests.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body}
        )
        if api.script:
            status, reply, headers, delay = api.script.pop(0)
        else:
            status, headers, delay = 200, {}, 0.0
            reply = ANTHROPIC_REPLY if self.path == "/v1/messages" else api.openai_reply
        time.sleep(delay)
        data = json.dumps(reply).encode()
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (time-out test)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # a proxy set for CI must not catch loopback calls
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture
def api():
    with running(FakeAPI()) as server:
        yield server


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


IMAGE = np.zeros((4, 5, 3), np.uint8)
IMAGE[..., 0] = 255


def _messages(image=IMAGE):
    return [
        ChatMessage("system", "You are an interpretability agent."),
        ChatMessage("user", ["What is in this image?", image]),
        ChatMessage("assistant", "Let me look."),
    ]


def test_image_array_is_encoded_as_png():
    image = ChatMessage("user", ["x", IMAGE]).content[1]
    assert image.media_type == "image/png"
    np.testing.assert_array_equal(np.asarray(PILImage.open(io.BytesIO(image.data))), IMAGE)
    assert ChatMessage("user", [_png(IMAGE)]).content[0].data == _png(IMAGE)
    with pytest.raises(InputError, match="uint8"):
        ChatMessage("user", [IMAGE.astype(np.float32)])
    with pytest.raises(InputError, match="role"):
        ChatMessage("tool", "x")


def test_chat_request_normalises_its_options_and_refuses_bad_ones():
    messages = _messages()
    request = ChatRequest(messages, max_tokens=8, temperature=0.0, stop="END")
    messages.append(ChatMessage("user", "later"))  # the request holds its own copy of the conversation
    assert len(request.messages) == 3 and isinstance(request.messages, tuple)
    assert request.stop == ("END",) and request.logprobs is None
    assert ChatRequest(messages[:1], max_tokens=8, temperature=0.0, stop=[]).stop is None
    same = ChatRequest(tuple(messages[:3]), max_tokens=8, temperature=0.0, stop=["END"])
    assert same == request and hash(same) == hash(request) and same.key() == request.key()
    assert dataclasses.replace(request, max_tokens=9).max_tokens == 9
    for bad, match in [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -0.5}, "temperature"),
        ({"logprobs": -1}, "logprobs"),
    ]:
        with pytest.raises(InputError, match=match):
            ChatRequest(messages, **{"max_tokens": 8, "temperature": 0.0, **bad})
    with pytest.raises(InputError, match="ChatMessage"):
        ChatRequest(["hi"], max_tokens=8, temperature=0.0)


def test_request_key_is_the_canonical_json_the_cache_always_used():
    """Caches written before `ChatRequest` existed stay valid: same record, same SHA-256 of its sorted JSON."""
    backend = OpenAICompatibleBackend("http://127.0.0.1:1/v1", "", "gpt-4o")
    record = {
        "provider": "openai",
        "base_url": "http://127.0.0.1:1/v1",
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "max_tokens": 8,
        "temperature": 0.0,
        "logprobs": None,
        "stop": None,
    }
    assert HI.record(backend) == record
    assert HI.key(backend) == "e6a8db60e67ffc2d908f670d12a87c1f13388e4f3680ecdd8fcee1f92ac505c9"
    assert (
        HI.key(backend, repeat=1)
        == hashlib.sha256(json.dumps({**record, "repeat": 1}, sort_keys=True).encode()).hexdigest()
    )
    image = ChatRequest(_messages(), max_tokens=8, temperature=0.0).record()["messages"][1]["content"][1]
    assert image == {"image": "image/png", "bytes": len(_png(IMAGE)), "sha256": hashlib.sha256(_png(IMAGE)).hexdigest()}


def test_openai_request_and_response(api):
    backend = OpenAICompatibleBackend(api.url + "/v1/", KEY, "gpt-4o", retry=FAST)
    reply = backend.chat(ChatRequest(_messages(), max_tokens=64, temperature=0.0, logprobs=2, stop=["\n\n"]))

    [request] = api.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["headers"]["content-type"] == "application/json"
    url = "data:image/png;base64," + base64.b64encode(_png(IMAGE)).decode()
    assert request["body"] == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are an interpretability agent."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            },
            {"role": "assistant", "content": "Let me look."},
        ],
        "max_tokens": 64,
        "temperature": 0.0,
        "stop": ["\n\n"],
        "logprobs": True,
        "top_logprobs": 2,
    }
    assert reply == ChatResponse(
        "a red square",
        Usage(120, 3),
        [TokenLogprob("a", -0.1, (("a", -0.1),)), TokenLogprob(" red", -0.5, ((" red", -0.5),))],
        "gpt-4o-2024-08-06",
        cached=False,
    )


def test_openai_without_logprobs_request_omits_them_and_missing_logprobs_raise(api):
    backend = OpenAICompatibleBackend(api.url + "/v1", "", "llama3", retry=FAST)
    reply = backend.chat(ChatRequest([ChatMessage("user", "hi")], max_tokens=8, temperature=0.5))
    assert reply.logprobs is None and reply.text == "a red square"
    assert "authorization" not in api.requests[0]["headers"]  # local server, no key
    assert "logprobs" not in api.requests[0]["body"] and "stop" not in api.requests[0]["body"]

    api.openai_reply = {**OPENAI_REPLY, "choices": [{**OPENAI_REPLY["choices"][0], "logprobs": None}]}
    with pytest.raises(BackendError, match="no log-probabilities"):
        backend.chat(ChatRequest([ChatMessage("user", "hi")], max_tokens=8, temperature=0.0, logprobs=0))


def test_anthropic_request_and_response(api):
    backend = AnthropicBackend(KEY, "claude-sonnet-4-20250514", base_url=api.url, retry=FAST)
    reply = backend.chat(ChatRequest(_messages(), max_tokens=64, temperature=0.2, stop=["END"]))

    [request] = api.requests
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == KEY
    assert request["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request["headers"]
    source = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(_png(IMAGE)).decode()}
    assert request["body"] == {
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 64,
        "temperature": 0.2,
        "system": "You are an interpretability agent.",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is in this image?"}, {"type": "image", "source": source}],
            },
            {"role": "assistant", "content": "Let me look."},
        ],
        "stop_sequences": ["END"],
    }
    assert reply == ChatResponse("a red square", Usage(200, 4), None, "claude-sonnet-4-20250514")


def test_anthropic_logprobs_are_refused_before_any_request(api):
    backend = AnthropicBackend(KEY, "claude-sonnet-4-20250514", base_url=api.url, retry=FAST)
    with pytest.raises(BackendError, match="no log-probabilities"):
        backend.chat(ChatRequest(_messages(), max_tokens=8, temperature=0.0, logprobs=1))
    assert api.requests == []


def test_retries_429_and_500_then_succeeds(api):
    slept = []
    retry = RetryPolicy(max_retries=3, base_delay=0.001, max_delay=5.0, timeout=5.0, sleep=slept.append)
    api.script = [(429, {"error": {"message": "slow down"}}, {"Retry-After": "2"}, 0.0), (500, {}, {}, 0.0)]
    reply = OpenAICompatibleBackend(api.url + "/v1", KEY, "gpt-4o", retry=retry).chat(HI)
    assert reply.text == "a red square"
    assert len(api.requests) == 3
    assert slept[0] == 2.0  # Retry-After honoured
    assert 0.0005 <= slept[1] <= 0.002  # base_delay * 2**1 with jitter in [0.5, 1]


def test_retries_give_up_with_the_last_problem_and_log_no_key(api, caplog):
    api.script = [(503, {"error": {"message": f"overloaded ({KEY})"}}, {}, 0.0)] * 4
    backend = AnthropicBackend(KEY, "claude-sonnet-4-20250514", base_url=api.url, retry=FAST)
    with pytest.raises(BackendError, match=r"HTTP 503 .*overloaded \(\*\*\*\) \(gave up after 4 attempts\)"):
        backend.chat(HI)
    assert len(api.requests) == 4
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 3
    assert KEY not in caplog.text


def test_400_fails_at_once_with_the_server_message_without_the_key(api):
    message = f"Incorrect API key provided: {KEY}. You can find your API key at https://platform.openai.com."
    api.script = [(401, {"error": {"message": message, "type": "invalid_request_error"}}, {}, 0.0)]
    backend = OpenAICompatibleBackend(api.url + "/v1", KEY, "gpt-4o", retry=FAST)
    with pytest.raises(BackendError) as error:
        backend.chat(HI)
    assert len(api.requests) == 1
    text = str(error.value)
    assert "HTTP 401" in text and "Incorrect API key provided: ***" in text
    assert KEY not in text and "\n" not in text


def test_timeout_is_retried_then_reported(api):
    retry = RetryPolicy(max_retries=1, base_delay=0.001, max_delay=0.01, timeout=0.2)
    backend = OpenAICompatibleBackend(api.url + "/v1", KEY, "gpt-4o", retry=retry)
    api.script = [(200, OPENAI_REPLY, {}, 0.5)]
    assert backend.chat(HI).text == "a red square"
    assert len(api.requests) == 2

    api.script = [(200, OPENAI_REPLY, {}, 0.5)] * 2
    with pytest.raises(BackendError, match=r"timed out after 0.2 s \(gave up after 2 attempts\)") as error:
        backend.chat(HI)
    assert "\n" not in str(error.value) and KEY not in str(error.value)


def test_unreachable_port_is_one_line_input_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    backend = OpenAICompatibleBackend(url, KEY, "gpt-4o", retry=FAST)
    with pytest.raises(InputError) as error:
        backend.chat(HI)
    text = str(error.value)
    assert text.startswith(f"cannot reach {url}/chat/completions") and "\n" not in text and KEY not in text


@pytest.fixture
def clean_env(monkeypatch):
    for name in (
        "JAXINTERP_LLM_PROVIDER",
        "JAXINTERP_LLM_MODEL",
        "JAXINTERP_LLM_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_backend_from_env_missing_key_names_the_variable(clean_env):
    with pytest.raises(InputError, match="set OPENAI_API_KEY") as error:
        backend_from_env(model="gpt-4o")
    assert "\n" not in str(error.value)
    with pytest.raises(InputError, match="set ANTHROPIC_API_KEY"):
        backend_from_env(provider="anthropic", model="claude-sonnet-4-20250514")
    with pytest.raises(InputError, match="set JAXINTERP_LLM_MODEL"):
        backend_from_env()
    with pytest.raises(InputError, match="JAXINTERP_LLM_PROVIDER"):
        backend_from_env(provider="gemini", model="x")


def test_backend_from_env_flags_override_environment(clean_env):
    clean_env.setenv("JAXINTERP_LLM_PROVIDER", "anthropic")
    clean_env.setenv("JAXINTERP_LLM_MODEL", "claude-sonnet-4-20250514")
    clean_env.setenv("ANTHROPIC_API_KEY", KEY)
    backend = backend_from_env()
    assert isinstance(backend, AnthropicBackend) and backend.base_url == "https://api.anthropic.com"
    assert backend.model == "claude-sonnet-4-20250514"

    # A local OpenAI-compatible server (Ollama) needs no key.
    backend = backend_from_env(provider="openai", model="llama3.1:8b", base_url="http://localhost:11434/v1")
    assert isinstance(backend, OpenAICompatibleBackend)
    assert (backend.base_url, backend.model) == ("http://localhost:11434/v1", "llama3.1:8b")

    clean_env.setenv("JAXINTERP_LLM_PROVIDER", "openai")
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    assert backend_from_env(model="m").base_url == "http://127.0.0.1:8000/v1"
    clean_env.setenv("JAXINTERP_LLM_BASE_URL", "http://127.0.0.1:9000/v1")
    assert backend_from_env(model="m").base_url == "http://127.0.0.1:9000/v1"


def test_cache_replays_without_http_and_survives_a_new_backend(api, tmp_path):
    def backend():
        return CachedBackend(OpenAICompatibleBackend(api.url + "/v1", KEY, "gpt-4o", retry=FAST), tmp_path)

    first = backend().chat(ChatRequest(_messages(), max_tokens=64, temperature=0.0, logprobs=2))
    again = backend().chat(ChatRequest(_messages(), max_tokens=64, temperature=0.0, logprobs=2))
    assert len(api.requests) == 1
    assert not first.cached and again.cached
    assert (again.text, again.usage, again.logprobs, again.model) == (
        first.text,
        first.usage,
        first.logprobs,
        first.model,
    )

    other_image = IMAGE.copy()
    other_image[0, 0] = 1
    # image bytes are in the key
    backend().chat(ChatRequest(_messages(other_image), max_tokens=64, temperature=0.0, logprobs=2))
    backend().chat(ChatRequest(_messages(), max_tokens=65, temperature=0.0, logprobs=2))  # so is every parameter
    assert len(api.requests) == 3


def test_cache_keeps_repeated_samples_distinct_and_replays_them(api, tmp_path):
    inner = OpenAICompatibleBackend(api.url + "/v1", KEY, "gpt-4o", retry=FAST)
    run = CachedBackend(inner, tmp_path)
    for _ in range(2):
        run.chat(ChatRequest([ChatMessage("user", "hi")], max_tokens=8, temperature=1.0))
    assert len(api.requests) == 2  # two samples at temperature 1 are two calls
    rerun = CachedBackend(inner, tmp_path)
    assert all(
        rerun.chat(ChatRequest([ChatMessage("user", "hi")], max_tokens=8, temperature=1.0)).cached for _ in range(2)
    )
    assert len(api.requests) == 2 and rerun.hits == 2


def test_key_never_leaks_into_cache_repr_or_errors(api, tmp_path):
    backends = [
        OpenAICompatibleBackend(api.url + "/v1", KEY, "gpt-4o", retry=FAST),
        AnthropicBackend(KEY, "claude-sonnet-4-20250514", base_url=api.url, retry=FAST),
    ]
    for inner in backends:
        cached = CachedBackend(inner, tmp_path)
        cached.chat(ChatRequest(_messages(), max_tokens=8, temperature=0.0))
        for text in (repr(inner), repr(cached), repr(MeteredBackend(cached, UsageLedger()))):
            assert KEY not in text and "api_key=set" in text
    files = list(tmp_path.iterdir())
    assert len(files) == 2
    for path in files:
        entry = json.loads(path.read_text())
        assert set(entry) == {"key", "request", "response"} and entry["request"]["base_url"]
        assert KEY not in path.read_text()

    api.script = [(400, {"error": {"type": "invalid_request_error", "message": f"bad key {KEY}"}}, {}, 0.0)]
    with pytest.raises(BackendError) as error:
        backends[1].chat(HI)
    assert KEY not in str(error.value) and KEY not in repr(error.value)


def test_ledger_sums_tokens_and_cost(api, tmp_path):
    ledger = UsageLedger(prices={"local-model": (0.0, 0.0)})
    openai = MeteredBackend(
        CachedBackend(OpenAICompatibleBackend(api.url + "/v1", KEY, "gpt-4o", retry=FAST), tmp_path), ledger
    )
    claude = MeteredBackend(AnthropicBackend(KEY, "claude-sonnet-4-20250514", base_url=api.url, retry=FAST), ledger)
    for _ in range(2):  # the second call is a cache hit: counted, not billed
        openai.chat(HI)
    claude.chat(HI)
    claude.chat(ChatRequest([ChatMessage("user", "hi again")], max_tokens=8, temperature=0.0))

    summary = ledger.summary()
    gpt = summary["models"]["gpt-4o-2024-08-06"]  # the dated name the server reports, priced as gpt-4o
    assert gpt == {
        "calls": 2,
        "cached_calls": 1,
        "prompt_tokens": 120,
        "completion_tokens": 3,
        "cost_usd": gpt["cost_usd"],
    }
    assert gpt["cost_usd"] == pytest.approx((120 * 2.50 + 3 * 10.00) / 1e6)
    sonnet = summary["models"]["claude-sonnet-4-20250514"]
    assert (sonnet["calls"], sonnet["prompt_tokens"], sonnet["completion_tokens"]) == (2, 400, 8)
    assert sonnet["cost_usd"] == pytest.approx((400 * 3.0 + 8 * 15.0) / 1e6)
    assert summary["total"]["prompt_tokens"] == 520 and summary["total"]["calls"] == 4
    assert summary["total"]["cost_usd"] == pytest.approx(gpt["cost_usd"] + sonnet["cost_usd"])

    # Each metered call is logged under the request's key, which names the openai call's cache entry.
    assert [c["key"] for c in ledger.calls[:2]] == [HI.key(openai)] * 2 and (
        tmp_path / f"{HI.key(openai)}.json"
    ).exists()
    assert [(c["cached"], c["prompt_tokens"]) for c in ledger.calls] == [
        (False, 120),
        (True, 0),
        (False, 200),
        (False, 200),
    ]

    ledger.record(ChatResponse("x", Usage(10, 1), None, "local-model"))
    assert ledger.summary()["models"]["local-model"]["cost_usd"] == 0.0
    ledger.record(ChatResponse("x", Usage(10, 1), None, "mystery-model-7b"))
    assert ledger.summary()["models"]["mystery-model-7b"]["cost_usd"] is None
    assert ledger.summary()["total"]["cost_usd"] is None  # unknown price: no misleading partial total
