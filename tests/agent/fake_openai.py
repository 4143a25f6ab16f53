"""Shared by the agent tests' loopback servers: write one OpenAI-style chat completion as the HTTP reply, run any
loopback server in a thread (`running`), or a whole scripted one (`serve`)."""

import contextlib
import http.server
import json
import threading


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


class _ReplyServer(http.server.ThreadingHTTPServer):
    def __init__(self, reply, usage):
        super().__init__(("127.0.0.1", 0), _ReplyHandler)
        self.reply, self.usage, self.bodies = reply, usage, []


class _ReplyHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        send_chat_completion(self, body["model"], self.server.reply(body), *self.server.usage)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def running(server: http.server.HTTPServer):
    """Serves `server` from a daemon thread while the block runs, then shuts it down and closes it."""
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def serve(reply, usage: tuple[int, int] = (10, 5)):
    """A loopback OpenAI-compatible server answering each request body with `reply(body) -> text`, in a thread;
    every answer reports `usage` as its (prompt, completion) tokens.

    Use as `with serve(reply) as server:`; `server.server_address[1]` is its port, `server.bodies` the requests
    received.
    """
    return running(_ReplyServer(reply, usage))
