"""askpapers: cited, grounding-checked answers over research-paper abstracts.

    import rag
    hits = rag.search("attention-based VM performance prediction", k=5)
    answer = rag.ask("What mean absolute error does CloudFormer reach?")
    print(answer.text, answer.citations, [s.supported for s in answer.sentences])
    result = rag.check("CloudFormer beats its baselines.", ["t:effabe389eb78411"])
    print(result.verdict.label, result.verdict.score, result.top_evidence)

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
from collections.abc import Iterator, Sequence
from typing import Any, TypedDict

from pydantic import SecretStr
from typing_extensions import Unpack

from rag.checker import Checker, CheckResult
from rag.draft_check import DraftReport
from rag.engine import Engine
from rag.settings import Settings
from rag.types import Answer, Citation, Filters, History, Hit, SentenceCheck

__all__ = [
    "Answer",
    "AskOptions",
    "CheckOptions",
    "CheckResult",
    "Citation",
    "DraftReport",
    "Filters",
    "Hit",
    "History",
    "SentenceCheck",
    "ask",
    "ask_stream",
    "check",
    "check_draft",
    "engine_for",
    "search",
    "settings_key",
]

_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_KEY_SALT = os.urandom(16)  # this process's: the keys can't be compared with anything outside it


def _reveal(value: Any) -> Any:
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
    settings = settings or Settings()
    key = settings_key(settings)
    with _lock:
        if key not in _engines:
            _engines[key] = Engine(settings)
        return _engines[key]


class AskOptions(TypedDict, total=False):
    """Keyword options of :func:`ask` and :func:`ask_stream`."""

    k: int  # papers shown to the answerer (default 5)
    filters: Filters | dict[str, Any] | None  # year_from, year_to, author, category, source
    history: History | None  # earlier turns, for follow-ups
    mode: str | None  # an answer mode of rag.modes (default: the configured one)
    settings: Settings | None  # another index or configuration (default: from the environment)


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


def ask(question: str, **options: Unpack[AskOptions]) -> Answer:
    """Answer ``question`` from the indexed abstracts, with citations and per-sentence support."""
    answer = None
    for item in ask_stream(question, **options):
        if isinstance(item, Answer):
            answer = item
    assert answer is not None  # the stream always ends with the Answer
    return answer


def ask_stream(question: str, **options: Unpack[AskOptions]) -> Iterator[str | Answer]:
    """Like :func:`ask`, but yields text as it is produced and the :class:`Answer` last."""
    return engine_for(options.get("settings")).ask_stream(
        question,
        k=options.get("k", 5),
        filters=_filters(options.get("filters")),
        history=options.get("history"),
        mode=options.get("mode"),
    )


class CheckOptions(TypedDict, total=False):
    """Keyword options of :func:`check` and :func:`check_draft`."""

    settings: Settings | None  # another index or configuration (default: from the environment)


def check(claim: str, paper_ids: str | Sequence[str], **options: Unpack[CheckOptions]) -> CheckResult:
    """Check ``claim`` against the abstracts of the papers ``paper_ids`` names — ids as indexed, DOIs or
    arXiv ids; a string may hold several, separated by commas or spaces — with the configured verifier.
    The result's ``verdict.label`` is 'supported', 'contradicted' or 'not_enough_info', with a score
    and the evidence sentences; names of no indexed paper are in ``unknown_ids``
    (:class:`~rag.errors.UnknownPaperError` when none is indexed)."""
    return Checker(engine_for(options.get("settings"))).check(claim, paper_ids)


def check_draft(text: str, **options: Unpack[CheckOptions]) -> DraftReport:
    """Check every sentence of a draft that cites a numbered reference ([1], [2, 3]) against the
    indexed paper that reference names (by DOI, arXiv id or title); unresolved references are listed."""
    return Checker(engine_for(options.get("settings"))).check_draft_text(text)
