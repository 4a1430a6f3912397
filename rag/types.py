"""The public result types of ``rag.search`` and ``rag.ask``, and the values the answering stages
hand each other (``Claim``, ``Draft``): plain dataclasses. ``Answer``'s serialisations (dict, JSON,
text, Markdown, HTML) live in one module, ``rag.answer_format``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval; applied inside both retrievers (not by dropping results afterwards).

    A paper passes when it meets every condition given (rag/index/filtering.py normalises them):

    - ``year_from``/``year_to``: inclusive bounds on the paper's year; a paper without a year never
      passes a year condition.
    - ``author``: whole name words, case- and accent-insensitive; every word of the filter must be
      a word of the paper's author names ("smith" matches "John Smith", not "Smithson";
      "van der berg" matches "Anna van der Berg"; "muller" matches "Müller"). The words may come
      from different authors of one paper. A filter with no word in it asks for nothing.
    - ``category``: one of the paper's categories, exactly but case-insensitively ("cs.cl" = "cs.CL").
    - ``source``: one of the sources the paper was read from, case-insensitively ("arxiv", "hf_daily").

    No match is an empty result, never an error, at any corpus size.
    """

    year_from: int | None = None
    year_to: int | None = None
    author: str | None = None  # whole name words of the paper's authors, e.g. "lovelace", "van der berg"
    category: str | None = None  # exact category, case-insensitive, e.g. "cs.CL"
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
    support: float  # the verifier's score: with 'learned', the calibrated probability it is supported
    supported: bool
    reason: str = ""  # why it is unsupported ("number 12% not in cited abstract", "… says otherwise: …")
    evidence: str = ""  # the cited abstract sentence that decides it best (for it, or against it)
    quoted: bool = False  # a verbatim quote of an abstract: shown in quotation marks
    #: supported | contradicted (the cited abstract says otherwise) | not_enough_info (it doesn't say);
    #: left empty, it follows ``supported`` (results written before verdicts had labels)
    label: str = ""
    evidence_paper: str = ""  # paper_id of the source ``evidence`` came from
    heading: str = ""  # what the line is about, shown before it (a per-paper answer: the paper's title)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = "supported" if self.supported else "not_enough_info"

    @property
    def contradicted(self) -> bool:
        return self.label == "contradicted"


@dataclass
class Answer:
    """The result of ``rag.ask``: assembled once, by the engine, from the stages' outputs."""

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
    intro: str = ""  # the line ``text`` starts with before the sentences, if any


@dataclass(frozen=True)
class Claim:
    """One sentence of a draft answer and the source numbers it cites, before it is verified.

    ``quoted`` marks a verbatim quote of an abstract (an extractive answer's sentence): it is shown
    in quotation marks, and its own bracketed numbers belong to the quote, not to us."""

    text: str
    cites: tuple[int, ...]
    quoted: bool = False
    heading: str = ""  # shown before the sentence, not part of it (a per-paper answer: the paper's title)


@dataclass(frozen=True)
class Draft:
    """What an answerer produced: its claims over ``sources`` (numbered 1..n as the claims cite
    them), or a refusal with the reason. Nothing in it is checked yet."""

    sources: list[Hit]
    claims: list[Claim] = field(default_factory=list)
    intro: str = ""  # a line before the claims ("From the indexed abstracts (quoted verbatim):")
    text: str = ""  # the text to show when there are no claims (model output without a sentence)
    refused: bool = False
    refusal_reason: str = ""  # why, for a human ("the closest abstracts are only loosely related")
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @classmethod
    def refusal(
        cls,
        sources: list[Hit],
        reason: str = "",
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
    ) -> Draft:
        return cls(
            sources=sources,
            refused=True,
            refusal_reason=reason,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )


#: Earlier turns of a chat: ``{"role": "user" | "assistant", "content": ...}`` messages,
#: (question, answer) pairs, or the earlier :class:`Answer` objects themselves (which let a follow-up
#: such as "the second paper" name the exact paper: rag/followup.py).
History = Sequence[dict[str, str]] | Sequence[tuple[str, str]] | Sequence[Answer]
