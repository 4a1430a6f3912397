"""The answer pipeline's verify stage: each answer sentence checked, through the configured
:class:`~rag.verify.Verifier`, against the title and abstract of every source it cites.

A sentence becomes a :class:`~rag.verify.Statement` with its cited sources; the verdict becomes the
sentence's :class:`~rag.types.SentenceCheck` (label, supported, score, reason, evidence and the
paper it came from). An extractive answer's verbatim quote of an abstract it cites is supported as it
stands, before any verifier sees it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.types import Claim, Hit, SentenceCheck
from rag.verify import Source, Statement, Verdict, Verifier


class SentenceVerifier:
    """Implements :class:`rag.stages.SentenceChecker` over any :class:`~rag.verify.Verifier`."""

    def __init__(self, verifier: Verifier) -> None:
        self.verifier = verifier

    @property
    def method(self) -> str:
        return self.verifier.name

    def verify(self, claims: Sequence[Claim], sources: Sequence[Hit]) -> list[SentenceCheck]:
        def cited(claim: Claim) -> list[Hit]:
            return [sources[n - 1] for n in dict.fromkeys(claim.cites) if 1 <= n <= len(sources)]

        checks: list[SentenceCheck | None] = []
        pending: list[int] = []
        for claim in claims:
            quoted = next((h for h in cited(claim) if claim.quoted and claim.text in h.abstract), None)
            if quoted is not None:
                # A verbatim quote of an abstract it cites is supported as it stands. It skips the
                # verifier, which strips "[n]" from sentences and so would no longer find a quote that
                # carries the abstract's own bracketed numbers ("… before [1][2][3].").
                checks.append(_check(claim, Verdict("supported", 1.0), claim.text, quoted.paper_id))
            else:
                pending.append(len(checks))
                checks.append(None)
        statements = [
            Statement(
                claims[i].text, tuple(Source(h.paper_id, h.title, h.abstract) for h in cited(claims[i]))
            )
            for i in pending
        ]
        verdicts = self.verifier.verify(statements) if statements else []
        for i, verdict in zip(pending, verdicts, strict=True):
            first = verdict.evidence[0] if verdict.evidence else None
            checks[i] = _check(
                claims[i], verdict, first.sentence if first else "", first.paper_id if first else ""
            )
        return [c for c in checks if c is not None]


def _check(claim: Claim, verdict: Verdict, evidence: str, paper_id: str) -> SentenceCheck:
    return SentenceCheck(
        claim.text,
        list(claim.cites),
        round(verdict.score, 3),
        verdict.supported,
        verdict.reason,
        evidence,
        claim.quoted,
        label=verdict.label,
        evidence_paper=paper_id,
        heading=claim.heading,
    )
