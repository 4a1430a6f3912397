"""Is the retrieved evidence strong enough to answer at all? (calibrated refusal: the gate stage)

Two signals, fitted by ``python -m evals.calibrate_refusal`` on half of evals/sets/sample.jsonl
(answerable vs unanswerable; the values and where they came from are settings, section ``refusal``):
- strength = exp(best dense cosine − 1) + coverage_weight × coverage, where coverage is the share
  of the question's terms (:func:`rag.text.content_terms`) found in one retrieved paper (title +
  abstract);
- named things the question asks about ('Elo', 'kWh', 'ADHD-200', 'BLEU') that no
  retrieved abstract mentions (:mod:`rag.text.names`), when coverage is also middling.

:func:`measure` takes the signals and :func:`decide` applies the thresholds, so the calibration
measures each question once and tries every candidate setting on the same signals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.text import NameIndex, content_terms, names_in
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


@dataclass(frozen=True)
class Signals:
    """What the gate measures of one question's retrieved papers, before any threshold is applied
    (the calibration script measures them once and tries every candidate setting on them)."""

    dense: float  # exp(best dense cosine - 1)
    coverage: float
    missing: list[str]


def measure(question: str, hits: Sequence[Hit]) -> Signals | None:
    """The gate's signals for ``hits``; None when nothing was retrieved."""
    if not hits:
        return None
    asked = content_terms(question, question=True)
    coverage = max(len(asked & content_terms(f"{h.title} {h.abstract}")) / max(len(asked), 1) for h in hits)
    # exp(cos - 1) stretches the top of the cosine range, where answerable and unanswerable
    # questions differ; with raw cosine the two groups overlapped on the sample set.
    dense = math.exp(max((h.dense_score or 0.0) for h in hits) - 1.0)
    retrieved = [NameIndex.of(f"{h.title}. {h.abstract}") for h in hits]
    missing = sorted(e for e in names_in(question) if not any(r.mentions(e) for r in retrieved))
    return Signals(dense, coverage, missing)


def decide(signals: Signals | None, settings: RefusalSettings) -> Evidence:
    """The verdict of ``settings``' thresholds on measured signals."""
    if signals is None:
        return Evidence(0.0, 0.0, [], True, "no indexed paper matches the question")
    coverage, missing = signals.coverage, signals.missing
    strength = signals.dense + settings.coverage_weight * coverage
    if missing and coverage < settings.coverage_with_missing_names:
        reason = "the retrieved abstracts never mention " + ", ".join(missing)
        return Evidence(strength, coverage, missing, True, reason)
    if strength < settings.strength_threshold:
        return Evidence(strength, coverage, missing, True, "the closest abstracts are only loosely related")
    return Evidence(strength, coverage, missing, False, "")


class EvidenceGate:
    """Decides answerability from the retrieved papers alone, before any answer is written."""

    def __init__(self, settings: RefusalSettings) -> None:
        self.settings = settings

    def assess(self, question: str, hits: Sequence[Hit]) -> Evidence:
        return decide(measure(question, hits), self.settings)
