"""Token and cost accounting for one run.

`UsageLedger` sums calls and prompt / completion tokens per model and prices them from `PRICES` (USD per
million tokens, list prices as published by OpenAI and Anthropic in 2025; check them before quoting a
cost). A dated model name (`gpt-4o-2024-08-06`, `claude-sonnet-4-20250514`, `...-latest`) is priced as
its undated family. Models missing from the table (local models, new releases) cost `None`, and so does the
total of a run that used any of them with billed tokens, rather than a number that silently leaves them
out; pass `prices={...}` to add or override entries (e.g. `{"llama3.1:8b": (0.0, 0.0)}` for a local model).
Cache hits are counted as calls but bill no tokens.

`MeteredBackend` also hands the `ChatRequest` to the ledger, which logs each call in `UsageLedger.calls`
under `ChatRequest.key(backend)`: the same key the response cache files the call under (for the first sample
of a request), so a ledger line can be traced to its cache entry without the ledger holding any prompts.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Mapping
from typing import Any

from jaxinterp.agent.backends.base import ChatBackend, ChatRequest, ChatResponse, Usage

# model family -> (USD per 1M prompt tokens, USD per 1M completion tokens)
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-3-opus": (15.00, 75.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-1": (15.00, 75.00),
}

_DATED = re.compile(r"-(\d[\d-]*|latest)$")


def price(model: str, prices: Mapping[str, tuple[float, float]] = PRICES) -> tuple[float, float] | None:
    """(prompt, completion) USD per million tokens for `model`, or None when it is not in the table."""
    if model in prices:
        return prices[model]
    # Longest family name followed only by a date / version suffix: gpt-4o-mini-2024-07-18 -> gpt-4o-mini,
    # but gpt-4.5-preview is not gpt-4.
    for family in sorted(prices, key=len, reverse=True):
        if model.startswith(family) and _DATED.fullmatch(model[len(family) :]):
            return prices[family]
    return None


@dataclasses.dataclass
class ModelUsage:
    calls: int = 0
    cached_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class UsageLedger:
    """Per-model calls, tokens and cost of a run; feed it with `record` or wrap a backend with `MeteredBackend`.

    `calls` lists the calls recorded with their request, oldest first: `{"key", "model", "cached",
    "prompt_tokens", "completion_tokens"}` each (`key` is `ChatRequest.key(backend)`).
    """

    def __init__(self, prices: Mapping[str, tuple[float, float]] | None = None):
        self.prices = {**PRICES, **(prices or {})}
        self.models: dict[str, ModelUsage] = {}
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(
        self, response: ChatResponse, request: ChatRequest | None = None, backend: ChatBackend | None = None
    ) -> None:
        """Count `response`; with its `request` (sent to `backend`) also log the call in `calls`."""
        billed = Usage(0, 0) if response.cached else response.usage
        call = None
        if request is not None:
            call = {"key": request.key(backend), "model": response.model, "cached": response.cached}
            call.update(billed._asdict())
        with self._lock:
            if call is not None:
                self.calls.append(call)
            entry = self.models.setdefault(response.model, ModelUsage())
            entry.calls += 1
            entry.cached_calls += response.cached
            entry.prompt_tokens += billed.prompt_tokens
            entry.completion_tokens += billed.completion_tokens

    def cost(self, model: str) -> float | None:
        """USD spent on `model` so far; None when the model has no price."""
        entry = self.models.get(model, ModelUsage())
        rates = price(model, self.prices)
        if rates is None:
            return None if entry.prompt_tokens or entry.completion_tokens else 0.0
        return (entry.prompt_tokens * rates[0] + entry.completion_tokens * rates[1]) / 1e6

    def summary(self) -> dict[str, Any]:
        """`{"models": {model: {calls, cached_calls, prompt_tokens, completion_tokens, cost_usd}}, "total": {...}}`."""
        with self._lock:
            models = {m: {**dataclasses.asdict(u), "cost_usd": self.cost(m)} for m, u in sorted(self.models.items())}
        total: dict[str, Any] = {k: sum(m[k] for m in models.values()) for k in dataclasses.asdict(ModelUsage())}
        costs = [m["cost_usd"] for m in models.values()]
        total["cost_usd"] = None if None in costs else sum(costs)
        return {"models": models, "total": total}


class MeteredBackend:
    """Wraps a backend and records every response in `ledger`."""

    def __init__(self, inner: ChatBackend, ledger: UsageLedger):
        self.inner = inner
        self.ledger = ledger
        self.provider, self.base_url, self.model = inner.provider, inner.base_url, inner.model

    def __repr__(self) -> str:
        return f"MeteredBackend({self.inner!r})"

    def chat(self, request: ChatRequest) -> ChatResponse:
        response = self.inner.chat(request)
        self.ledger.record(response, request, self.inner)
        return response
