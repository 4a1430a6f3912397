"""One process owns an embedded Chroma directory; every askpapers process talks to it over loopback.

Chroma's embedded ``PersistentClient`` is not safe for several processes on one directory: a
search process reading the HNSW files while an ingest rewrote them died with a segmentation
fault, and a reader never saw vectors written by another process. So the directory is opened
by exactly one process — a small Chroma server (the ``chroma run`` server, started through
``chromadb_rust_bindings`` directly: 0.3 s instead of 2.4 s through the ``chroma`` CLI) bound
to 127.0.0.1 on a free port — and the chat page, ingests, CLI questions and ``rag`` API users
are all its HTTP clients.

The first process that needs the directory starts the owner (detached, in its own session);
later ones find it through ``<path>.run/state.json``. Three file locks keep this race-free:

- ``owner.lock`` — held by the owner for its whole life: two owners can never open the directory.
- ``start.lock`` — held by a client while it checks for an owner and starts one if there is none.
- ``clients.lock`` — every client holds it shared for as long as it keeps a connection; the owner
  exits after ``idle_s`` seconds during which it could take it exclusively (no client left), and
  keeps it exclusively while it shuts down, so no client connects to an owner that is leaving.

Only a held ``owner.lock`` proves an owner exists: a slow heartbeat (a loaded machine) makes a
client wait for the owner, never replace it. Loopback requests never go through a proxy.

Locks die with their process, so a crashed owner or client never leaves a stale lock behind;
a stale ``state.json`` is recognised by a failed heartbeat.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

from rag.errors import EndpointError
from rag.loopback import free_port

_HEARTBEAT = "/api/v2/heartbeat"
_clients: dict[Path, IO[str]] = {}  # run dir → the open clients.lock this process holds shared
_lock = threading.Lock()
_stopping = threading.Event()  # in the owner process: set when it leaves on purpose
_published = threading.Event()  # in the owner process: its URL is in state.json
_server_done = threading.Event()  # in the owner process: the server returned (or never started)
_held: list[IO[str]] = []  # in the owner process: lock files kept open until it exits


def run_dir(chroma_path: Path) -> Path:
    """Where the owner's state, locks and log live: beside the Chroma directory, not inside it."""
    return chroma_path.with_name(chroma_path.name + ".run")


