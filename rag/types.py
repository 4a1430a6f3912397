"""The public result types of ``rag.search`` and ``rag.ask``: plain dataclasses, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval; applied inside both retrievers (not by dropping results afterwards)."""

    year_from: int | None = None
    year_to: int | None = None
    author: str | None = None  # case-insensitive substring of any author name
    category: str | None = None  # exact category, e.g. "cs.CL"
    source: str | None = None  # e.g. "arxiv", "hf_daily"

    def is_empty(self) -> bool:
        return all(v in (None, "") for v in asdict(self).values())


@dataclass
class Hit:
    """One retrieved paper (chunks are grouped to their paper)."""

    paper_id: str
    title: str
    year: int | None
    authors: list[str]
    url: str | None
    score: float
    chunk: str  # the best-matching chunk's text
    abstract: str = ""
    date: str | None = None
    categories: list[str] = field(default_factory=list)
    source: str = ""
    dense_score: float | None = None  # cosine of the best chunk, when the dense retriever found it
    bm25_rank: int | None = None
    dense_rank: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Citation:
    n: int
    paper_id: str
    title: str
    year: int | None
    url: str | None


@dataclass
class SentenceCheck:
    """One answer sentence, the source numbers it cites, and how well they support it.

    ``text`` is the sentence body without our citation markers: for a generated sentence, the
    model's words minus the markers the parser read into ``cites``; for an extractive answer, the
    verbatim abstract sentence (any "[1][2][3]" in it belongs to the quote, not to us). Renderers
    build citation markers and links from ``cites`` only (``rag.citations.sentence_text``)."""

    text: str
    cites: list[int]  # 1-based numbers into Answer.sources
    support: float
    supported: bool
    reason: str = ""  # why it is unsupported ("number 12% not in cited abstract", …)
    evidence: str = ""  # the cited abstract sentence that supports it best


@dataclass
class Answer:
    question: str
    text: str
    citations: dict[int, Citation]
    sources: list[Hit]
    sentences: list[SentenceCheck]
    refused: bool
    mode: str
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds per stage
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    standalone_question: str | None = None  # the rewritten question, for follow-ups

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["citations"] = [asdict(c) for c in self.citations.values()]
        return data
