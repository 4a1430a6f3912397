"""Which retrieved papers a paper-by-paper answer gives a line to: a logistic model of "the question
needs this paper".

A which-papers or comparison question needs two to four of the top five papers. Giving a line to
every paper whose best sentence overlaps the question enough cited 0.83 of the papers the held-out
questions of evals/sets/synthesis.jsonl and sample.jsonl need, but only 0.59 of the papers it cited
were needed (0.70 once "LLMs" no longer made every paper with "LLM" in its title a named one): a paper
at rank three to five almost always shares the question's words. The retriever's fused score says more: over the papers
at ranks three to five it separated the needed ones from the rest with AUC 0.79–0.85 on the two
halves of the question sets, the best sentence's overlap with 0.59–0.86 and the question–sentence
cosine with 0.57–0.72 (neither added to the score in a model).

Signals of the paper at 0-based rank ``r`` among the hits (:data:`FEATURES`):

- ``score``: its fused retrieval score (z-score fusion: how far above the candidate pool it stands);
- ``share``: that score over the top paper's;
- ``inverse_rank``: 1 / (1 + r).

The weights and the threshold are fitted by ``python -m evals.calibrate_papers`` on the calibration
half of the question sets and kept in rag/calibration.json (``answer.paper_model``,
``answer.paper_threshold``, with the fusion they were fitted under). The top paper is given a line,
and so is a paper the question names (each when one of its sentences scores above zero in
:mod:`rag.extractive`); the model decides the rest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rag.types import Hit

FEATURES = ("score", "share", "inverse_rank")


def features(hits: Sequence[Hit], rank: int) -> dict[str, float]:
    """The signals of the paper at 0-based ``rank`` of ``hits``."""
    top = hits[0].score if hits else 0.0
    score = hits[rank].score
    return {
        "score": score,
        "share": score / top if top > 1e-9 else 0.0,
        "inverse_rank": 1.0 / (1 + rank),
    }


def probability(signals: Mapping[str, float], model: Mapping[str, float]) -> float:
    """The model's probability that the question needs the paper."""
    z = model.get("intercept", 0.0) + sum(model.get(f, 0.0) * signals[f] for f in FEATURES)
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def needed(hits: Sequence[Hit], rank: int, model: Mapping[str, float], threshold: float) -> bool:
    """Is the paper at ``rank`` one the question needs? The top paper is; the rest as the model says."""
    return rank == 0 or probability(features(hits, rank), model) >= threshold
