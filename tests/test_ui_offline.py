"""Issue 8: the chat server makes no DNS lookup and no connection off loopback — checked with
strace on the real server process, started with none of the opt-out variables set by the test."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.test_ui import _start, children
from tests.test_ui_security import QUOKKA, hostile_home  # noqa: F401 (hostile_home: a fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),
]

STRACE = Path("/usr/bin/strace")


_LOOPBACK_V4 = re.compile(r'inet_addr\("127\.[0-9.]+"\)')
_LOOPBACK_V6 = re.compile(r'inet_pton\(AF_INET6, "(::1|::ffff:127\.[0-9.]+)"')


def outbound_connects(trace: str) -> list[str]:
    """The connect() calls in an strace log that leave the machine or ask a name resolver."""
    bad = []
    for line in trace.splitlines():
        if "connect(" not in line:
            continue
        if re.search(r"sin6?_port=htons\(53\)", line) or re.search(r"nscd|systemd/resolve|resolv", line):
            bad.append(line)
        elif "AF_INET6" in line:
            if not _LOOPBACK_V6.search(line):
                bad.append(line)
        elif "AF_INET" in line and not _LOOPBACK_V4.search(line):
            bad.append(line)
    return bad


def test_outbound_connects_are_recognised() -> None:
    """The log parser itself, on lines strace writes (so the strace test can fail)."""
    lines = [
        '9 connect(5, {sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.0.0.53")}, 16) = 0',
        '9 connect(6, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
        '9 connect(7, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("52.1.2.3")}, 16) = 0',
        "9 connect(8, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "2600::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    ]
    fine = [
        '9 connect(9, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
        "9 connect(9, {sa_family=AF_INET6, sin6_port=htons(7860), sin6_flowinfo=htonl(0), "
        'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '9 connect(3, {sa_family=AF_UNIX, sun_path="/tmp/x.sock"}, 110) = 0',
    ]
    assert outbound_connects("\n".join(lines + fine)) == lines


def test_chat_server_makes_no_dns_lookups(hostile_home: Path, tmp_path: Path) -> None:  # noqa: F811
    """Start the real server under strace (with none of the opt-out variables set by the test),
    load the page, ask one question, stop it: no DNS, no resolver socket, nothing off loopback."""
    if not STRACE.exists():
        pytest.skip(f"{STRACE} is missing: install it with 'apt-get install -y strace' (the Makefile does)")
    from gradio_client import Client

    trace = tmp_path / "connect.log"
    tracer, url = _start(
        hostile_home,
        tmp_path / "server.log",
        wrapper=[str(STRACE), "-f", "--seccomp-bpf", "-e", "trace=connect", "-o", str(trace)],
        offline=False,
        ASKPAPERS_LLM__MODE="extractive",
    )
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback)
            assert response.status == 200
        assert "wheeled rovers" in str(Client(url, verbose=False).predict(QUOKKA, api_name="/ask"))
        time.sleep(2)  # anything sent in the background after an answer is in the trace too
    finally:
        _stop_traced(tracer)
    log = trace.read_text(errors="replace")
    assert "connect(" in log, "strace recorded no connect() at all: the trace did not work"
    assert outbound_connects(log) == [], "\n".join(outbound_connects(log))


def _stop_traced(tracer: subprocess.Popen[bytes]) -> None:
    """Stop the server strace runs, then strace (which detaches from anything left, e.g. a Chroma
    owner process the server started, and exits)."""
    for pid in children(tracer.pid):
        os.kill(pid, signal.SIGTERM)
    try:
        tracer.wait(timeout=30)
    except subprocess.TimeoutExpired:
        tracer.terminate()
        tracer.wait(timeout=15)
