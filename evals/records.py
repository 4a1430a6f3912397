"""Typed records of an eval run, and their one serialisation (results.json).

The harness builds them, the report and ``--compare`` read them, the regression gate asserts on
them. In results.json the aggregates keep their historical shape (``retrieval.overall.hybrid.
recall@5``, ``answers.overall.latency_p95_ms``), so ``--compare`` reads any earlier run's file;
each question's answer is written by :func:`rag.answer_format.to_dict` (sources without abstracts).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from evals.intervals import Interval, mean_interval
from rag import answer_format
from rag.errors import InputError
from rag.types import Answer


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``cls`` in ``data``; recorded intervals read back as :class:`Interval`."""
    names = {f.name for f in fields(cls)}
    known = {k: v for k, v in data.items() if k in names}
    if "intervals" in known:
        known["intervals"] = _intervals_from_dict(known["intervals"])
    return known


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _intervals_to_dict(intervals: dict[str, Interval]) -> dict[str, Any]:
    return {name: iv.to_dict() for name, iv in intervals.items()}


def _intervals_from_dict(data: Any) -> dict[str, Interval]:
    """The 95 % intervals of a results.json (none in one written before they were recorded)."""
    if not isinstance(data, dict):
        return {}
    return {name: Interval.from_dict(iv) for name, iv in data.items() if isinstance(iv, dict)}


