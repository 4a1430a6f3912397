"""The chat's conversation beyond one answer: the Markdown export a user downloads
(rag/answer_format.py writes it). A follow-up is resolved against the session's Answers themselves."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rag import answer_format
from rag.types import Answer

__all__ = ["export"]


_EXPORTS: list[Path] = []  # this process's export folder, made on first use
EXPORT_KEEP_S = 24 * 3600  # an export older than a day is deleted when the next one is written


def export(answers: list[Answer]) -> str:
    """The conversation as a Markdown file to download (one folder per page process, pruned)."""
    if not _EXPORTS:
        _EXPORTS.append(Path(tempfile.mkdtemp(prefix="askpapers-export-")))
    folder = _EXPORTS[0]
    now = time.time()
    for old in folder.glob("*.md"):
        if now - old.stat().st_mtime > EXPORT_KEEP_S:
            old.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f"askpapers-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".md", dir=folder
    )
    with open(handle, "w", encoding="utf-8") as out:
        out.write(answer_format.conversation_markdown(answers))
    return name
