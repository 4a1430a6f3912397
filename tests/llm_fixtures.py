"""LLM fixtures: a real ``llama_cpp.server`` serving SmolLM2, and a fault-injecting proxy.

The proxy sits on loopback in front of a base URL and answers each request with the next
scripted fault ("ok" once the script runs out):

- ``ok``: forward (streams are re-chunked as they arrive)
- ``429`` (Retry-After: 0), ``500``, ``503``, ``401``, ``404``: an OpenAI-style error JSON
  (the 401 echoes the bearer token back, as careless servers do)
- ``slow``: say nothing for ``slow_s`` seconds, then close (set it above the client timeout)
- ``cut`` / ``cut:N``: forward a stream, then drop the connection after N SSE events (default 2)
  with no ``data: [DONE]`` and no final chunk
- ``end:N``: forward N SSE events, then end the body cleanly, still without ``[DONE]``
- ``badjson:N``: forward N SSE events, then send one event whose data isn't JSON
  (``data: {not json``), then forward the rest of the stream

With ``fault_paths``, only requests whose path ends with one of them take a fault from the
script; the others (say the health check's ``GET /models``) are forwarded untouched.
"Endpoint down" needs no proxy: point the client at ``free_port()``.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import free_port, stop_process

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "te", "upgrade"}


def bundled_gguf() -> Path:
    from rag.llm import bundled_model_path

    path = bundled_model_path()
    assert path.is_file(), f"bundled SmolLM2 GGUF missing at {path}"
    return path


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``python -m llama_cpp.server`` with SmolLM2 on a free loopback port; yields its /v1 URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llm-server") / "server.log"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_gguf())]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--model_alias", "smollm2"]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with code {proc.returncode}:\n{_tail(log_path)}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready at {url} after 120 s:\n{_tail(log_path)}")
            time.sleep(0.25)
        yield url
    finally:
        stop_process(proc)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class FaultProxy:
    """A threaded loopback HTTP proxy that plays a script of faults, one per request."""

    def __init__(
        self,
        target: str,
        faults: list[str] | tuple[str, ...] = (),
        slow_s: float = 3.0,
        fault_paths: tuple[str, ...] = (),
    ) -> None:
        parts = urlsplit(target)
        self.fault_paths = fault_paths
        self.target_host, self.target_port = parts.hostname or "127.0.0.1", parts.port or 80
        self.slow_s = min(slow_s, 10.0)  # bounded, so a stuck test can't stall teardown for long
        self.requests = 0
        self.seen: list[str] = []  # the fault each request got
        self._faults: deque[str] = deque(faults)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{parts.path.rstrip('/')}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1})
        self._thread.daemon = True
        self._thread.start()

    def script(self, *faults: str) -> FaultProxy:
        with self._lock:
            self._faults = deque(faults)
        return self

    def next_fault(self) -> str:
        with self._lock:
            self.requests += 1
            fault = self._faults.popleft() if self._faults else "ok"
            self.seen.append(fault)
            return fault

    def stop(self) -> None:
        self._stop.set()  # wakes "slow" handlers
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- request handling (runs in the server's handler threads) ---------------------
    def handle(self, h: _Handler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        if self.fault_paths and not h.path.endswith(self.fault_paths):
            self._forward(h, body, "ok", 0)
            return
        fault = self.next_fault()
        if fault == "slow":
            self._stop.wait(self.slow_s)
            h.close_connection = True
            return
        if fault in ERRORS:
            status, message = ERRORS[fault]
            if fault == "401":
                message += h.headers.get("Authorization", "").removeprefix("Bearer ")
            extra = {"Retry-After": "0"} if fault == "429" else {}
            _send_json(h, status, {"error": {"message": message, "type": "test_fault", "code": fault}}, extra)
            return
        kind, _, n = fault.partition(":")
        if kind not in ("ok", "cut", "end", "badjson"):
            raise ValueError(f"unknown fault {fault!r}")
        self._forward(h, body, kind, int(n or 2))

    def _forward(self, h: _Handler, body: bytes, kind: str, events: int) -> None:
        conn = http.client.HTTPConnection(self.target_host, self.target_port, timeout=60)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(h.command, h.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
            if not resp.getheader("Content-Type", "").startswith("text/event-stream"):
                data = resp.read()
                h.send_response(resp.status)
                for k, v in out + [("Content-Length", str(len(data)))]:
                    h.send_header(k, v)
                h.end_headers()
                h.wfile.write(data)
                return
            h.send_response(resp.status)
            for k, v in out + [("Transfer-Encoding", "chunked")]:
                h.send_header(k, v)
            h.end_headers()
            sent = 0
            if kind == "badjson" and events == 0:
                h.wfile.write(b"%x\r\n%s\r\n" % (len(BAD_EVENT), BAD_EVENT))
            while line := resp.readline():
                h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                sent += line.strip() == b""  # a blank line ends an SSE event
                if kind == "badjson" and sent == events and line.strip() == b"":
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(BAD_EVENT), BAD_EVENT))
                if kind in ("cut", "end") and sent >= events:
                    break
            if kind == "cut":
                h.close_connection = True  # no final chunk: the client sees a truncated body
                return
            h.wfile.write(b"0\r\n\r\n")
        finally:
            conn.close()


BAD_EVENT = b"data: {not json\n\n"
ERRORS = {
    "429": (429, "Rate limit reached; slow down"),
    "500": (500, "Internal server error"),
    "503": (503, "Service unavailable"),
    "401": (401, "Incorrect API key provided: "),
    "404": (404, "The model does not exist or you do not have access to it"),
}


def _send_json(h: _Handler, status: int, payload: object, headers: dict[str, str]) -> None:
    data = json.dumps(payload).encode()
    h.send_response(status)
    for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **headers}.items():
        h.send_header(k, v)
    h.end_headers()
    h.wfile.write(data)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 15  # idle keep-alive connections release their thread

    def _proxy(self) -> None:
        try:
            self.server.proxy.handle(self)  # type: ignore[attr-defined]
        except OSError:  # the client gave up (e.g. after its timeout)
            self.close_connection = True

    do_GET = do_POST = _proxy

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def fault_proxy() -> Iterator[Callable[..., FaultProxy]]:
    """Factory: ``fault_proxy(target_url, faults=[...], slow_s=..., fault_paths=...)`` starts a proxy,
    stopped at teardown."""
    proxies: list[FaultProxy] = []

    def make(
        target: str,
        faults: list[str] | tuple[str, ...] = (),
        slow_s: float = 3.0,
        fault_paths: tuple[str, ...] = (),
    ) -> FaultProxy:
        proxies.append(FaultProxy(target, faults, slow_s, fault_paths))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.stop()
