"""Run a question set through retrieval (bm25, dense, hybrid side by side) and the answerer.

``run_eval`` returns one JSON-ready dict: every per-question record plus aggregates, overall
and per question type. Retrieval figures cover answerable questions only; answer figures
follow the definitions below (all in 0..1 unless named ``*_ms`` or ``*tokens*``):

* fact coverage — share of a question's ``answer_facts`` found in the answer text
  (case-insensitive), averaged over answerable questions that list facts;
* citation precision — of all (sentence, cited paper) pairs, the share whose paper is gold or
  whose sentence the cited abstracts support (``SentenceCheck.supported``);
* citation recall (ALCE-style) — share of answer sentences carrying a citation that supports them;
* unsupported rate — share of answer sentences not supported by what they cite;
* refusal accuracy — refused unanswerable questions / unanswerable questions;
* false-refusal rate — refused answerable questions / answerable questions.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from evals.metrics import percentile, retrieval_scores
from evals.questions import TYPES, Question, resolve_gold

if TYPE_CHECKING:
    from rag.engine import Engine
    from rag.types import Answer

METHODS = ("bm25", "dense", "hybrid")
RETRIEVAL_METRICS = ("recall@1", "recall@5", "recall@10", "mrr", "ndcg@10")
SEARCH_K = 10
#: Answer metrics that are better when higher (the rest — rates of failure, latency — are not).
ANSWER_METRICS = (
    "fact_coverage",
    "citation_precision",
    "citation_recall",
    "unsupported_rate",
    "refusal_accuracy",
    "false_refusal_rate",
)

Judge = Callable[[Question, "Answer"], dict[str, float | None]]


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def fact_coverage(text: str, facts: Sequence[str]) -> float | None:
    if not facts:
        return None
    low = text.lower()
    return sum(1 for f in facts if f.lower() in low) / len(facts)


def answer_metrics(question: Question, answer: Answer) -> dict[str, Any]:
    """Per-question answer figures, with the raw counts the aggregates are built from."""
    sources = answer.sources
    gold = set(question.gold_ids)
    pairs = correct = sentences = supported_cited = unsupported = 0
    if not answer.refused:
        for s in answer.sentences:
            sentences += 1
            if not s.supported:
                unsupported += 1
            if s.cites and s.supported:
                supported_cited += 1
            for n in s.cites:
                if not 1 <= n <= len(sources):
                    pairs += 1  # a citation to no source is never correct
                    continue
                pairs += 1
                if sources[n - 1].paper_id in gold or s.supported:
                    correct += 1
    return {
        "fact_coverage": fact_coverage(answer.text, question.answer_facts) if question.answerable else None,
        "citation_pairs": pairs,
        "citation_correct": correct,
        "citation_precision": correct / pairs if pairs else None,
        "sentences": sentences,
        "sentences_supported_cited": supported_cited,
        "sentences_unsupported": unsupported,
        "citation_recall": supported_cited / sentences if sentences else None,
        "unsupported_rate": unsupported / sentences if sentences else None,
    }


def _retrieval_aggregate(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for method in METHODS:
        rows = [r["retrieval"][method] for r in records]
        out[method] = {
            m: (sum(row[m] for row in rows) / len(rows) if rows else 0.0) for m in RETRIEVAL_METRICS
        }
        out[method]["n"] = len(rows)
    return out


def _answer_aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in records if r["type"] != "unanswerable"]
    unanswerable = [r for r in records if r["type"] == "unanswerable"]
    ms = [r["metrics"] for r in records]
    pairs = sum(m["citation_pairs"] for m in ms)
    sentences = sum(m["sentences"] for m in ms)
    coverage = [
        r["metrics"]["fact_coverage"] for r in answerable if r["metrics"]["fact_coverage"] is not None
    ]
    latencies = [r["latency_ms"] for r in records if r["latency_ms"] is not None]
    agg: dict[str, Any] = {
        "n": len(records),
        "fact_coverage": _mean(coverage),
        "citation_precision": sum(m["citation_correct"] for m in ms) / pairs if pairs else None,
        "citation_recall": sum(m["sentences_supported_cited"] for m in ms) / sentences if sentences else None,
        "unsupported_rate": sum(m["sentences_unsupported"] for m in ms) / sentences if sentences else None,
        "refusal_accuracy": sum(r["refused"] for r in unanswerable) / len(unanswerable)
        if unanswerable
        else None,
        "false_refusal_rate": sum(r["refused"] for r in answerable) / len(answerable) if answerable else None,
        "latency_p50_ms": percentile(latencies, 50) if latencies else None,
        "latency_p95_ms": percentile(latencies, 95) if latencies else None,
    }
    for key in ("prompt_tokens", "completion_tokens"):
        values = [r[key] for r in records if r[key] is not None]
        agg[f"{key}_sum"] = sum(values) if values else None
        agg[f"{key}_mean"] = _mean(values)
    judged = [r["judge"] for r in records if r.get("judge")]
    for key in ("faithfulness", "relevance"):
        scores = [j[key] for j in judged if j.get(key) is not None]
        if scores:
            agg[f"judge_{key}"] = _mean(scores)
    return agg


def aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregates over per-question records (as built by :func:`run_eval`)."""
    answerable = [r for r in records if r["type"] != "unanswerable"]
    types = [t for t in TYPES if any(r["type"] == t for r in records)]
    return {
        "retrieval": {
            "overall": _retrieval_aggregate(answerable),
            "by_type": {
                t: _retrieval_aggregate([r for r in answerable if r["type"] == t])
                for t in types
                if t != "unanswerable"
            },
        },
        "answers": {
            "overall": _answer_aggregate(records),
            "by_type": {t: _answer_aggregate([r for r in records if r["type"] == t]) for t in types},
        },
    }