_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def _alive(url: str, timeout: float = 2.0) -> bool:
    try:
        with _opener.open(url + _HEARTBEAT, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _owner_running(run: Path) -> bool:
    """Whether a process holds ``owner.lock`` — the only proof an owner exists (it may be slow)."""
    with (run / "owner.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _read_state(run: Path) -> dict[str, object] | None:
    try:
        state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) and isinstance(state.get("url"), str) else None


def _log_tail(run: Path, lines: int = 8) -> str:
    try:
        text = (run / "server.log").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def server_url(chroma_path: Path, *, idle_s: float = 30.0, start_timeout_s: float = 60.0) -> str:
    """URL of the process that owns ``chroma_path``, starting one if there is none.

    The calling process registers as a client (a shared lock it keeps until it exits), so the
    owner stays up at least as long as this process may use it.
    """
    chroma_path = chroma_path.expanduser().resolve()
    run = run_dir(chroma_path)
    try:
        run.mkdir(parents=True, exist_ok=True)
        with _lock:
            if run not in _clients:
                handle = (run / "clients.lock").open("a+")
                fcntl.flock(handle, fcntl.LOCK_SH)  # waits only while an idle owner shuts down
                _clients[run] = handle
        state = _read_state(run)
        if state and _alive(str(state["url"])):
            return str(state["url"])
        with (run / "start.lock").open("a+") as start:
            fcntl.flock(start, fcntl.LOCK_EX)
            if _owner_running(run):  # up but slow, or still starting: wait for it, never replace it
                return _wait_for_owner(chroma_path, run, start_timeout_s)
            return _start_owner(chroma_path, run, idle_s, start_timeout_s)
    except PermissionError as exc:
        raise EndpointError(
            f"can't use the index directory {chroma_path.parent} ({exc.strerror}: {exc.filename}); "
            "check its permissions or set ASKPAPERS_HOME to a directory you can write"
        ) from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_for_owner(chroma_path: Path, run: Path, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = _read_state(run)
        if state and _alive(str(state["url"])):
            return str(state["url"])
        if not _owner_running(run):
            raise EndpointError(f"the Chroma server for {chroma_path} exited; run the command again")
        time.sleep(0.1)
    raise EndpointError(
        f"the Chroma server for {chroma_path} (pid {_owner_pid(run)}) does not answer within {timeout_s:g} s "
        f"(ASKPAPERS_CHROMA__OWNER_START_TIMEOUT_S); its log is {run / 'server.log'}"
    )


def _owner_pid(run: Path) -> int | None:
    try:
        return int((run / "owner.pid").read_text())
    except (OSError, ValueError):
        return None


def _start_owner(chroma_path: Path, run: Path, idle_s: float, timeout_s: float) -> str:
    # No process holds owner.lock (checked under start.lock): what these files say is stale.
    (run / "state.json").unlink(missing_ok=True)
    (run / "owner.pid").unlink(missing_ok=True)
    env = os.environ | {
        "RUST_LOG": os.environ.get("ASKPAPERS_CHROMA_LOG", "warn"),
        "ANONYMIZED_TELEMETRY": "False",
    }
    cmd = [
        sys.executable,
        "-m",
        "rag.index.chroma_owner",
        "--path",
        str(chroma_path),
        "--idle-s",
        str(idle_s),
    ]
    with (run / "server.log").open("wb") as log:
        # The child forks the owner and exits at once: the owner outlives this process, in its
        # own session, and is nobody's zombie.
        subprocess.run(
            [*cmd, "--detach"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(run),  # a directory of ours: none of our modules beside it to shadow the stdlib's
            check=False,
        )
    deadline = time.monotonic() + timeout_s
    pid: int | None = None
    while time.monotonic() < deadline:
        state = _read_state(run)
        if state and _alive(str(state["url"])):
            return str(state["url"])
        if pid is None:
            pid = _owner_pid(run)
        elif not _pid_alive(pid):
            break
        time.sleep(0.05)
    exited = pid is not None and not _pid_alive(pid)
    detail = _log_tail(run)
    raise EndpointError(
        f"the Chroma server for {chroma_path} did not start"
        + (" (it exited)" if exited else f" within {timeout_s:g} s")
        + f"; its log is {run / 'server.log'}"
        + (f":\n{detail}" if detail else "")
    )


def stop_owner(chroma_path: Path, timeout_s: float = 15.0) -> None:
    """Make the owner of ``chroma_path`` leave now (its clients reconnect to a new one).

    After a failed write (a full disk) Chroma's server can keep a database lock and hang the
    next write; a fresh process starts clean.
    """
    run = run_dir(chroma_path.expanduser().resolve())
    pid = _owner_pid(run)
    if pid is None or not _owner_running(run):  # no owner: owner.pid is stale, its pid may be reused
        return
    (run / "state.json").unlink(missing_ok=True)  # nobody connects to it any more
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.05)


@atexit.register
def _release_clients() -> None:
    with _lock:
        for handle in _clients.values():
            handle.close()
        _clients.clear()


# --- the owner process --------------------------------------------------------------


def _listening_here(port: int) -> bool:
    """Whether this process owns the socket listening on ``port`` (so a heartbeat there is ours,
    not another server's that took the port first). True where /proc can't tell."""
    try:
        mine = {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table, encoding="ascii") as rows:
                for row in list(rows)[1:]:
                    fields = row.split()
                    if fields[1].endswith(f":{port:04X}") and fields[3] == "0A":  # 0A: LISTEN
                        return f"socket:[{fields[9]}]" in mine
    except OSError:
        return True
    return False


def _watch(run: Path, url: str, port: int, idle_s: float, ready_timeout_s: float) -> None:
    """Publish the URL once our server answers; stop it once no client is left for ``idle_s``."""
    deadline = time.monotonic() + ready_timeout_s
    while not (_alive(url, timeout=0.5) and _listening_here(port)):
        if time.monotonic() > deadline or _server_done.is_set():
            return  # main() sees nothing was published and tries again, or gives up
        time.sleep(0.05)
    tmp = run / f"state.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    os.replace(tmp, run / "state.json")
    _published.set()
    clients = (run / "clients.lock").open("a+")
    _held.append(clients)  # open until the process ends: the exclusive lock outlives this thread
    idle_since: float | None = None
    while True:
        time.sleep(min(1.0, max(idle_s / 4, 0.1)))
        try:
            fcntl.flock(clients, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            idle_since = None
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= idle_s:
            # Still holding clients.lock exclusively: nobody connects while we leave.
            (run / "state.json").unlink(missing_ok=True)
            _stopping.set()
            os.kill(os.getpid(), signal.SIGTERM)  # the server stops gracefully on SIGTERM
            return
        fcntl.flock(clients, fcntl.LOCK_UN)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.index.chroma_owner", description=__doc__)
    parser.add_argument("--path", required=True, help="the embedded Chroma directory to own")
    parser.add_argument("--idle-s", type=float, default=30.0, help="exit after this long without clients")
    parser.add_argument("--detach", action="store_true", help="fork into the background first")
    args = parser.parse_args(argv)
    chroma_path = Path(args.path)
    run = run_dir(chroma_path)
    if args.detach:
        if os.fork():
            os._exit(0)
        os.setsid()
    owner = (run / "owner.lock").open("a+")
    deadline = time.monotonic() + 30
    while True:  # an owner that was asked to stop may still be finishing its last requests
        try:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                print(f"another process still owns {chroma_path}", flush=True)
                return 1
            time.sleep(0.1)
    (run / "owner.pid").write_text(str(os.getpid()))  # only ever written by the lock's holder
    import chromadb_rust_bindings

    for _ in range(3):  # the free port may be taken before the server binds it: try another
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        _server_done.clear()
        watcher = threading.Thread(target=_watch, args=(run, url, port, args.idle_s, 60.0), daemon=True)
        watcher.start()
        print(f"owner {os.getpid()} serving {chroma_path} at {url}", flush=True)
        try:
            chromadb_rust_bindings.cli(
                ["chroma", "run", "--path", str(chroma_path), "--host", "127.0.0.1", "--port", str(port)]
            )
        finally:
            _server_done.set()
            if _read_state(run) == {"url": url, "pid": os.getpid()}:
                (run / "state.json").unlink(missing_ok=True)
        if _published.is_set() or _stopping.is_set():
            break
        watcher.join()
    return 0 if _stopping.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
