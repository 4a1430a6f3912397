"""Fusing the dense and the lexical ranking of papers into one: rank-based or score-based.

Two ways, chosen by ``settings.retrieval.fusion`` (fitted on SciFact's training queries,
``python -m evals.calibrate_retrieval``):

* ``rrf`` — weighted reciprocal-rank fusion: a paper scores ``sum(weight / (k + rank))`` over the
  rankings that hold it. Scores are ignored, so a near-tie and a landslide count alike.
* ``minmax`` / ``zscore`` — a weighted sum of each retriever's scores normalised over all the
  candidates (to [0, 1], or to standard scores). A paper the dense ranking doesn't list takes its
  lowest score: it ranked below every candidate listed. A paper BM25 doesn't list scores 0 there —
  its BM25 score when it holds no query term — *before* normalising: otherwise a question whose rare
  term ("CD-NOD") only one abstract holds gives BM25 a single candidate, whose standard score is 0,
  and the one paper that names the thing asked about gets no credit for it.

Pure functions over ``{paper id: score}`` maps, so they are tested on hand-made rankings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Literal

FusionMethod = Literal["rrf", "minmax", "zscore"]
FUSION_METHODS: tuple[FusionMethod, ...] = ("rrf", "minmax", "zscore")


def ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """1-based ranks, best score first (ties keep the mapping's order)."""
    ordered = sorted(scores, key=lambda key: -scores[key])
    return {key: i for i, key in enumerate(ordered, start=1)}


def rrf(rankings: Sequence[tuple[Mapping[str, int], float]], k: float) -> dict[str, float]:
    """Weighted reciprocal-rank fusion of ``(ranks, weight)`` pairs."""
    fused: dict[str, float] = {}
    for ranking, weight in rankings:
        for key, rank in ranking.items():
            fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return fused


def normalise(scores: Mapping[str, float], how: Literal["minmax", "zscore"]) -> dict[str, float]:
    """Scores rescaled over the candidates given: min–max to [0, 1] or to standard scores.
    All-equal scores all become 1 (min–max) or 0 (z)."""
    if not scores:
        return {}
    values = list(scores.values())
    if how == "minmax":
        low, high = min(values), max(values)
        span = high - low
        return {key: (v - low) / span if span > 0 else 1.0 for key, v in scores.items()}
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {key: (v - mean) / sd if sd > 0 else 0.0 for key, v in scores.items()}


def score_fusion(
    rankings: Sequence[tuple[Mapping[str, float], float]],
    how: Literal["minmax", "zscore"],
    missing: Sequence[float | None] | None = None,
) -> dict[str, float]:
    """Weighted sum of normalised scores of ``(scores, weight)`` pairs. A key a ranking lacks takes
    that ranking's ``missing`` raw score, normalised with the others (e.g. 0 for BM25), or, where that
    is None, the ranking's lowest normalised score."""
    keys = list(dict.fromkeys(key for scores, _ in rankings for key in scores))
    fused = dict.fromkeys(keys, 0.0)
    fills = list(missing) if missing is not None else [None] * len(rankings)
    for (scores, weight), fill in zip(rankings, fills, strict=True):
        if fill is not None:
            scores = {key: scores.get(key, fill) for key in keys}
        normal = normalise(scores, how)
        floor = min(normal.values(), default=0.0)
        for key in keys:
            fused[key] += weight * normal.get(key, floor)
    return fused


def fuse(
    dense: Mapping[str, float],
    sparse: Mapping[str, float],
    *,
    method: FusionMethod,
    dense_weight: float,
    bm25_weight: float,
    rrf_k: float,
) -> dict[str, float]:
    """One fused score per paper from the dense (cosine) and lexical (BM25) paper scores."""
    if method == "rrf":
        return rrf([(ranks(dense), dense_weight), (ranks(sparse), bm25_weight)], rrf_k)
    return score_fusion([(dense, dense_weight), (sparse, bm25_weight)], method, missing=(None, 0.0))
