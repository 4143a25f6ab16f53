"""OpenAI-compatible chat completions: OpenAI itself, vLLM, Ollama, llama.cpp's server, LM Studio, ...

POST `{base_url}/chat/completions` with a bearer key (omitted when empty: local servers need none). Text-only
messages are sent as plain strings, which every server accepts; messages with images as a list of `text` /
`image_url` parts with base64 `data:` URLs. `max_tokens` (not OpenAI's newer `max_completion_tokens`) is
used because the local servers understand only it. Log-probabilities are requested with `logprobs: true`
and `top_logprobs: k`; an endpoint that silently drops them is an error, not an empty list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jaxinterp.agent.backends.base import BackendError, ChatMessage, ChatResponse, TokenLogprob, Usage
from jaxinterp.agent.backends.transport import HttpBackend, post_json


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

    def request_body(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The JSON body sent for these arguments."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": _content(m)} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        if logprobs is not None:
            body["logprobs"] = True
            if logprobs > 0:
                body["top_logprobs"] = logprobs
        return body

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        logprobs: int | None = None,
        stop: Sequence[str] | None = None,
    ) -> ChatResponse:
        body = self.request_body(messages, max_tokens=max_tokens, temperature=temperature, logprobs=logprobs, stop=stop)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        url = f"{self.base_url}/chat/completions"
        data = post_json(url, headers, body, self.retry, (self._api_key,))
        try:
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise BackendError(f"{url} answered without choices[0].message: {str(data)[:200]}") from None
        usage = data.get("usage") or {}
        usage = Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
        parsed = None
        if logprobs is not None:
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
