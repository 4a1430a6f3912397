"""The answering pipeline's stages, as the small interfaces the engine composes.

    rewrite the question → retrieve → decide answerability → answer → verify sentences → assemble

Each stage is replaceable and testable alone; each returns a value and keeps no per-request state.
Implementations: :mod:`rag.followup` (rewriters), :mod:`rag.retrieval` (the hybrid retriever),
:mod:`rag.evidence` (the answerability gate), :mod:`rag.answerers` (extractive and LLM answerers;
citations are parsed by :mod:`rag.citations`), :mod:`rag.verify.stage` (the sentence checker over the
configured :class:`rag.verify.Verifier`) and :mod:`rag.pipeline` (the run and the assembly of the
:class:`~rag.types.Answer`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rag.evidence import Evidence
    from rag.retrieval import Retrieval
    from rag.types import Claim, Draft, Filters, History, Hit, SentenceCheck


class Rewriter(Protocol):
    def rewrite(self, question: str, history: History | None) -> str:
        """``question`` made to stand alone, given the earlier turns (unchanged when it already does)."""
        ...


class Searcher(Protocol):
    def retrieve(self, question: str, k: int = 10, filters: Filters | None = None) -> Retrieval:
        """The top ``k`` papers for ``question`` and the milliseconds each retriever took."""
        ...


class Gate(Protocol):
    def assess(self, question: str, hits: Sequence[Hit]) -> Evidence:
        """Whether ``hits`` are strong enough evidence to answer ``question`` at all (and if not, why)."""
        ...


class Answerer(Protocol):
    def answer(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Draft]:
        """Text as it is written (an answerer that doesn't stream yields none), then one :class:`Draft`."""
        ...


class SentenceChecker(Protocol):
    def verify(self, claims: Sequence[Claim], sources: Sequence[Hit]) -> list[SentenceCheck]:
        """Each claim checked against the sources it cites, in order: one SentenceCheck per claim
        (labelled supported, contradicted or not_enough_info)."""
        ...
