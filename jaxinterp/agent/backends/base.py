"""Provider-neutral chat types: messages with images, responses with usage and log-probabilities.

A conversation is a list of `ChatMessage(role, content)`. `content` is a string or a list of parts, each
a string (text), PNG/JPEG bytes or a uint8 H x W x 3 numpy array (encoded to PNG once, when the message
is built). Adapters turn images into what their API wants (OpenAI: base64 `data:` URLs; Anthropic:
base64 image blocks). Every backend returns a `ChatResponse`, so agent code never sees a provider's JSON.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
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

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> ChatResponse:
        """Answer `messages`; `logprobs=k` asks for each token's log-probability and its k best alternatives."""
        ...
