"""The local model out of process: llama.cpp's OpenAI-compatible server as a supervised child.

llama-cpp-python built with native CPU flags segfaults in ``decode`` on some machines; run
in-process, that took the whole chat page down. So the model runs in ``python -m
llama_cpp.server`` (this interpreter, ``sys.executable``) on a free loopback port, and
askpapers talks to it through the same OpenAI-client code as any other endpoint.

- One server per GGUF, context size and thread count per process, shared by every engine;
  ``ensure`` starts it (thread-safe) and waits until ``/v1/models`` answers.
- It dies with its parent: ``PR_SET_PDEATHSIG`` (Linux) kills it if this process is killed,
  and an ``atexit`` hook stops it on a normal exit. The prctl signal fires when the *thread*
  that forked the child exits, so children are forked from one long-lived spawner thread,
  never from a request thread that a pool may retire.
- If it dies (crash, SIGKILL, segfault), ``exit_reason`` says how; the next ``ensure``
  starts a fresh one. Its output goes to ``<home>/logs/local-model.log``.
- Token counts come from its ``/extras/tokenize`` endpoint (the model's own tokenizer),
  cached; a count costs ~2 ms over loopback the first time.

Nothing here imports llama_cpp: a build that crashes on this CPU can only take the child down.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from rag.errors import EndpointError
from rag.loopback import bypass_proxy, free_port

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LOG_NAME = "local-model.log"
LOG_ROTATE_BYTES = 10_000_000  # a log bigger than this is moved to .1 when a server starts
TOKEN_CACHE_SIZE = 8192  # texts whose token count is kept (abstract blocks, prompt parts)
READY_POLL_S = 0.1
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
CRASH_SIGNALS = {
    getattr(signal, n) for n in ("SIGSEGV", "SIGILL", "SIGBUS", "SIGFPE", "SIGABRT") if hasattr(signal, n)
}
REBUILD_HINT = "llama-cpp-python is probably built for another CPU: rebuild it portably with `make local`"
# The child gets only these variables: llama_cpp.server reads unprefixed ones (PORT, HOST, MODEL,
# API_KEY, CONFIG_FILE…) that would override our arguments, and it has no use for API keys.
ENV_KEEP = {"PATH", "HOME", "USER", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT"}
ENV_KEEP |= {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"}
ENV_KEEP_PREFIXES = ("LC_", "GGML_", "OMP_", "CUDA_", "HIP_", "ROCR_", "OPENBLAS_", "MKL_")


def describe_exit(code: int) -> str:
    """'signal 9, SIGKILL' or 'code 1', from a Popen returncode."""
    if code >= 0:
        return f"code {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"
    return f"signal {-code}, {name}"


def _crashed(code: int) -> bool:
    return code < 0 and -code in CRASH_SIGNALS


class _Spawner:
    """Runs every Popen in one daemon thread that lives as long as the process (see module doc)."""

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]], Future[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="askpapers-spawner", daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((make, done))
        return done.result()

    def _run(self) -> None:
        while True:
            make, done = self._jobs.get()
            try:
                done.set_result(make())
            except BaseException as exc:  # handed to the caller, who raises it
                done.set_exception(exc)


_spawner = _Spawner()


#: Runs in the child before llama_cpp.server: asks Linux to SIGKILL it when its parent dies. Done
#: in the child's own interpreter, not in a preexec_fn (running Python between fork and exec in a
#: threaded parent can deadlock); the setting survives into runpy's module.
_CHILD = """
import ctypes, os, runpy, signal, sys
parent = int(sys.argv.pop(1))
if sys.platform.startswith("linux"):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, ctypes.c_ulong(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
if os.getppid() != parent:  # the parent died before prctl took effect
    sys.exit(1)
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


class LocalServer:
    """One supervised ``llama_cpp.server`` child. Thread-safe; holds no per-request state."""

    def __init__(self, model_path: Path, n_ctx: int, threads: int, log_path: Path) -> None:
        self.model_path, self.n_ctx, self.threads, self.log_path = model_path, n_ctx, threads, log_path
        self.alias = model_path.stem
        self.starts = 0  # how many children were started (restarts show as > 1)
        self._proc: subprocess.Popen[bytes] | None = None
        self._recent: dict[str, subprocess.Popen[bytes]] = {}  # URL → child, the last few started
        self._port = 0
        self._lock = threading.Lock()
        self._cache: dict[str, int] = {}
        self._cache_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._port}/v1"

    # --- lifecycle ---------------------------------------------------------------
    def ensure(self, timeout_s: float) -> str:
        """The /v1 URL of a running server, starting (or restarting) it first if needed."""
        bypass_proxy()  # the OpenAI client reaches it on 127.0.0.1, never through a proxy
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None:
                return self.url
            if proc is not None and proc.returncode is not None:
                log.warning(
                    "the local model process exited (%s); starting a new one", describe_exit(proc.returncode)
                )
            self._proc = None
            self._start(timeout_s)
            return self.url

    def exit_reason(self, url: str | None = None, wait_s: float = 0.0) -> str | None:
        """How the child serving ``url`` (default: the current one) ended ('signal 9, SIGKILL'),
        or None while it runs. ``url`` names the child a call used even if another question has
        restarted it since; ``wait_s`` covers a dropped connection seen just before it is reaped."""
        proc = self._recent.get(url) if url else self._proc
        if proc is None:
            return None
        try:
            code = proc.wait(timeout=wait_s) if wait_s > 0 else proc.poll()
        except subprocess.TimeoutExpired:
            return None
        if code is None:
            return None
        how = describe_exit(code)
        return f"{how}; {REBUILD_HINT}" if _crashed(code) else how

    def stop(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            _terminate(proc)

    def _start(self, timeout_s: float) -> None:
        for _ in range(3):  # another process may take the free port before the child binds it
            port = free_port()
            proc, offset = self._spawn(port)
            failure = self._wait_ready(proc, port, timeout_s, offset)
            if failure is None:
                self._proc, self._port = proc, port
                self.starts += 1
                self._recent = {**dict(list(self._recent.items())[-7:]), self.url: proc}
                log.info("local model server %s started (pid %d), log %s", self.url, proc.pid, self.log_path)
                return
            if "address already in use" not in self._log_since(offset).lower():
                break
        raise EndpointError(failure)

    def _spawn(self, port: int) -> tuple[subprocess.Popen[bytes], int]:
        cmd = [sys.executable, "-c", _CHILD, str(os.getpid()), "--model", str(self.model_path.resolve())]
        cmd += ["--host", HOST, "--port", str(port), "--n_ctx", str(self.n_ctx), "--model_alias", self.alias]
        # interrupt_requests=False: by default a second request (another user's question, a token
        # count) cuts off the answer being streamed; we want them to wait their turn instead.
        cmd += ["--n_threads", str(self.threads), "--interrupt_requests", "False", "--verbose", "False"]
        env = {k: v for k, v in os.environ.items() if k in ENV_KEEP or k.startswith(ENV_KEEP_PREFIXES)}
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            if self.log_path.exists() and self.log_path.stat().st_size > LOG_ROTATE_BYTES:
                self.log_path.replace(self.log_path.with_name(self.log_path.name + ".1"))
            logfile = self.log_path.open("ab")
        except OSError as exc:
            raise EndpointError(f"can't write the local model's log {self.log_path}: {exc}") from None
        with logfile:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            logfile.write(f"\n=== {stamp} askpapers (pid {os.getpid()}) starts: {' '.join(cmd)}\n".encode())
            logfile.flush()
            offset = logfile.tell()

            def make() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=logfile,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # Ctrl-C in a terminal reaches askpapers, which stops it
                    cwd=self.log_path.parent,  # where a core dump would land, not the user's directory
                )

            try:
                proc = _spawner.popen(make)
            except OSError as exc:
                raise EndpointError(f"can't start the local model server ({exc})") from None
        return proc, offset

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], port: int, timeout_s: float, offset: int
    ) -> str | None:
        """None once the server lists our model; else the reason it failed (and it is stopped)."""
        deadline = time.monotonic() + timeout_s
        where = f"its log is {self.log_path}"
        while True:
            if (code := proc.poll()) is not None:
                tail = self._log_since(offset, lines=1)
                hint = REBUILD_HINT if _crashed(code) else ""
                if "failed to load model" in tail.lower():
                    hint = (
                        f"is {self.model_path} a GGUF model? Set ASKPAPERS_LLM__LOCAL_MODEL_PATH to one, "
                        "or unset it for the bundled SmolLM2"
                    )
                detail = f": {tail}" if tail else ""
                return (
                    f"the local model server for {self.model_path.name} exited while starting "
                    f"({describe_exit(code)}){detail}; {hint + '; ' if hint else ''}{where}"
                )
            if _lists(_get_json(port, "/v1/models", timeout=2.0), self.alias):
                return None  # ours: a process that grabbed the port first wouldn't list our model
            if time.monotonic() > deadline:
                _terminate(proc)
                return (
                    f"the local model server for {self.model_path.name} was not ready within {timeout_s:g} s "
                    f"(ASKPAPERS_LLM__LOCAL_START_TIMEOUT_S); {where}"
                )
            time.sleep(READY_POLL_S)

    def _log_since(self, offset: int, lines: int = 40) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join([line.strip() for line in text.splitlines() if line.strip()][-lines:])

    # --- tokenizer ---------------------------------------------------------------
    def count_tokens(self, text: str, timeout_s: float) -> int:
        """Tokens of ``text`` by the model's own tokenizer (exact), from a small thread-safe cache."""
        with self._cache_lock:
            if (n := self._cache.get(text)) is not None:
                return n
        self.ensure(timeout_s)
        port = self._port
        try:
            body = _post_json(port, "/extras/tokenize", {"input": text}, timeout=timeout_s)
            n = len(body["tokens"])
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as exc:
            if reason := self.exit_reason(f"http://{HOST}:{port}/v1", wait_s=0.5):
                raise EndpointError(
                    f"the local model process exited ({reason}) while counting tokens; the next question "
                    f"restarts it (its log: {self.log_path})"
                ) from None
            raise EndpointError(f"the local model server at {self.url} can't count tokens ({exc})") from None
        with self._cache_lock:
            if len(self._cache) >= TOKEN_CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))  # oldest first
            self._cache[text] = n
        return n


