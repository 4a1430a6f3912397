"""Run a question set through retrieval (bm25, dense, hybrid side by side) and the answerer.

``run_eval`` returns an :class:`~evals.records.EvalRun`: every question's result plus aggregates,
overall and per question type. Retrieval figures cover answerable questions only; answer figures
follow the definitions below (all in 0..1 unless named ``*_ms`` or ``*tokens*``):

* fact coverage — share of a question's ``answer_facts`` found in the answer text
  (case-insensitive), averaged over answerable questions that list facts;
* citation precision — of all (sentence, cited paper) pairs, the share whose paper is gold or
  whose sentence the cited abstracts support (``SentenceCheck.supported``);
* citation recall (ALCE-style) — share of answer sentences carrying a citation that supports them;
* unsupported rate — share of answer sentences not supported by what they cite;
* contradicted rate — share of answer sentences their cited abstracts contradict (verdict label
  ``contradicted``; a part of the unsupported rate, in results.json);
* refusal accuracy — refused unanswerable questions / unanswerable questions;
* false-refusal rate — refused answerable questions / answerable questions.

Every figure carries its n and a 95 % interval (evals/intervals.py): the rates counted over
sentences, citation pairs or questions (citation precision and recall, unsupported and contradicted
rates, refusal accuracy, false refusals) get Wilson's interval; means of per-question scores
(recall@k, MRR, nDCG@10, fact coverage) a bootstrap over questions, or Wilson's when every question
scored 0 or 1; judge grades (1–5) a bootstrap. Sentences of one answer are not independent, so the
sentence-level intervals are somewhat too narrow; the question-level ones are not.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from evals import calibrate_support as cs
from evals.intervals import Interval, Rate, mean_interval, rate_interval
from evals.metrics import percentile, retrieval_scores
from evals.questions import TYPES, Question, resolve_gold
from evals.records import (
    Aggregates,
    AnswerAggregates,
    AnswerMetrics,
    AnswerSummary,
    ClassifierScores,
    EvalMeta,
    EvalRun,
    JudgeScores,
    QuestionResult,
    RetrievalAggregates,
    RetrievalScores,
    RetrievalSummary,
    SupportValidation,
)
from rag.records import normalise_title
from rag.types import Answer

if TYPE_CHECKING:
    from rag.engine import Engine

METHODS = ("bm25", "dense", "hybrid")
RETRIEVAL_METRICS = tuple(RetrievalScores.KEYS)  # their names in results.json and the report
SEARCH_K = 10
#: The answer figures of the report's tables and charts (the rates of failure are lower-is-better).
ANSWER_METRICS = (
    "fact_coverage",
    "citation_precision",
    "citation_recall",
    "unsupported_rate",
    "needed_papers_cited",
    "cited_papers_needed",
    "refusal_accuracy",
    "false_refusal_rate",
)

Judge = Callable[[Question, Answer], JudgeScores]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def fact_coverage(text: str, facts: Sequence[str]) -> float | None:
    if not facts:
        return None
    low = text.lower()
    return sum(1 for f in facts if f.lower() in low) / len(facts)


def answer_metrics(question: Question, answer: Answer) -> AnswerMetrics:
    """Per-question answer figures, with the raw counts the aggregates are built from."""
    sources = answer.sources
    gold = set(question.gold_ids)
    pairs = correct = sentences = supported_cited = unsupported = contradicted = 0
    if not answer.refused:
        for s in answer.sentences:
            sentences += 1
            if not s.supported:
                unsupported += 1
            if s.contradicted:
                contradicted += 1
            if s.cites and s.supported:
                supported_cited += 1
            for n in s.cites:
                pairs += 1
                if not 1 <= n <= len(sources):
                    continue  # a citation to no source is never correct
                if sources[n - 1].paper_id in gold or s.supported:
                    correct += 1
    cited = {c.paper_id for c in answer.citations.values()} if not answer.refused else set()
    return AnswerMetrics(
        fact_coverage=fact_coverage(answer.text, question.answer_facts) if question.answerable else None,
        gold_papers=len(gold) if question.answerable else 0,
        papers_cited=len(cited) if question.answerable and gold else 0,
        gold_papers_cited=len(cited & gold) if question.answerable else 0,
        citation_pairs=pairs,
        citation_correct=correct,
        sentences=sentences,
        sentences_supported_cited=supported_cited,
        sentences_unsupported=unsupported,
        sentences_contradicted=contradicted,
    )


def _retrieval_summary(results: list[QuestionResult]) -> dict[str, RetrievalSummary]:
    return {m: RetrievalSummary.mean([r.retrieval[m] for r in results if r.retrieval]) for m in METHODS}


def _answer_summary(results: list[QuestionResult]) -> AnswerSummary:
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    ms = [r.metrics for r in results]
    pairs = sum(m.citation_pairs for m in ms)
    sentences = sum(m.sentences for m in ms)
    needed, cited = sum(m.gold_papers for m in ms), sum(m.papers_cited for m in ms)
    needed_cited = sum(m.gold_papers_cited for m in ms)
    coverage = [c for r in answerable if (c := r.metrics.fact_coverage) is not None]
    latencies = [ms_ for r in results if (ms_ := r.latency_ms) is not None]
    prompt = [t for r in results if (t := r.answer.prompt_tokens) is not None]
    completion = [t for r in results if (t := r.answer.completion_tokens) is not None]
    judged = [r.judge for r in results if r.judge is not None]
    faithful = [s for j in judged if (s := j.faithfulness) is not None]
    relevant = [s for j in judged if (s := j.relevance) is not None]
    intervals: dict[str, Interval | None] = {
        "fact_coverage": mean_interval(coverage),
        "citation_precision": rate_interval(sum(m.citation_correct for m in ms), pairs),
        "citation_recall": rate_interval(sum(m.sentences_supported_cited for m in ms), sentences),
        "unsupported_rate": rate_interval(sum(m.sentences_unsupported for m in ms), sentences),
        "contradicted_rate": rate_interval(sum(m.sentences_contradicted for m in ms), sentences),
        "needed_papers_cited": rate_interval(needed_cited, needed),
        "cited_papers_needed": rate_interval(needed_cited, cited),
        "refusal_accuracy": rate_interval(sum(r.refused for r in unanswerable), len(unanswerable)),
        "false_refusal_rate": rate_interval(sum(r.refused for r in answerable), len(answerable)),
        "judge_faithfulness": mean_interval(faithful, proportion=False),
        "judge_relevance": mean_interval(relevant, proportion=False),
    }
    return AnswerSummary(
        n=len(results),
        fact_coverage=_mean(coverage),
        citation_precision=sum(m.citation_correct for m in ms) / pairs if pairs else None,
        citation_recall=sum(m.sentences_supported_cited for m in ms) / sentences if sentences else None,
        unsupported_rate=sum(m.sentences_unsupported for m in ms) / sentences if sentences else None,
        contradicted_rate=sum(m.sentences_contradicted for m in ms) / sentences if sentences else None,
        needed_papers_cited=needed_cited / needed if needed else None,
        cited_papers_needed=needed_cited / cited if cited else None,
        refusal_accuracy=_mean([float(r.refused) for r in unanswerable]),
        false_refusal_rate=_mean([float(r.refused) for r in answerable]),
        latency_p50_ms=percentile(latencies, 50) if latencies else None,
        latency_p95_ms=percentile(latencies, 95) if latencies else None,
        prompt_tokens_sum=sum(prompt) if prompt else None,
        prompt_tokens_mean=_mean(prompt),
        completion_tokens_sum=sum(completion) if completion else None,
        completion_tokens_mean=_mean(completion),
        judge_faithfulness=_mean(faithful),
        judge_relevance=_mean(relevant),
        intervals={name: iv for name, iv in intervals.items() if iv is not None},
    )


def aggregate(results: list[QuestionResult]) -> Aggregates:
    """Aggregates over per-question results (as built by :func:`run_eval`)."""
    answerable = [r for r in results if r.answerable]
    types = [t for t in TYPES if any(r.type == t for r in results)]
    return Aggregates(
        RetrievalAggregates(
            overall=_retrieval_summary(answerable),
            by_type={
                t: _retrieval_summary([r for r in answerable if r.type == t])
                for t in types
                if t != "unanswerable"
            },
        ),
        AnswerAggregates(
            overall=_answer_summary(results),
            by_type={t: _answer_summary([r for r in results if r.type == t]) for t in types},
        ),
    )


def run_eval(
    engine: Engine,
    questions: list[Question],
    *,
    mode: str,
    k: int,
    progress: bool = True,
    judge: Judge | None = None,
) -> EvalRun:
    """Evaluate ``engine`` on ``questions``; see the module docstring for what is measured."""
    from tqdm import tqdm

    missing = resolve_gold(questions, engine.store.manifest)
    results: list[QuestionResult] = []
    started = time.perf_counter()
    for q in tqdm(questions, desc="eval", unit="q", file=sys.stderr, disable=not progress, leave=False):
        gold = set(q.gold_ids)
        ranked = {
            m: [h.paper_id for h in engine.retriever.search(q.question, SEARCH_K, method=m)] for m in METHODS
        }
        answer = engine.ask(q.question, k=k, mode=mode)
        results.append(
            QuestionResult(
                id=q.id,
                type=q.type,
                question=q.question,
                gold_ids=list(q.gold_ids),
                ranked=ranked,
                retrieval={m: retrieval_scores(ranked[m], gold) for m in METHODS} if q.answerable else None,
                answer=answer,
                metrics=answer_metrics(q, answer),
                judge=judge(q, answer) if judge is not None and not answer.refused else None,
            )
        )
    meta = EvalMeta(
        mode=mode,
        k=k,
        search_k=SEARCH_K,
        questions=len(questions),
        missing_gold=missing,
        seconds=round(time.perf_counter() - started, 2),
        collection=engine.settings.collection_name,
    )
    return EvalRun(meta, aggregate(results), results)


def support_validation(engine: Engine) -> SupportValidation:
    """Precision/recall of the support scorer at flagging unsupported sentences on
    evals/sets/support_labels.jsonl — overall, on the held-out half (not used to fit the threshold)
    and per kind — via ``evals.calibrate_support.evaluate_scorer``; one with ``error`` set when it
    can't run (e.g. the labels cite papers this index lacks)."""
    try:
        labels = cs.load_labels()
        abstracts = {normalise_title(p.title): p.abstract for p in engine.store.manifest.papers()}
        if any(normalise_title(t) not in abstracts for row in labels for t in row["cites"]):
            abstracts = cs.load_abstracts()  # the labels are about the sample corpus
        result = cs.evaluate_scorer(engine.scorer, labels, abstracts)
        rows = result.pop("rows", [])
        threshold = result["threshold"]
        kinds = sorted({r["kind"] for r in rows})

        def brief(group: list[dict[str, Any]]) -> ClassifierScores:
            m = cs.metrics(group, threshold)
            said = [cs.flagged(r, threshold) for r in group]
            hits = sum(s and r["unsupported"] for s, r in zip(said, group, strict=True))
            counts = {
                "precision": Rate(hits, sum(said)),
                "recall": Rate(hits, sum(bool(r["unsupported"]) for r in group)),
                "accuracy": Rate(
                    sum(s == r["unsupported"] for s, r in zip(said, group, strict=True)), len(group)
                ),
            }
            return ClassifierScores(
                **{k: m[k] for k in ("n", "precision", "recall", "f1", "accuracy") if k in m},
                intervals={k: rate.interval() for k, rate in counts.items() if rate.n},
            )

        return SupportValidation(
            threshold=threshold,
            overall=brief(rows),
            held_out=brief([r for r in rows if not cs.is_calibration(r["id"])]),
            per_kind={k: brief([r for r in rows if r["kind"] == k]) for k in kinds},
            errors=sorted(e for m in result.get("per_kind", {}).values() for e in m.get("errors", [])),
        )
    except Exception as exc:  # the validation is extra information; never fail the eval over it
        return SupportValidation(error=f"support-scorer validation failed: {type(exc).__name__}: {exc}")
