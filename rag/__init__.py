"""askpapers: cited, grounding-checked answers over research-paper abstracts.

    import rag
    hits = rag.search("attention-based VM performance prediction", k=5)
    answer = rag.ask("What mean absolute error does CloudFormer reach?")
    print(answer.text, answer.citations, [s.supported for s in answer.sentences])

Without ``settings=`` the functions use one shared engine configured from the
environment (``ASKPAPERS_*``, ``OPENAI_*``), read once, here at the API boundary.
Heavy libraries load on the first call, not on import.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rag.types import Answer, Citation, Filters, History, Hit, SentenceCheck

if TYPE_CHECKING:
    from rag.engine import Engine
    from rag.settings import Settings

__all__ = [
    "Answer",
    "Citation",
    "Filters",
    "Hit",
    "History",
    "SentenceCheck",
    "ask",
    "ask_stream",
    "engine_for",
    "search",
    "settings_key",
]

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_KEY_SALT = os.urandom(16)  # this process's: the keys can't be compared with anything outside it


def _reveal(value: Any) -> Any:
    from pydantic import SecretStr

    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reveal(v) for v in value]
    return value


def settings_key(settings: Settings) -> str:
    """A digest of every setting, secrets included, so that settings differing only in an API key
    (which ``model_dump_json`` renders as ``**********``) get engines of their own. Only the
    digest is kept (keyed by a per-process salt), never the secret."""
    blob = json.dumps(_reveal(settings.model_dump()), sort_keys=True, default=str).encode()
    return hmac.new(_KEY_SALT, blob, hashlib.sha256).hexdigest()


def engine_for(settings: Settings | None = None) -> Engine:
    """The engine for ``settings`` (default: from the environment), created once and reused."""
    # here, not at the top: ``import rag`` (which every ``askpapers`` command, --help too, does
    # for rag.errors) must not load pydantic and the engine's parts
    from rag.engine import Engine
    from rag.settings import Settings

    settings = settings or Settings()
    key = settings_key(settings)
    with _lock:
        if key not in _engines:
            _engines[key] = Engine(settings)
        return _engines[key]


def _filters(filters: Filters | dict[str, Any] | None) -> Filters | None:
    return Filters(**filters) if isinstance(filters, dict) else filters


def search(
    question: str,
    *,
    k: int = 10,
    filters: Filters | dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> list[Hit]:
    """Ranked papers (not chunks) for ``question``, best first."""
    return engine_for(settings).search(question, k=k, filters=_filters(filters))


def ask(
    question: str,
    *,
    k: int = 5,
    filters: Filters | dict[str, Any] | None = None,
    history: History | None = None,
    mode: str | None = None,
    settings: Settings | None = None,
) -> Answer:
    """Answer ``question`` from the indexed abstracts, with citations and per-sentence support."""
    return engine_for(settings).ask(question, k=k, filters=_filters(filters), history=history, mode=mode)


def ask_stream(
    question: str,
    *,
    k: int = 5,
    filters: Filters | dict[str, Any] | None = None,
    history: History | None = None,
    mode: str | None = None,
    settings: Settings | None = None,
) -> Iterator[str | Answer]:
    """Like :func:`ask`, but yields text as it is produced and the :class:`Answer` last."""
    return engine_for(settings).ask_stream(
        question, k=k, filters=_filters(filters), history=history, mode=mode
    )
