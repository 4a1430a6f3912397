"""Intervals in eval reports (evals/intervals.py), how the report shows them, and --compare's noise rule
(evals/compare.py): hand-made runs, no index."""

from __future__ import annotations

import math
from typing import Any

import pytest

from evals.compare import compare_figures, verdict
from evals.harness import METHODS, aggregate, answer_metrics
from evals.intervals import Interval, Rate, beyond_noise, mean_interval, wilson
from evals.metrics import retrieval_scores
from evals.questions import Question
from evals.records import EvalMeta, EvalRun, QuestionResult
from evals.report import answer_table, render_markdown, retrieval_table
from rag.types import Answer, Hit, SentenceCheck


# --- intervals -------------------------------------------------------------------------------------
def test_wilson_matches_the_published_values() -> None:
    assert str(Rate(12, 12).interval()) == "1.00 [0.76, 1.00]"
    assert str(Rate(12, 12)) == "1.00 [0.76, 1.00] (12/12)"
    assert str(Rate(0, 12)) == "0.00 [0.00, 0.24] (0/12)"
    lo, hi = wilson(11, 15)  # 0.733: [0.48, 0.89]
    assert (round(lo, 2), round(hi, 2)) == (0.48, 0.89)
    assert all(math.isnan(x) for x in wilson(0, 0))
    assert str(Rate(0, 0).interval()) == "–"


def test_mean_interval_is_wilson_for_hits_and_a_bootstrap_otherwise() -> None:
    hits = mean_interval([1.0] * 12)
    assert hits is not None and hits.k == 12 and str(hits) == "1.00 [0.76, 1.00]"
    graded = mean_interval([1.0, 0.5, 0.5, 0.0, 1.0, 0.5])
    assert graded is not None and graded.k is None and graded.n == 6
    assert graded.value == pytest.approx(7 / 12) and graded.lo < graded.value < graded.hi
    assert graded.with_n().endswith("(n=6)")
    assert mean_interval([1.0, 1.0], proportion=False) == Interval(1.0, 1.0, 1.0, 2)  # grades: no Wilson
    assert mean_interval([]) is None
    again = mean_interval([1.0, 0.5, 0.5, 0.0, 1.0, 0.5])
    assert again == graded  # a fixed seed: a rerun reports the same interval


def test_beyond_noise_needs_the_value_outside_and_the_intervals_apart() -> None:
    old = Rate(12, 12).interval()  # [0.76, 1.00]
    assert not beyond_noise(old, Rate(10, 12).interval())  # 0.83 [0.55, 0.95]: inside
    assert not beyond_noise(old, Rate(8, 12).interval())  # 0.67 [0.39, 0.86]: outside, but overlapping
    assert beyond_noise(old, Rate(3, 12).interval())  # 0.25 [0.09, 0.53]: apart
    assert beyond_noise(Interval.point(0.9), Rate(3, 12).interval())  # an earlier run's figure: a point
    assert not beyond_noise(Interval.point(0.9), Rate(10, 12).interval())


