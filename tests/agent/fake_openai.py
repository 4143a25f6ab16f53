"""Shared by the agent tests' loopback servers: write one OpenAI-style chat completion as the HTTP reply."""

import json


def send_chat_completion(
    handler, model: str, text: str, prompt_tokens: int = 10, completion_tokens: int = 5, logprobs=None
):
    """Answers the request being handled by `handler` (a BaseHTTPRequestHandler) with `text` from `model`;
    `logprobs`: the choice's `logprobs.content` list, OpenAI-style."""
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": logprobs}
    reply = {
        "model": model,
        "choices": [choice],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }
    data = json.dumps(reply).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