def run_eval(
    engine: Engine,
    questions: list[Question],
    *,
    mode: str,
    k: int,
    progress: bool = True,
    judge: Judge | None = None,
) -> dict[str, Any]:
    """Evaluate ``engine`` on ``questions``; see the module docstring for what is measured."""
    from tqdm import tqdm

    missing = resolve_gold(questions, engine.store.manifest)
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    for q in tqdm(questions, desc="eval", unit="q", file=sys.stderr, disable=not progress, leave=False):
        gold = set(q.gold_ids)
        ranked = {
            m: [h.paper_id for h in engine.retriever.search(q.question, SEARCH_K, method=m)] for m in METHODS
        }
        answer = engine.ask(q.question, k=k, mode=mode)
        record: dict[str, Any] = {
            "id": q.id,
            "type": q.type,
            "question": q.question,
            "gold_ids": list(q.gold_ids),
            "ranked": ranked,
            "retrieval": {m: retrieval_scores(ranked[m], gold) for m in METHODS} if q.answerable else None,
            "answer": answer.text,
            "refused": answer.refused,
            "sources": [h.paper_id for h in answer.sources],
            "citations": [
                {"n": c.n, "paper_id": c.paper_id, "title": c.title, "gold": c.paper_id in gold}
                for c in answer.citations.values()
            ],
            "sentences": [
                {
                    "text": s.text,
                    "cites": s.cites,
                    "support": s.support,
                    "supported": s.supported,
                    "reason": s.reason,
                }
                for s in answer.sentences
            ],
            "latency_ms": answer.timings.get("total_ms"),
            "timings": answer.timings,
            "prompt_tokens": answer.prompt_tokens,
            "completion_tokens": answer.completion_tokens,
            "metrics": answer_metrics(q, answer),
        }
        if judge is not None and not answer.refused:
            record["judge"] = judge(q, answer)
        records.append(record)
    return {
        "meta": {
            "mode": mode,
            "k": k,
            "search_k": SEARCH_K,
            "questions": len(questions),
            "missing_gold": missing,
            "seconds": round(time.perf_counter() - started, 2),
            "collection": engine.settings.collection_name,
        },
        "aggregates": aggregate(records),
        "questions": records,
    }


def support_validation(engine: Engine) -> dict[str, Any] | None:
    """Precision/recall of the support scorer at flagging unsupported sentences on
    evals/sets/support_labels.jsonl — overall, on the held-out half (not used to fit the threshold)
    and per kind — via ``evals.calibrate_support.evaluate_scorer``; None when that module is absent,
    ``{"error": ...}`` when it can't run (e.g. the labels cite papers this index lacks)."""
    try:
        from evals import calibrate_support as cs
    except ImportError:
        return None
    if not hasattr(cs, "evaluate_scorer"):
        return None
    try:
        from rag.records import normalise_title

        labels = cs.load_labels()
        abstracts = {normalise_title(p.title): p.abstract for p in engine.store.manifest.papers()}
        if any(normalise_title(t) not in abstracts for row in labels for t in row["cites"]):
            abstracts = cs.load_abstracts()  # the labels are about the sample corpus
        result = cs.evaluate_scorer(engine.scorer, labels, abstracts)
        rows = result.pop("rows", [])
        threshold = result["threshold"]
        kinds = sorted({r["kind"] for r in rows})

        def brief(m: dict[str, Any]) -> dict[str, Any]:
            return {k: m[k] for k in ("n", "precision", "recall", "f1", "accuracy") if k in m}

        return {
            "threshold": threshold,
            "overall": brief(result),
            "held_out": brief(cs.metrics([r for r in rows if not cs.is_calibration(r["id"])], threshold)),
            "per_kind": {k: brief(cs.metrics([r for r in rows if r["kind"] == k], threshold)) for k in kinds},
            "errors": sorted(e for m in result.get("per_kind", {}).values() for e in m.get("errors", [])),
        }
    except Exception as exc:  # the validation is extra information; never fail the eval over it
        return {"error": f"support-scorer validation failed: {type(exc).__name__}: {exc}"}
