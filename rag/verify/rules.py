"""The ``rules`` verifier: rag/support.py's cosine-and-overlap scorer with its hard checks, kept as the
baseline every other verifier is compared with.

It can say supported or not_enough_info, never contradicted: a reversed or negated finding has the
same words and nearly the same vector as the original, so it scores as supported (on SciFact it
flags only 19 % of CONTRADICT pairs). Its score is the blend of rag/support.py, not a probability.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.support import SupportScorer
from rag.verify import Evidence, Statement, Verdict


class RulesVerifier:
    name = "rules"

    def __init__(self, scorer: SupportScorer) -> None:
        self.scorer = scorer

    def verify(self, statements: Sequence[Statement]) -> list[Verdict]:
        items = [(s.text, [src.text for src in s.sources]) for s in statements]
        results = self.scorer.check_many(items) if items else []
        verdicts = []
        for statement, result in zip(statements, results, strict=True):
            # check_many skips empty abstracts, so its index counts the non-empty ones
            kept = [src for src in statement.sources if src.text.strip()]
            evidence = (
                (Evidence(result.evidence, kept[result.evidence_index].paper_id, result.score),)
                if result.evidence and 0 <= result.evidence_index < len(kept)
                else ()
            )
            verdicts.append(
                Verdict(
                    "supported" if result.supported else "not_enough_info",
                    result.score,
                    evidence,
                    result.reason,
                )
            )
        return verdicts