# --- compare ---------------------------------------------------------------------------------------
def _figures(k: int, n: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    rate = Rate(k, n).interval()
    return {
        "overall": {
            "refusal_accuracy": rate.value,
            "false_refusal_rate": 1 - rate.value,
            "latency_p50_ms": 10.0,
            "n": n,
            "intervals": {
                "refusal_accuracy": rate.to_dict(),
                "false_refusal_rate": Rate(n - k, n).interval().to_dict(),
            },
        }
        | (extra or {})
    }


def test_compare_calls_a_change_a_regression_only_beyond_noise() -> None:
    text, regressions = compare_figures(_figures(12, 12), _figures(10, 12))
    assert regressions == [] and "no regressions" in text  # 12/12 → 10/12 is noise on 12 questions
    assert "1.00 [0.76, 1.00]" in text and "0.83 [0.55, 0.95]" in text

    text, regressions = compare_figures(_figures(12, 12), _figures(3, 12, {"latency_p50_ms": 99.0}))
    assert regressions == ["overall.false_refusal_rate", "overall.refusal_accuracy"]  # lower is better
    assert "overall.latency_p50_ms" not in regressions  # latency is informational
    assert "2 regression(s)" in text and "don't overlap" in text

    _, regressions = compare_figures(_figures(3, 12), _figures(12, 12))
    assert regressions == []
    assert (
        verdict("o.refusal_accuracy", 0.25, 1.0, Rate(3, 12).interval(), Rate(12, 12).interval())
        == "improved"
    )


def test_compare_rules_by_figure_name() -> None:
    worse = (Rate(12, 12).interval(), Rate(0, 12).interval())
    # nDCG is judged (its key holds '.n', which used to read as the informational count 'n')
    assert verdict("retrieval.overall.hybrid.ndcg@10", 1.0, 0.0, *worse) == "REGRESSION"
    # more contradicted answer sentences is worse
    assert verdict("answers.overall.contradicted_rate", 0.0, 1.0, worse[1], worse[0]) == "REGRESSION"
    assert verdict("verifiers.learned.pairs_per_s", 400.0, 40.0, None, None) == ""
    # neither run recorded intervals: the old tolerance of 0.01
    assert verdict("answers.overall.fact_coverage", 0.70, 0.68, None, None) == "REGRESSION"
    assert verdict("answers.overall.fact_coverage", 0.70, 0.695, None, None) == ""


# --- the question-set report -------------------------------------------------------------------------
def _hit(pid: str) -> Hit:
    return Hit(paper_id=pid, title=pid, year=None, authors=[], url=None, score=1.0, chunk="")


def _result(i: int, answerable: bool) -> QuestionResult:
    qtype = "fact" if answerable else "unanswerable"
    gold = [f"g{i}"] if answerable else []
    q = Question(id=f"q{i}", question="?", type=qtype, gold=gold, answer_facts=["7.8%"], gold_ids=gold)
    sentences = [SentenceCheck("It reaches 7.8%.", [1], 0.9, True)] if answerable else []
    answer = Answer(
        question="?",
        text="It reaches 7.8% [1]." if answerable else "",
        citations={},
        sources=[_hit(f"g{i}")],
        sentences=sentences,
        refused=not answerable,
        mode="extractive",
        timings={"total_ms": 10.0 + i},
    )
    ranked = {m: [f"g{i}", "x"] for m in METHODS}
    return QuestionResult(
        id=q.id,
        type=qtype,
        question="?",
        gold_ids=gold,
        ranked=ranked,
        retrieval={m: retrieval_scores(ranked[m], set(gold)) for m in METHODS} if answerable else None,
        answer=answer,
        metrics=answer_metrics(q, answer),
    )


@pytest.fixture(scope="module")
def run() -> EvalRun:
    results = [_result(i, answerable=i < 3) for i in range(15)]  # 3 answerable, 12 unanswerable
    meta = EvalMeta(
        mode="extractive", k=5, search_k=10, questions=15, missing_gold=[], seconds=1.0, collection="c"
    )
    return EvalRun(meta, aggregate(results), results)


def test_every_rate_in_the_report_carries_its_n_and_interval(run: EvalRun) -> None:
    answers = answer_table(run)
    rows = {line.split(" | ")[0].strip("| "): line for line in answers.splitlines()}
    assert "1.00 [0.76, 1.00] (12/12)" in rows["refusal_accuracy"]  # 12 unanswerable, all refused
    assert "0.00 [0.00, 0.56] (0/3)" in rows["false_refusal_rate"]
    assert "1.00 [0.44, 1.00] (3/3)" in rows["citation_precision"]  # 3 citation pairs
    assert "1.00 [0.44, 1.00] (3/3)" in rows["fact_coverage"]  # every question's facts found: a count
    assert "[" not in rows["latency_p50_ms"]  # latency: informational, no interval
    assert "| 15 |" in rows["questions"]
    retrieval = retrieval_table(run)
    assert "| hybrid | 1.00 [0.44, 1.00] |" in retrieval and retrieval.rstrip().endswith("| 3 |")
    md = render_markdown(run)
    assert "1.00 [0.76, 1.00] (12/12)" in md and "don't overlap" in md


def test_intervals_survive_results_json(run: EvalRun, tmp_path: Any) -> None:
    from evals.records import read_results, write_results

    write_results(run, tmp_path / "results.json")
    again = read_results(tmp_path / "results.json")
    assert again.aggregates == run.aggregates
    assert again.aggregates.answers.overall.intervals["refusal_accuracy"] == Rate(12, 12).interval()
