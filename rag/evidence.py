"""Is the retrieved evidence strong enough to answer at all? (calibrated refusal: the gate stage)

Two signals, calibrated on evals/sets/sample.jsonl (answerable vs unanswerable; the values and
where they came from are settings, section ``refusal``):
- strength = exp(best dense cosine − 1) + coverage_weight × coverage, where coverage is the share
  of the question's content words found in one retrieved paper (title + abstract);
- named things the question asks about ('Elo', 'kWh', 'ADHD-200', 'BLEU') that no
  retrieved abstract mentions, when coverage is also middling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.lexical import content_stems, entities
from rag.types import Hit

if TYPE_CHECKING:
    from rag.settings import RefusalSettings


@dataclass(frozen=True)
class Evidence:
    strength: float
    coverage: float
    missing: list[str]  # names the question asks about that no retrieved abstract mentions
    weak: bool  # too weak to answer: refuse
    reason: str  # why it is weak, for a human; '' when it isn't


class EvidenceGate:
    """Decides answerability from the retrieved papers alone, before any answer is written."""

    def __init__(self, settings: RefusalSettings) -> None:
        self.settings = settings

    def assess(self, question: str, hits: Sequence[Hit]) -> Evidence:
        if not hits:
            return Evidence(0.0, 0.0, [], True, "no indexed paper matches the question")
        asked = content_stems(question, drop_question_words=True)
        coverage = max(
            len(asked & content_stems(f"{h.title} {h.abstract}")) / max(len(asked), 1) for h in hits
        )
        # exp(cos - 1) stretches the top of the cosine range, where answerable and unanswerable
        # questions differ; with raw cosine the two groups overlapped on the sample set.
        dense = math.exp(max((h.dense_score or 0.0) for h in hits) - 1.0)
        strength = dense + self.settings.coverage_weight * coverage
        text = " ".join(f"{h.title} {h.abstract}" for h in hits).lower()
        missing = sorted(e for e in entities(question, capitalised=True) if e.lower() not in text)
        if missing and coverage < self.settings.coverage_with_missing_names:
            reason = "the retrieved abstracts never mention " + ", ".join(missing)
            return Evidence(strength, coverage, missing, True, reason)
        if strength < self.settings.strength_threshold:
            return Evidence(
                strength, coverage, missing, True, "the closest abstracts are only loosely related"
            )
        return Evidence(strength, coverage, missing, False, "")
