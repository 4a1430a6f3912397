"""How verdicts explain themselves to a reader: the wording every verifier shares."""

from __future__ import annotations

#: Longest evidence sentence quoted in a reason, in characters.
QUOTE_CHARS = 200


def quote(text: str) -> str:
    """``text`` in quotation marks, cut to :data:`QUOTE_CHARS`."""
    cut = text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1].rstrip() + "…"
    return f"“{cut}”"


def not_said(n_sources: int) -> str:
    """The reason of a not_enough_info verdict with no other reason."""
    return "the cited abstracts do not say this" if n_sources > 1 else "the cited abstract does not say this"


def says_otherwise(n_sources: int, evidence: str) -> str:
    """The reason of a contradicted verdict, naming the sentence that contradicts it."""
    who = "a cited abstract" if n_sources > 1 else "the cited abstract"
    return f"{who} says otherwise: {quote(evidence)}" if evidence else f"{who} says otherwise"
