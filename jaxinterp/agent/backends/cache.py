"""On-disk response cache: a rerun of an agent replays its model calls for free and identically.

The key is `ChatRequest.key(backend)`: the SHA-256 of the canonical JSON of the whole request (provider, base
URL, model, messages with images by the SHA-256 of their bytes, which stands for the bytes, `max_tokens`,
`temperature`, `logprobs` and `stop`). Each entry is one JSON file `<key>.json` holding that request record
and the response; API keys are never part of either. The record and key are the ones this module computed
before `ChatRequest` existed, so caches written by earlier versions stay valid.

Sampling at `temperature > 0`: the n-th identical request made through one `CachedBackend` gets its own
entry (`repeat: n` enters the record and key), so repeated samples within a run stay distinct while a rerun
replays them in the same order. At `temperature == 0` identical requests share one entry.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from jaxinterp.agent.backends.base import ChatBackend, ChatRequest, ChatResponse

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

    def chat(self, request: ChatRequest) -> ChatResponse:
        base_key = request.key(self)
        with self._lock:
            repeat = self._repeats[base_key] if request.temperature > 0 else 0
            self._repeats[base_key] += 1
        extra = {"repeat": repeat} if repeat else {}
        key = request.key(self, **extra) if repeat else base_key
        path = self.directory / f"{key}.json"
        if path.exists():
            try:
                response = ChatResponse.from_json(json.loads(path.read_text())["response"], cached=True)
                self.hits += 1
                return response
            except (ValueError, KeyError, TypeError) as error:
                log.warning("ignoring unreadable cache entry %s (%s)", path, error)
        try:
            response = self.inner.chat(request)
        except Exception:
            with self._lock:  # a failed call does not use up a sample slot: reruns stay aligned
                self._repeats[base_key] -= 1
            raise
        self.misses += 1
        self.directory.mkdir(parents=True, exist_ok=True)
        record = request.record(self, **extra)
        entry = json.dumps({"key": key, "request": record, "response": response.to_json()}, indent=1)
        # Write-then-rename: a crash or a parallel writer never leaves a half-written entry behind.
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(entry)
        os.replace(tmp, path)
        return response
