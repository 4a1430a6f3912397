"""Regression gate: the whole sample question set, extractive mode, against floors set just under
what was measured (see evals/harness.py for the definitions). Raise a floor when a change makes a
figure better for good; never lower one to get a change through."""

from __future__ import annotations

from typing import Any

import pytest

from evals.harness import run_eval
from evals.questions import load_questions
from evals.records import EvalRun
from tests.conftest import REPO

SAMPLE_SET = REPO / "evals" / "sets" / "sample.jsonl"

# measured: hybrid R@1 0.962, R@5 1.000, R@10 1.000, MRR 0.981, nDCG@10 0.985 (53 answerable questions)
HYBRID_RECALL_1_FLOOR = 0.94
HYBRID_RECALL_5_FLOOR = 0.97
HYBRID_RECALL_10_FLOOR = 0.98
HYBRID_MRR_FLOOR = 0.96
HYBRID_NDCG_10_FLOOR = 0.96
# measured: dense R@5 0.978 / nDCG 0.964; bm25 R@5 0.937 / nDCG 0.937
DENSE_RECALL_5_FLOOR = 0.95
BM25_RECALL_5_FLOOR = 0.91
# measured answers: refusal accuracy 1.000 (12 unanswerable), false refusals 0.000 (53 answerable),
# citation precision 1.000, citation recall 1.000, unsupported 0.000, fact coverage 0.673 (fact type 0.960)
REFUSAL_ACCURACY_FLOOR = 0.90
# Issue 10's evidence gate refuses near misses (held out: 0.83 of unanswerable questions refused, was
# 0.10) at the price of false refusals: 6 of this set's 53 answerable questions (0.113) are refused.
FALSE_REFUSAL_CEILING = 0.15
CITATION_PRECISION_FLOOR = 0.95
CITATION_RECALL_FLOOR = 0.95
UNSUPPORTED_RATE_CEILING = 0.05
FACT_COVERAGE_FLOOR = 0.58
FACT_TYPE_COVERAGE_FLOOR = 0.80  # measured 0.84 (21/25; one question is 0.04)
MISSING_GOLD_ALLOWED = 0


@pytest.fixture(scope="module")
def results(sample_engine: Any) -> EvalRun:
    return run_eval(sample_engine, load_questions(SAMPLE_SET), mode="extractive", k=5, progress=False)


def test_every_gold_paper_is_indexed(results: EvalRun) -> None:
    assert len(results.meta.missing_gold) <= MISSING_GOLD_ALLOWED, results.meta.missing_gold
    assert results.meta.questions == 65


def test_retrieval_floors(results: EvalRun) -> None:
    overall = results.aggregates.retrieval.overall
    hybrid = overall["hybrid"]
    assert hybrid.recall_at_1 >= HYBRID_RECALL_1_FLOOR
    assert hybrid.recall_at_5 >= HYBRID_RECALL_5_FLOOR
    assert hybrid.recall_at_10 >= HYBRID_RECALL_10_FLOOR
    assert hybrid.mrr >= HYBRID_MRR_FLOOR
    assert hybrid.ndcg_at_10 >= HYBRID_NDCG_10_FLOOR
    assert overall["dense"].recall_at_5 >= DENSE_RECALL_5_FLOOR
    assert overall["bm25"].recall_at_5 >= BM25_RECALL_5_FLOOR


@pytest.mark.parametrize("metric", ["recall@5", "ndcg@10"])
@pytest.mark.parametrize("other", ["dense", "bm25"])
def test_hybrid_beats_each_retriever(results: EvalRun, metric: str, other: str) -> None:
    overall = results.aggregates.retrieval.overall
    assert overall["hybrid"].get(metric) >= overall[other].get(metric), (metric, other, overall)


def _at_least(value: float | None, floor: float) -> bool:
    return value is not None and value >= floor


def _at_most(value: float | None, ceiling: float) -> bool:
    return value is not None and value <= ceiling


def test_answer_floors(results: EvalRun) -> None:
    answers = results.aggregates.answers
    overall = answers.overall
    assert _at_least(overall.refusal_accuracy, REFUSAL_ACCURACY_FLOOR), overall
    assert _at_most(overall.false_refusal_rate, FALSE_REFUSAL_CEILING), overall
    assert _at_least(overall.citation_precision, CITATION_PRECISION_FLOOR), overall
    assert _at_least(overall.citation_recall, CITATION_RECALL_FLOOR), overall
    assert _at_most(overall.unsupported_rate, UNSUPPORTED_RATE_CEILING), overall
    assert _at_least(overall.fact_coverage, FACT_COVERAGE_FLOOR), overall
    assert _at_least(answers.by_type["fact"].fact_coverage, FACT_TYPE_COVERAGE_FLOOR), answers.by_type["fact"]
