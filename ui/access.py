"""Who may use the chat page, and how much: logins beyond loopback, bounded requests, a per-client
limit on answers running at once, and a process environment that makes no outbound calls.

Plain Python (Gradio is not imported here), so it is cheap to import and to test.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rag.errors import AskpapersError, ConfigError
from rag.loopback import is_loopback

if TYPE_CHECKING:
    from rag.settings import ServerSettings

#: Set in the serving process before Gradio, huggingface_hub or onnxruntime is imported: the page
#: must work offline and tell no one that it runs. Each was found by the strace test in
#: tests/test_ui_security.py (DNS lookups at start-up and while answering).
OFFLINE_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",  # gradio: launch analytics and the api.gradio.app version check
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: no model look-ups (the embedder is bundled)
    "HF_HUB_DISABLE_TELEMETRY": "1",  # huggingface_hub: telemetry gradio sends through it
    "DO_NOT_TRACK": "1",  # the cross-tool opt-out (huggingface_hub and others honour it)
    "ORT_DISABLE_TELEMETRY": "1",  # onnxruntime >= 1.29 uploads usage events from Linux too
    "ANONYMIZED_TELEMETRY": "False",  # chromadb's usage events (rag/index/vectors.py turns them off too)
}

AUTH_HELP = (
    "set ASKPAPERS_SERVER__AUTH='user:password' (several separated by commas) in the environment, "
    "or ASKPAPERS_SERVER__AUTH_FILE=/path/to/file with one user:password per line"
)


class LimitError(AskpapersError):
    """A request is over one of the server's bounds; the message says which and what to do."""


def go_offline() -> None:
    """Turn off every outbound call the serving stack would make on its own (:data:`OFFLINE_ENV`)."""
    os.environ.update(OFFLINE_ENV)


def load_credentials(server: ServerSettings) -> list[tuple[str, str]]:
    """The configured (user, password) pairs, from ASKPAPERS_SERVER__AUTH and the auth file.

    Errors name the place and the entry's position, never its text (it holds a password)."""
    entries: list[tuple[str, str]] = []
    if server.auth is not None:
        for i, item in enumerate(server.auth.get_secret_value().split(","), start=1):
            if item.strip():
                entries.append((f"ASKPAPERS_SERVER__AUTH entry {i}", item.strip()))
    if server.auth_file is not None:
        path = server.auth_file.expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise ConfigError(f"can't read the auth file {path}: {reason}") from None
        for number, line in enumerate(lines, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                entries.append((f"{path}:{number}", line.strip()))
    pairs: dict[str, str] = {}
    for where, entry in entries:
        user, sep, password = entry.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError(f"{where} is not 'user:password' (a user name, a colon, a password)")
        if user.strip() in pairs:
            raise ConfigError(f"{where}: user {user.strip()!r} is configured twice")
        pairs[user.strip()] = password
    return list(pairs.items())


def require_login_beyond_loopback(host: str, credentials: list[tuple[str, str]]) -> None:
    if credentials or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to serve on {host} without a login: anyone who can reach that address could use the "
        f"page and its /ask API. To allow it, {AUTH_HELP}; or serve on 127.0.0.1 (the default)."
    )


def login_checker(credentials: list[tuple[str, str]]) -> Callable[[str, str], bool]:
    """Gradio's ``auth=`` callable: constant-time comparison, nothing logged."""
    table = {user: password.encode() for user, password in credentials}

    def check(username: str, password: str) -> bool:
        given = str(password or "").encode()
        expected = table.get(str(username or ""))
        if expected is None:
            hmac.compare_digest(given, given)  # the same work for an unknown user
            return False
        return hmac.compare_digest(expected, given)

    return check


def check_question(question: str, server: ServerSettings) -> str:
    question = (question or "").strip()
    if len(question) > server.max_question_chars:
        raise LimitError(
            f"the question is too long: {len(question):,} characters, and at most "
            f"{server.max_question_chars:,} are accepted. Shorten it and ask again."
        )
    return question


def check_k(k: Any, server: ServerSettings) -> int:
    try:
        number = float(k)
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer() or not 1 <= number <= server.max_k:
        raise LimitError(
            f"k (the number of sources) must be a whole number from 1 to {server.max_k}, not {k}."
        )
    return int(number)


def check_field(label: str, value: str, server: ServerSettings) -> str:
    if len(value or "") > server.max_question_chars:
        raise LimitError(f"{label} is too long (at most {server.max_question_chars:,} characters).")
    return value


def client_key(request: Any) -> str:
    """Who is asking: the peer address (a client chooses its Gradio session id, so a new id per request
    would escape the limit), else the session."""
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    if host:
        return f"ip:{host}"
    return f"session:{getattr(request, 'session_hash', None) or 'unknown'}"


class ClientLimiter:
    """How many answers each client has running; thread-safe, the only per-request shared state."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._running: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def slot(self, key: str) -> Iterator[None]:
        with self._lock:
            running = self._running.get(key, 0)
            if running >= self.limit:
                raise LimitError(
                    f"you already have {running} question{'s' if running != 1 else ''} being answered "
                    f"(at most {self.limit} at once); wait for the answer, then ask again."
                )
            self._running[key] = running + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._running[key] - 1
                if left:
                    self._running[key] = left
                else:
                    del self._running[key]

    def running(self, key: str) -> int:
        with self._lock:
            return self._running.get(key, 0)
