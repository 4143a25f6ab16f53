"""JSON over HTTP with retries (standard library only: `urllib.request`).

Retried: HTTP 429 and 5xx, refused / reset connections and time-outs, with exponential back-off and
jitter (`base_delay * 2**attempt`, scaled by a random factor in [0.5, 1], capped at `max_delay`). A
`Retry-After` header (seconds or an HTTP date) replaces the computed delay, also capped at `max_delay`
so a server cannot stall a run for hours. Any other 4xx fails at once with the server's own message.
API keys travel only in headers; every message that leaves this module has them redacted.

`HttpBackend` is the shared part of the HTTP adapters: `chat(request)` builds the body, posts it with the
key in the adapter's headers and hands the JSON answer back to the adapter to parse, so an adapter says only
what differs between APIs (`path`, `headers`, `request_body`, `parse_response`).
"""

from __future__ import annotations

import dataclasses
import email.utils
import http.client
import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from jaxinterp.agent.backends.base import BackendError, ChatRequest, ChatResponse

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: `max_retries` retries after the first attempt; `timeout` seconds per attempt."""

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    timeout: float = 120.0
    sleep: Callable[[float], None] = dataclasses.field(default=time.sleep, repr=False, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return min(self.base_delay * 2**attempt, self.max_delay) * random.uniform(0.5, 1.0)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` on one line with every secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        try:
            return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None


def _server_message(body: bytes) -> str:
    """The error text of an OpenAI- or Anthropic-style error body, else the start of the raw body."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])
    return text[:300]


def post_json(
    url: str, headers: dict[str, str], body: dict[str, Any], retry: RetryPolicy, secrets: tuple[str, ...]
) -> dict[str, Any]:
    """POST `body` as JSON to `url` and return the decoded JSON answer, retrying transient failures.

    Raises:
        BackendError: a non-retryable HTTP status (with the server's message), or the last transient failure
            once `retry.max_retries` retries are spent; one line, `secrets` redacted.
    """
    data = json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json", **headers}
    for attempt in range(retry.max_retries + 1):
        retry_after = None
        try:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=retry.timeout) as answer:
                raw = answer.read()
            try:
                return json.loads(raw)
            except ValueError:
                raise BackendError(redact(f"{url} answered with non-JSON: {raw[:200]!r}", secrets)) from None
        except urllib.error.HTTPError as error:
            message = redact(_server_message(error.read()), secrets)
            problem = f"HTTP {error.code} from {url}: {message}"
            if error.code != 429 and error.code < 500:
                raise BackendError(problem) from None
            retry_after = _retry_after(error.headers)
        except TimeoutError:
            problem = f"{url} timed out after {retry.timeout:g} s"
        except urllib.error.URLError as error:
            if isinstance(error.reason, TimeoutError):
                problem = f"{url} timed out after {retry.timeout:g} s"
            else:
                problem = redact(f"cannot reach {url}: {error.reason}", secrets)
        except (ConnectionError, http.client.HTTPException) as error:
            problem = redact(f"cannot reach {url}: {type(error).__name__} {error}", secrets)
        if attempt == retry.max_retries:
            break
        wait = retry.delay(attempt, retry_after)
        log.warning("%s; retry %d/%d in %.1f s", problem, attempt + 1, retry.max_retries, wait)
        retry.sleep(wait)
    tries = retry.max_retries + 1
    raise BackendError(f"{problem} (gave up after {tries} attempt{'s' if tries > 1 else ''})")


class HttpBackend:
    """What every HTTP adapter holds: its URL, model, retry policy and (private) key; a repr without the key.

    Subclasses set `provider` and `path` (appended to `base_url`) and implement `headers`, `request_body` and
    `parse_response`.
    """

    provider: str
    path: str

    def __init__(self, base_url: str, api_key: str, model: str, retry: RetryPolicy | None = None):
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.retry = retry or RetryPolicy()
        self._api_key = api_key

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"{type(self).__name__}(base_url={self.base_url!r}, model={self.model!r}, api_key={key})"

    def chat(self, request: ChatRequest) -> ChatResponse:
        body = self.request_body(request)
        url = f"{self.base_url}{self.path}"
        data = post_json(url, self.headers(), body, self.retry, (self._api_key,))
        return self.parse_response(data, request, url)

    def headers(self) -> dict[str, str]:
        """The authentication (and version) headers of a request."""
        raise NotImplementedError

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent for `request`; raises `BackendError` for an option the API cannot honour."""
        raise NotImplementedError

    def parse_response(self, data: dict[str, Any], request: ChatRequest, url: str) -> ChatResponse:
        """The `ChatResponse` in the server's JSON answer to `request` (`url` names the endpoint in errors)."""
        raise NotImplementedError
