"""Provider-neutral chat types: messages with images, one request value, responses with usage and log-probabilities.

A conversation is a list of `ChatMessage(role, content)`. `content` is a string or a list of parts, each
a string (text), PNG/JPEG bytes or a uint8 H x W x 3 numpy array (encoded to PNG once, when the message
is built). Adapters turn images into what their API wants (OpenAI: base64 `data:` URLs; Anthropic:
base64 image blocks).

A call is one `ChatRequest(messages, max_tokens=..., temperature=..., logprobs=..., stop=...)`: the
generation options are spelled out here and nowhere else, so every backend, wrapper (cache, ledger) and
offline stand-in model has the same one-argument `chat(request) -> ChatResponse`, and a new option is
added in one place. `ChatRequest.record()` / `.key()` are its canonical JSON form and SHA-256, shared by
the response cache (as the file name of an entry) and the usage ledger (per-call log). Every backend
returns a `ChatResponse`, so agent code never sees a provider's JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
from jaxtyping import UInt8

from jaxinterp.errors import InputError

ROLES = ("system", "user", "assistant")


class BackendError(InputError):
    """A chat request that cannot succeed as configured: missing key, unreachable URL, a 4xx from the server.

    The message is one line and never contains an API key.
    """


@dataclasses.dataclass(frozen=True)
class Image:
    """An encoded image part: PNG or JPEG bytes and their media type."""

    data: bytes
    media_type: str = "image/png"

    @classmethod
    def from_any(cls, image: bytes | UInt8[np.ndarray, "h w 3"]) -> Image:
        """PNG/JPEG bytes are kept as they are; a uint8 H x W x 3 array is encoded to PNG."""
        if isinstance(image, bytes | bytearray):
            data = bytes(image)
            if data.startswith(b"\x89PNG\r\n\x1a\n"):
                return cls(data, "image/png")
            if data.startswith(b"\xff\xd8\xff"):
                return cls(data, "image/jpeg")
            raise InputError("image bytes are neither PNG nor JPEG; pass PNG bytes or a uint8 HxWx3 array")
        array = np.asarray(image)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
            raise InputError(f"image array must be uint8 HxWx3, got {array.dtype} {array.shape}")
        from PIL import Image as PILImage

        buffer = io.BytesIO()
        PILImage.fromarray(array, mode="RGB").save(buffer, format="PNG")
        return cls(buffer.getvalue(), "image/png")

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{self.base64}"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


Part = str | Image


@dataclasses.dataclass(frozen=True)
class ChatMessage:
    """One turn. `content` is text, or a list of text / image parts (images normalised to `Image`)."""

    role: str
    content: str | tuple[Part, ...]

    def __init__(self, role: str, content: str | Sequence[str | bytes | np.ndarray | Image]):
        if role not in ROLES:
            raise InputError(f"message role must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(content, str):
            content = tuple(part if isinstance(part, str | Image) else Image.from_any(part) for part in content)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "content", content)

    def parts(self) -> tuple[Part, ...]:
        return (self.content,) if isinstance(self.content, str) else self.content

    def text(self) -> str:
        """The text parts joined by newlines (images left out)."""
        return "\n".join(part for part in self.parts() if isinstance(part, str))

    def __repr__(self) -> str:
        shown = [p if isinstance(p, str) else f"<{p.media_type} {len(p.data)} B>" for p in self.parts()]
        return f"ChatMessage({self.role!r}, {shown[0] if isinstance(self.content, str) else shown!r})"


def request_record(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """JSON form of a conversation for caches and logs: images appear as media type, size and SHA-256."""
    record = []
    for message in messages:
        parts = [
            {"text": p} if isinstance(p, str) else {"image": p.media_type, "bytes": len(p.data), "sha256": p.sha256}
            for p in message.parts()
        ]
        record.append({"role": message.role, "content": parts})
    return record


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    """One call to a chat model: the conversation and every generation option.

    `ChatRequest(messages, max_tokens=256, temperature=0.0)` with any sequence of `ChatMessage` (kept as a
    tuple, so later changes to the caller's list do not alter the request); `stop` may be one string or a
    sequence of them (an empty one means none).

    Attributes:
        messages: The conversation, oldest turn first.
        max_tokens: Longest reply, in tokens (at least 1).
        temperature: Sampling temperature (0: greedy); recorded as given, so 0 and 0.0 are different keys.
        logprobs: None for no log-probabilities; k >= 0 asks for each generated token's log-probability and
            its k best alternatives (OpenAI-compatible backends only).
        stop: Strings that end the reply, or None.
    """

    messages: tuple[ChatMessage, ...]
    max_tokens: int
    temperature: float
    logprobs: int | None = None
    stop: tuple[str, ...] | None = None

    def __init__(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: int | None = None,
        stop: str | Sequence[str] | None = None,
    ):
        if isinstance(messages, ChatMessage):
            messages = (messages,)
        messages = tuple(messages)
        if not all(isinstance(m, ChatMessage) for m in messages):
            raise InputError("a chat request's messages must be ChatMessage values")
        if max_tokens < 1:
            raise InputError(f"max_tokens must be at least 1, got {max_tokens}")
        if temperature < 0:
            raise InputError(f"temperature must be non-negative, got {temperature}")
        if logprobs is not None and logprobs < 0:
            raise InputError(f"logprobs must be None or a non-negative count, got {logprobs}")
        stop = (stop,) if isinstance(stop, str) else tuple(stop or ())
        object.__setattr__(self, "messages", messages)
        object.__setattr__(self, "max_tokens", max_tokens)
        object.__setattr__(self, "temperature", temperature)
        object.__setattr__(self, "logprobs", logprobs)
        object.__setattr__(self, "stop", stop or None)

    def record(self, backend: ChatBackend | None = None, **extra: Any) -> dict[str, Any]:
        """The request as JSON-able data (images by media type, size and SHA-256, never their bytes).

        With `backend`, its `provider`, `base_url` and `model` are included (the same request to another
        model is another record); `extra` adds fields (the cache's sample number). No API key is ever part
        of it.
        """
        identity = {}
        if backend is not None:
            identity = {"provider": backend.provider, "base_url": backend.base_url, "model": backend.model}
        return {
            **identity,
            "messages": request_record(self.messages),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "logprobs": self.logprobs,
            "stop": list(self.stop) if self.stop else None,
            **extra,
        }

    def key(self, backend: ChatBackend | None = None, **extra: Any) -> str:
        """SHA-256 (hex) of the canonical JSON (sorted keys) of `record(backend, **extra)`.

        Deterministic: equal requests to the same backend have equal keys, in any process.
        """
        return hashlib.sha256(json.dumps(self.record(backend, **extra), sort_keys=True).encode()).hexdigest()


class Usage(NamedTuple):
    prompt_tokens: int
    completion_tokens: int


class TokenLogprob(NamedTuple):
    """One generated token, its log-probability and the top alternatives as (token, logprob) pairs."""

    token: str
    logprob: float
    top: tuple[tuple[str, float], ...]


@dataclasses.dataclass(frozen=True)
class ChatResponse:
    """What every backend returns. `logprobs` is None unless they were asked for; `cached` marks cache hits."""

    text: str
    usage: Usage
    logprobs: list[TokenLogprob] | None
    model: str
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        logprobs = (
            None if self.logprobs is None else [[t.token, t.logprob, [list(a) for a in t.top]] for t in self.logprobs]
        )
        return {"text": self.text, "usage": self.usage._asdict(), "logprobs": logprobs, "model": self.model}

    @classmethod
    def from_json(cls, data: dict[str, Any], *, cached: bool = False) -> ChatResponse:
        logprobs = data["logprobs"]
        if logprobs is not None:
            logprobs = [TokenLogprob(tok, lp, tuple((a, b) for a, b in top)) for tok, lp, top in logprobs]
        return cls(data["text"], Usage(**data["usage"]), logprobs, data["model"], cached)


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that answers a conversation. `provider`, `base_url` and `model` identify it (cache keys, ledgers)."""

    provider: str
    base_url: str
    model: str

    def chat(self, request: ChatRequest) -> ChatResponse:
        """Answer `request.messages` under `request`'s generation options."""
        ...
