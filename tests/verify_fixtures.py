"""A scripted OpenAI-compatible endpoint: replies with the next canned text, streamed as the real API
streams it (SSE chunks, a finish_reason, ``data: [DONE]``). For the tests that need a model to say an
exact thing — a negated answer sentence, a Yes or a No — which no real small model says reliably."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class ScriptedLLM:
    """Loopback server; ``replies`` are given in order, then ``default`` for every later request."""

    def __init__(self, replies: list[str], default: str = "No") -> None:
        self._replies: deque[str] = deque(replies)
        self.default = default
        self.requests: list[list[dict[str, str]]] = []  # the messages of each chat request
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.script = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1})
        self._thread.daemon = True
        self._thread.start()

    def next_reply(self, messages: list[dict[str, str]]) -> str:
        with self._lock:
            self.requests.append(messages)
            return self._replies.popleft() if self._replies else self.default

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _chunk(delta: dict[str, str], finish: str | None = None) -> bytes:
    body = {
        "id": "scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # /v1/models: the health check
        data = json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        reply = self.server.script.next_reply(request.get("messages", []))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        events = [_chunk({"role": "assistant", "content": ""})]
        events += [_chunk({"content": word}) for word in reply.split(" ")[:1]]
        events += [_chunk({"content": " " + word}) for word in reply.split(" ")[1:]]
        events += [_chunk({}, "stop"), b"data: [DONE]\n\n"]
        for event in events:
            self.wfile.write(event)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def scripted_llm() -> Iterator[type[ScriptedLLM]]:
    """Factory: ``scripted_llm(["reply", ...], default="No")`` starts one, stopped at teardown."""
    made: list[ScriptedLLM] = []

    class Made(ScriptedLLM):
        def __init__(self, replies: list[str], default: str = "No") -> None:
            super().__init__(replies, default)
            made.append(self)

    yield Made
    for server in made:
        server.stop()
