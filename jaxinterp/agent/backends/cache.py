"""On-disk response cache: a rerun of an agent replays its model calls for free and identically.

The key is the SHA-256 of the canonical JSON of the whole request: provider, base URL, model, messages
(images by the SHA-256 of their bytes, which stands for the bytes), `max_tokens`, `temperature`,
`logprobs` and `stop`. Each entry is one JSON file `<key>.json` holding that request record and the
response; API keys are never part of either.

Sampling at `temperature > 0`: the n-th identical request made through one `CachedBackend` gets its own
entry (n enters the key), so repeated samples within a run stay distinct while a rerun replays them in the
same order. At `temperature == 0` identical requests share one entry.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaxinterp.agent.backends.base import ChatBackend, ChatMessage, ChatResponse, request_record

log = logging.getLogger(__name__)


class CachedBackend:
    """Wraps a backend; answers from `directory` when the same request was made before."""

    def __init__(self, inner: ChatBackend, directory: str | os.PathLike):
        self.inner = inner
        self.directory = Path(directory)
        self.provider, self.base_url, self.model = inner.provider, inner.base_url, inner.model
        self.hits = 0
        self.misses = 0
        self._repeats: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CachedBackend({self.inner!r}, directory={str(self.directory)!r})"

    def request(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The record that is hashed into the key (and stored beside the response)."""
        return {
            "provider": self.provider,
            "base_url": self.base_url,
            "model": self.model,
            "messages": request_record(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "logprobs": logprobs,
            "stop": list(stop) if stop else None,
        }

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> ChatResponse:
        request = self.request(messages, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs, stop=stop)
        base_key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
        with self._lock:
            repeat = self._repeats[base_key] if temperature > 0 else 0
            self._repeats[base_key] += 1
        if repeat:
            request["repeat"] = repeat
        key = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest() if repeat else base_key
        path = self.directory / f"{key}.json"
        if path.exists():
            try:
                response = ChatResponse.from_json(json.loads(path.read_text())["response"], cached=True)
                self.hits += 1
                return response
            except (ValueError, KeyError, TypeError) as error:
                log.warning("ignoring unreadable cache entry %s (%s)", path, error)
        try:
            response = self.inner.chat(
                messages, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs, stop=stop
            )
        except Exception:
            with self._lock:  # a failed call does not use up a sample slot: reruns stay aligned
                self._repeats[base_key] -= 1
            raise
        self.misses += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        entry = json.dumps({"key": key, "request": request, "response": response.to_json()}, indent=1)
        # Write-then-rename: a crash or a parallel writer never leaves a half-written entry behind.
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(entry)
        os.replace(tmp, path)
        return response
