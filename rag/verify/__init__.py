"""Verification: does the text a statement cites support it, contradict it, or not say?

The one interface every verifier implements — ``verify(statements) -> verdicts`` — and the types it
speaks. A :class:`Statement` is a sentence with the abstracts it cites; a :class:`Verdict` says
``supported`` | ``contradicted`` | ``not_enough_info``, with a calibrated score and the evidence
sentences (and which paper each came from). Implementations, chosen by ``settings.verify.method``:
``learned`` (the default: a small model trained by ``python -m evals.train_verifier``), ``llm``
(any OpenAI-compatible endpoint, MiniCheck's prompt) and ``rules`` (the cosine-and-overlap scorer of
rag/support.py, kept as the baseline); ``rag.verify.factory.make_verifier`` builds the configured one.
The answer pipeline checks every answer sentence through it (rag/verify/stage.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

Label = Literal["supported", "contradicted", "not_enough_info"]
LABELS: tuple[Label, ...] = ("supported", "contradicted", "not_enough_info")


@dataclass(frozen=True)
class Source:
    """An abstract a statement cites."""

    paper_id: str
    title: str
    abstract: str

    @property
    def text(self) -> str:
        """Title and abstract as one cited text: sentences often name a paper by its title's words."""
        return f"{self.title}.\n{self.abstract}" if self.title.strip() else self.abstract


@dataclass(frozen=True)
class Statement:
    """A sentence to check, and the abstracts it cites (none: it can't be supported)."""

    text: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Evidence:
    """A sentence of a cited abstract that bears on the statement (for or against)."""

    sentence: str
    paper_id: str
    score: float  # how strongly this sentence decides the verdict, 0..1


@dataclass(frozen=True)
class Verdict:
    label: Label
    score: float  # calibrated probability that the statement is supported, 0..1
    evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    reason: str = ""  # for a human, when not supported ("the cited abstract reports the opposite: …")

    @property
    def supported(self) -> bool:
        return self.label == "supported"


class Verifier(Protocol):
    """Checks statements against the abstracts they cite; thread-safe, keeps no per-call state."""

    name: str  # 'learned', 'llm', 'rules'

    def verify(self, statements: Sequence[Statement]) -> list[Verdict]:
        """One verdict per statement, in order."""
        ...
