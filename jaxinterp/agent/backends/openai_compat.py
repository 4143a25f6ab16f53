"""OpenAI-compatible chat completions: OpenAI itself, vLLM, Ollama, llama.cpp's server, LM Studio, ...

POST `{base_url}/chat/completions` with a bearer key (omitted when empty: local servers need none). Text-only
messages are sent as plain strings, which every server accepts; messages with images as a list of `text` /
`image_url` parts with base64 `data:` URLs. `max_tokens` (not OpenAI's newer `max_completion_tokens`) is
used because the local servers understand only it. Log-probabilities are requested with `logprobs: true`
and `top_logprobs: k`; an endpoint that silently drops them is an error, not an empty list.
"""

from __future__ import annotations

from typing import Any

from jaxinterp.agent.backends.base import BackendError, ChatMessage, ChatRequest, ChatResponse, TokenLogprob, Usage
from jaxinterp.agent.backends.transport import HttpBackend


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    if isinstance(message.content, str):
        return message.content
    return [
        {"type": "text", "text": part}
        if isinstance(part, str)
        else {"type": "image_url", "image_url": {"url": part.data_url}}
        for part in message.content
    ]


class OpenAICompatibleBackend(HttpBackend):
    """Chat through any server that speaks OpenAI's `/chat/completions`."""

    provider = "openai"
    path = "/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": _content(m)} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.logprobs is not None:
            body["logprobs"] = True
            if request.logprobs > 0:
                body["top_logprobs"] = request.logprobs
        return body

    def parse_response(self, data: dict[str, Any], request: ChatRequest, url: str) -> ChatResponse:
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(f"{url} answered without choices[0].message: {str(data)[:200]}") from None
        usage = data.get("usage") or {}
        usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        parsed = None
        if request.logprobs is not None:
            content = (choice.get("logprobs") or {}).get("content")
            if content is None:
                raise BackendError(
                    f"{url} returned no log-probabilities for model {self.model!r}; use a server that supports "
                    "`logprobs` in chat completions (OpenAI, vLLM, recent llama.cpp/Ollama)"
                )
            parsed = [
                TokenLogprob(
                    t["token"],
                    float(t["logprob"]),
                    tuple((a["token"], float(a["logprob"])) for a in t.get("top_logprobs") or ()),
                )
                for t in content
            ]
        return ChatResponse(text, usage, parsed, data.get("model") or self.model)
