"""Retrieval metrics over ranked paper ids (pure functions, shared by eval and bench)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from evals.records import RetrievalScores


def recall_at(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Share of gold papers in the top k, capped: a 3-paper question can't have all three in the top 1."""
    if not gold:
        return 0.0
    return len(gold & set(ranked[:k])) / min(len(gold), k)


def reciprocal_rank(ranked: Sequence[str], gold: set[str]) -> float:
    return next((1.0 / (i + 1) for i, pid in enumerate(ranked) if pid in gold), 0.0)


def ndcg_at(ranked: Sequence[str], gold: set[str] | dict[str, float], k: int = 10) -> float:
    """nDCG@k with binary gains for a set, graded gains for a dict (BEIR qrels)."""
    gains = gold if isinstance(gold, dict) else dict.fromkeys(gold, 1.0)
    dcg = sum(gains.get(pid, 0.0) / math.log2(i + 2) for i, pid in enumerate(ranked[:k]))
    ideal = sorted(gains.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def retrieval_scores(ranked: Sequence[str], gold: set[str]) -> RetrievalScores:
    return RetrievalScores(
        recall_at_1=recall_at(ranked, gold, 1),
        recall_at_5=recall_at(ranked, gold, 5),
        recall_at_10=recall_at(ranked, gold, 10),
        mrr=reciprocal_rank(ranked, gold),
        ndcg_at_10=ndcg_at(ranked, gold, 10),
    )


def recall_uncapped(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Standard BEIR recall: |relevant ∩ top k| / |relevant| (not capped by k)."""
    if not relevant:
        return 0.0
    return len(relevant & set(ranked[:k])) / len(relevant)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