# --- retrieval -----------------------------------------------------------------------------------
@dataclass
class RetrievalScores:
    """One ranking against the gold papers (see evals/metrics.py for the definitions)."""

    recall_at_1: float = 0.0
    recall_at_5: float = 0.0
    recall_at_10: float = 0.0
    mrr: float = 0.0
    ndcg_at_10: float = 0.0

    #: results.json's names → field names
    KEYS: ClassVar[dict[str, str]] = {
        "recall@1": "recall_at_1",
        "recall@5": "recall_at_5",
        "recall@10": "recall_at_10",
        "mrr": "mrr",
        "ndcg@10": "ndcg_at_10",
    }

    def get(self, key: str) -> float:
        """A score by its results.json name ('recall@5')."""
        return float(getattr(self, self.KEYS[key]))

    def to_dict(self) -> dict[str, Any]:
        return {key: getattr(self, name) for key, name in self.KEYS.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrievalScores:
        return cls(**{name: data[key] for key, name in cls.KEYS.items() if key in data})


@dataclass
class RetrievalSummary(RetrievalScores):
    """Mean scores of one method over ``n`` answerable questions, each with its 95 % interval (keyed by
    results.json name; evals/intervals.py: Wilson when every question scored 0 or 1, else a bootstrap)."""

    n: int = 0
    intervals: dict[str, Interval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"n": self.n, "intervals": _intervals_to_dict(self.intervals)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetrievalSummary:
        scores = RetrievalScores.from_dict(data)
        intervals = _intervals_from_dict(data.get("intervals"))
        return cls(**asdict(scores), n=int(data.get("n", 0)), intervals=intervals)

    @classmethod
    def mean(cls, rows: list[RetrievalScores]) -> RetrievalSummary:
        means = {
            name: sum(getattr(r, name) for r in rows) / len(rows) if rows else 0.0
            for name in cls.KEYS.values()
        }
        intervals = {
            key: iv
            for key, name in cls.KEYS.items()
            if (iv := mean_interval([getattr(r, name) for r in rows]))
        }
        return cls(**means, n=len(rows), intervals=intervals)


# --- answers -------------------------------------------------------------------------------------
@dataclass
class AnswerMetrics:
    """One answer's figures (see evals/harness.py), from the raw counts the aggregates sum."""

    fact_coverage: float | None = None
    citation_pairs: int = 0
    citation_correct: int = 0
    sentences: int = 0
    sentences_supported_cited: int = 0
    sentences_unsupported: int = 0
    sentences_contradicted: int = 0  # of the unsupported, those the cited abstracts contradict
    gold_papers: int = 0  # papers the question needs (its gold ids)
    papers_cited: int = 0  # distinct papers the answer cites
    gold_papers_cited: int = 0  # needed papers the answer cites

    @property
    def citation_precision(self) -> float | None:
        return _ratio(self.citation_correct, self.citation_pairs)

    @property
    def citation_recall(self) -> float | None:
        return _ratio(self.sentences_supported_cited, self.sentences)

    @property
    def unsupported_rate(self) -> float | None:
        return _ratio(self.sentences_unsupported, self.sentences)

    @property
    def contradicted_rate(self) -> float | None:
        return _ratio(self.sentences_contradicted, self.sentences)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {
            "citation_precision": self.citation_precision,
            "citation_recall": self.citation_recall,
            "unsupported_rate": self.unsupported_rate,
            "contradicted_rate": self.contradicted_rate,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerMetrics:
        return cls(**_known(cls, data))


@dataclass
class JudgeScores:
    """An LLM judge's 1-5 grades of one answer (None when it gave no grade)."""

    faithfulness: float | None = None
    relevance: float | None = None


@dataclass
class AnswerSummary:
    """Answer figures over a group of questions (overall, or one question type)."""

    n: int = 0
    fact_coverage: float | None = None
    citation_precision: float | None = None
    citation_recall: float | None = None
    unsupported_rate: float | None = None
    contradicted_rate: float | None = None  # share of answer sentences their cited abstracts contradict
    needed_papers_cited: float | None = None  # share of the papers answerable questions need that are cited
    cited_papers_needed: float | None = None  # share of cited papers that are ones the question needs
    refusal_accuracy: float | None = None
    false_refusal_rate: float | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    prompt_tokens_sum: float | None = None
    prompt_tokens_mean: float | None = None
    completion_tokens_sum: float | None = None
    completion_tokens_mean: float | None = None
    judge_faithfulness: float | None = None  # only with --judge
    judge_relevance: float | None = None
    #: the 95 % interval of each rate and mean above (evals/harness.py says which kind), by field name
    intervals: dict[str, Interval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self) | {"intervals": _intervals_to_dict(self.intervals)}
        return {k: v for k, v in data.items() if v is not None or not k.startswith("judge_")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnswerSummary:
        return cls(**_known(cls, data))


# --- one question, and the run -------------------------------------------------------------------
@dataclass
class QuestionResult:
    id: str
    type: str
    question: str
    gold_ids: list[str]
    ranked: dict[str, list[str]]  # method → paper ids, best first
    retrieval: dict[str, RetrievalScores] | None  # method → scores; None when unanswerable
    answer: Answer
    metrics: AnswerMetrics
    judge: JudgeScores | None = None

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"

    @property
    def refused(self) -> bool:
        return self.answer.refused

    @property
    def latency_ms(self) -> float | None:
        return self.answer.timings.get("total_ms")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "question": self.question,
            "gold_ids": self.gold_ids,
            "ranked": self.ranked,
            "retrieval": {m: s.to_dict() for m, s in self.retrieval.items()} if self.retrieval else None,
            "answer": answer_format.to_dict(self.answer, texts=False),
            "metrics": self.metrics.to_dict(),
        }
        if self.judge is not None:
            data["judge"] = asdict(self.judge)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuestionResult:
        retrieval = data.get("retrieval")
        judge = data.get("judge")
        return cls(
            id=data["id"],
            type=data["type"],
            question=data["question"],
            gold_ids=list(data.get("gold_ids", [])),
            ranked=dict(data.get("ranked", {})),
            retrieval={m: RetrievalScores.from_dict(s) for m, s in retrieval.items()} if retrieval else None,
            answer=answer_format.from_dict(data["answer"]),
            metrics=AnswerMetrics.from_dict(data.get("metrics", {})),
            judge=JudgeScores(**_known(JudgeScores, judge)) if judge else None,
        )


@dataclass
class RetrievalAggregates:
    overall: dict[str, RetrievalSummary]  # method → means over answerable questions
    by_type: dict[str, dict[str, RetrievalSummary]]  # question type → method → means


@dataclass
class AnswerAggregates:
    overall: AnswerSummary
    by_type: dict[str, AnswerSummary]


@dataclass
class Aggregates:
    retrieval: RetrievalAggregates
    answers: AnswerAggregates

    def to_dict(self) -> dict[str, Any]:
        def methods(per: dict[str, RetrievalSummary]) -> dict[str, Any]:
            return {m: s.to_dict() for m, s in per.items()}

        return {
            "retrieval": {
                "overall": methods(self.retrieval.overall),
                "by_type": {t: methods(per) for t, per in self.retrieval.by_type.items()},
            },
            "answers": {
                "overall": self.answers.overall.to_dict(),
                "by_type": {t: a.to_dict() for t, a in self.answers.by_type.items()},
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Aggregates:
        def methods(per: dict[str, Any]) -> dict[str, RetrievalSummary]:
            return {m: RetrievalSummary.from_dict(s) for m, s in per.items()}

        retrieval, answers = data.get("retrieval", {}), data.get("answers", {})
        return cls(
            RetrievalAggregates(
                methods(retrieval.get("overall", {})),
                {t: methods(per) for t, per in retrieval.get("by_type", {}).items()},
            ),
            AnswerAggregates(
                AnswerSummary.from_dict(answers.get("overall", {})),
                {t: AnswerSummary.from_dict(a) for t, a in answers.get("by_type", {}).items()},
            ),
        )


@dataclass
class ClassifierScores:
    """Flagging unsupported sentences (the positive class) on a labelled group."""

    n: int | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    accuracy: float | None = None
    intervals: dict[str, Interval] = field(default_factory=dict)  # precision, recall, accuracy (Wilson)


@dataclass
class SupportValidation:
    """The support scorer on evals/sets/support_labels.jsonl; ``error`` says why it couldn't run."""

    threshold: float | None = None
    overall: ClassifierScores | None = None
    held_out: ClassifierScores | None = None  # the half the threshold was not fit on
    per_kind: dict[str, ClassifierScores] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # ids of sentences it judged wrongly
    error: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SupportValidation:
        def scores(d: dict[str, Any] | None) -> ClassifierScores | None:
            return ClassifierScores(**_known(ClassifierScores, d)) if d else None

        return cls(
            threshold=data.get("threshold"),
            overall=scores(data.get("overall")),
            held_out=scores(data.get("held_out")),
            per_kind={
                k: ClassifierScores(**_known(ClassifierScores, v))
                for k, v in data.get("per_kind", {}).items()
            },
            errors=list(data.get("errors", [])),
            error=data.get("error", ""),
        )


@dataclass
class EvalMeta:
    mode: str
    k: int
    search_k: int
    questions: int
    missing_gold: list[str]
    seconds: float
    collection: str


@dataclass
class EvalRun:
    meta: EvalMeta
    aggregates: Aggregates
    questions: list[QuestionResult]
    support_validation: SupportValidation | None = None
    beir: dict[str, Any] | None = None  # evals/beir.py's result, as run_beir returns it

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "meta": asdict(self.meta),
            "aggregates": self.aggregates.to_dict(),
            "questions": [q.to_dict() for q in self.questions],
        }
        if self.support_validation is not None:
            data["support_validation"] = asdict(self.support_validation)
        if self.beir is not None:
            data["beir"] = self.beir
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalRun:
        validation = data.get("support_validation")
        return cls(
            meta=EvalMeta(**_known(EvalMeta, data["meta"])),
            aggregates=Aggregates.from_dict(data["aggregates"]),
            questions=[QuestionResult.from_dict(q) for q in data.get("questions", [])],
            support_validation=SupportValidation.from_dict(validation) if validation else None,
            beir=data.get("beir"),
        )


# --- results.json --------------------------------------------------------------------------------
def write_results(run: EvalRun, path: Path) -> None:
    path.write_text(json.dumps(run.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")


def read_results_json(
    path: Path, section: str = "aggregates", command: str = "askpapers eval"
) -> dict[str, Any]:
    """A results.json as a dict holding ``section`` (written by ``command``); an InputError naming the
    file (and line) otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"can't read the results ({exc.strerror})", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not a results.json ({exc.msg})", path=str(path), line=exc.lineno) from None
    if not isinstance(data, dict) or not isinstance(data.get(section), dict):
        raise InputError(f"not a results.json written by '{command}' (no '{section}')", path=str(path))
    return data


def read_aggregates(path: Path) -> Aggregates:
    """The aggregates of a results.json, from this version of askpapers or an earlier one."""
    return Aggregates.from_dict(read_results_json(path)["aggregates"])


def read_results(path: Path) -> EvalRun:
    """A whole run as :func:`write_results` wrote it."""
    data = read_results_json(path)
    try:
        return EvalRun.from_dict(data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"a results.json of another version ({exc!r})", path=str(path)) from None
