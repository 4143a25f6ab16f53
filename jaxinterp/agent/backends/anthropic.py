"""Anthropic's Messages API (`POST {base_url}/v1/messages`, `anthropic-version: 2023-06-01`).

Differences from the OpenAI form handled here: system messages are joined into the top-level `system`
field (text only); images are `{"type": "image", "source": {"type": "base64", ...}}` blocks; `stop`
becomes `stop_sequences`; usage is `input_tokens` / `output_tokens`. The API has no log-probabilities,
so asking for them is an error before any request is sent.
"""

from __future__ import annotations

from typing import Any

from jaxinterp.agent.backends.base import BackendError, ChatRequest, ChatResponse, Usage
from jaxinterp.agent.backends.transport import HttpBackend, RetryPolicy

API_VERSION = "2023-06-01"


def _block(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    return {"type": "image", "source": {"type": "base64", "media_type": part.media_type, "data": part.base64}}


class AnthropicBackend(HttpBackend):
    """Chat with Claude models through the Messages API."""

    provider = "anthropic"
    path = "/v1/messages"

    def __init__(
        self, api_key: str, model: str, base_url: str = "https://api.anthropic.com", retry: RetryPolicy | None = None
    ):
        super().__init__(base_url, api_key, model, retry)

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self._api_key, "anthropic-version": API_VERSION}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        if request.logprobs is not None:
            raise BackendError(
                "Anthropic's Messages API returns no log-probabilities; use an OpenAI-compatible endpoint "
                "(OpenAI, vLLM) for calls that need them"
            )
        system = []
        turns = []
        for message in request.messages:
            if message.role == "system":
                if any(not isinstance(p, str) for p in message.parts()):
                    raise BackendError("Anthropic system prompts are text only; put images in a user message")
                system.append(message.text())
            else:
                content = message.content if isinstance(message.content, str) else [_block(p) for p in message.content]
                turns.append({"role": message.role, "content": content})
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if system:
            body["system"] = "\n\n".join(system)
        body["messages"] = turns
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        return body

    def parse_response(self, data: dict[str, Any], request: ChatRequest, url: str) -> ChatResponse:
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise BackendError(f"{url} answered without a content list: {str(data)[:200]}")
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        usage = data.get("usage") or {}
        usage = Usage(int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0))
        return ChatResponse(text, usage, None, data.get("model") or self.model)