def _request(port: int, method: str, path: str, body: bytes | None, timeout: float) -> Any:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise ValueError(f"HTTP {response.status} from {path}")
        return json.loads(data)
    finally:
        conn.close()


def _get_json(port: int, path: str, timeout: float) -> Any:
    try:
        return _request(port, "GET", path, None, timeout)
    except (OSError, http.client.HTTPException, ValueError):
        return None


def _lists(models: Any, alias: str) -> bool:
    try:
        return alias in [m.get("id") for m in models["data"]]
    except (TypeError, KeyError, AttributeError):
        return False


def _post_json(port: int, path: str, payload: object, timeout: float) -> Any:
    return _request(port, "POST", path, json.dumps(payload).encode(), timeout)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_GRACE_S)


# --- one server per model per process --------------------------------------------------
_servers: dict[tuple[str, int, int], LocalServer] = {}
_servers_lock = threading.Lock()
_stop_registered = False


def server_for(model_path: Path, n_ctx: int, threads: int, log_dir: Path) -> LocalServer:
    """The process-wide server for this GGUF, context size and thread count (not started yet)."""
    global _stop_registered
    key = (str(model_path.resolve()), n_ctx, threads)
    with _servers_lock:
        if not _stop_registered:
            atexit.register(stop_all)
            _stop_registered = True
        if key not in _servers:
            _servers[key] = LocalServer(model_path, n_ctx, threads, log_dir / LOG_NAME)
        return _servers[key]


def stop_all() -> None:
    """Stop every server this process started (also run at exit)."""
    with _servers_lock:
        servers = list(_servers.values())
    for server in servers:
        server.stop()
