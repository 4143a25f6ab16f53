"""One chat interface for the language / vision-language models behind the agents.

    backend = backend_from_env()                       # provider, model, URL, key from flags or environment
    backend = MeteredBackend(CachedBackend(backend, "runs/x/llm-cache"), ledger := UsageLedger())
    request = ChatRequest([ChatMessage("user", ["What is in this image?", png_bytes])], max_tokens=256, temperature=0.0)
    reply = backend.chat(request)
    reply.text, reply.usage, ledger.summary()

A call is one `ChatRequest` (the conversation and every generation option), so all backends, wrappers and
offline stand-in models share the signature `chat(request) -> ChatResponse`.

Adapters: `OpenAICompatibleBackend` (OpenAI, vLLM, Ollama, llama.cpp: anything serving `/chat/completions`,
the only one with log-probabilities) and `AnthropicBackend` (Messages API). Wrappers: `CachedBackend`
(reproducible, free reruns) and `MeteredBackend` (token / cost ledger). Configuration errors (no key, no
model, unreachable URL, a 4xx) raise `BackendError`, an `InputError`: one line, never containing a key.
"""

from __future__ import annotations

import os
import urllib.parse

from jaxinterp.agent.backends.accounting import PRICES, MeteredBackend, UsageLedger, price
from jaxinterp.agent.backends.anthropic import AnthropicBackend
from jaxinterp.agent.backends.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Image,
    TokenLogprob,
    Usage,
)
from jaxinterp.agent.backends.cache import CachedBackend
from jaxinterp.agent.backends.openai_compat import OpenAICompatibleBackend
from jaxinterp.agent.backends.transport import RetryPolicy

__all__ = [
    "PRICES",
    "AnthropicBackend",
    "BackendError",
    "CachedBackend",
    "ChatBackend",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Image",
    "MeteredBackend",
    "OpenAICompatibleBackend",
    "RetryPolicy",
    "TokenLogprob",
    "Usage",
    "UsageLedger",
    "backend_from_env",
    "price",
]

# provider -> (key variable, base-URL variable, default base URL)
_PROVIDERS = {
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
}
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def is_local(url: str) -> bool:
    """Whether `url` points at this machine (where servers such as Ollama or vLLM usually need no key)."""
    return urllib.parse.urlsplit(url).hostname in _LOCAL_HOSTS


def backend_from_env(
    provider: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    retry: RetryPolicy | None = None,
) -> OpenAICompatibleBackend | AnthropicBackend:
    """The backend named by the arguments, falling back to environment variables.

    Each argument given wins over its variable: `provider` over JAXINTERP_LLM_PROVIDER (`openai`, the
    default, or `anthropic`), `model` over JAXINTERP_LLM_MODEL (required), `base_url` over
    JAXINTERP_LLM_BASE_URL, then OPENAI_BASE_URL / ANTHROPIC_BASE_URL, then the provider's public URL;
    `api_key` over OPENAI_API_KEY / ANTHROPIC_API_KEY. An empty key is allowed only for a local URL.

    Raises:
        BackendError: unknown provider, no model, or no key for a remote URL; the message names what to set.
    """
    provider = (provider or os.environ.get("JAXINTERP_LLM_PROVIDER") or "openai").strip().lower()
    if provider not in _PROVIDERS:
        raise BackendError(f"unknown LLM provider {provider!r}: set JAXINTERP_LLM_PROVIDER to openai or anthropic")
    key_var, url_var, default_url = _PROVIDERS[provider]
    model = model or os.environ.get("JAXINTERP_LLM_MODEL")
    if not model:
        raise BackendError("no LLM model given: pass a model or set JAXINTERP_LLM_MODEL (e.g. gpt-4o)")
    base_url = base_url or os.environ.get("JAXINTERP_LLM_BASE_URL") or os.environ.get(url_var) or default_url
    api_key = api_key if api_key is not None else os.environ.get(key_var, "")
    if not api_key and not is_local(base_url):
        raise BackendError(
            f"no API key for {base_url}: set {key_var} (or point JAXINTERP_LLM_BASE_URL at a local server)"
        )
    if provider == "anthropic":
        return AnthropicBackend(api_key, model, base_url, retry=retry)
    return OpenAICompatibleBackend(base_url, api_key, model, retry=retry)
