"""The loopback helpers every local server of ours needs: a free port, "is this address only
this machine's?", and no proxy for 127.0.0.1.

A user's ``http_proxy`` without a ``no_proxy`` would send urllib's and httpx's requests for
127.0.0.1 — the Chroma owner, the local model's server — to the proxy, and nothing would
answer; loopback addresses are added to ``NO_PROXY`` before any such client is made.
"""

from __future__ import annotations

import ipaddress
import os
import socket

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach: 127.0.0.0/8, ::1 and 'localhost'."""
    name = host.strip().strip("[]").lower()
    if name in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other host name may resolve to a public address


def bypass_proxy() -> None:
    """Make sure requests to loopback addresses never go through a configured proxy."""
    for name in ("NO_PROXY", "no_proxy"):
        current = [h.strip() for h in os.environ.get(name, "").split(",") if h.strip()]
        missing = [h for h in LOOPBACK_HOSTS if h not in current]
        if missing:
            os.environ[name] = ",".join(current + missing)
