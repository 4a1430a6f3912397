"""Fit the model that decides which papers a paper-by-paper answer gives a line to (rag/paper_rank.py).

    python -m evals.calibrate_papers [--home DIR] [--write]

Data: the which-papers and comparison questions (``rag.question_shape``: a per-paper shape) of
evals/sets/synthesis.jsonl and sample.jsonl, over data/sample ingested into ``--home`` (a temporary
one by default). For each question the hybrid retriever's top ``retrieval.k`` papers are read as the
pipeline reads them; a paper is labelled "needed" when it is one of the question's gold papers. Each
set is halved by a SHA-1 of the question ids, stratified by kind (evals/questions.py
``calibration_ids``, the halves every other calibration uses). On the calibration half: an L2 logistic
regression over the papers below the top one (the top one always gets a line), then the threshold
that makes the smaller of "needed papers cited" (of all the question's gold papers, found or not)
and "cited papers needed" largest — the issue asks for both. The held-out half's figures are the ones
to quote: the answer's cited papers (``rag.extractive.select_quotes``, named papers included) with
the fitted model against the rule it replaces (``answer.synthesis_rank_step``).

``--write`` stores the weights and threshold in rag/calibration.json (``answer.paper_model``,
``answer.paper_threshold``) with how they were fitted.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.intervals import Rate
from evals.questions import halved_sets, index_sample
from evals.refusal_fit import fit_logistic
from rag import calibration as calibration_file
from rag import paper_rank
from rag.engine import Engine
from rag.extractive import select_quotes
from rag.question_shape import read_shape
from rag.sentence_rank import Similarity
from rag.settings import AnswerSettings, Settings
from rag.types import Hit

SETS = ("synthesis", "sample")
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.02, 0.96, 0.01))


@dataclass
class Row:
    """One paper-by-paper question with its retrieved papers."""

    qid: str
    calibration: bool
    kind: str
    question: str
    gold: int  # how many papers it needs
    hits: list[Hit]
    labels: list[bool]  # per hit: needed


def measure(engine: Engine, settings: Settings) -> list[Row]:
    """Every paper-by-paper question with gold papers, and the top ``retrieval.k`` papers it retrieves."""
    index_sample(settings, engine.store)
    rows: list[Row] = []
    for name, q, calibration in halved_sets(SETS, engine.store.manifest):
        if not q.gold_ids or not read_shape(q.question).per_paper:
            continue
        hits = engine.search(q.question, k=settings.retrieval.k)
        labels = [h.paper_id in q.gold_ids for h in hits]
        kind = q.kind or q.type
        rows.append(Row(f"{name}:{q.id}", calibration, kind, q.question, len(q.gold_ids), hits, labels))
    return rows


def kept_by_model(rows: Sequence[Row], model: dict[str, float], threshold: float) -> list[list[int]]:
    return [
        [r for r in range(len(row.hits)) if paper_rank.needed(row.hits, r, model, threshold)] for row in rows
    ]


def cited(rows: Sequence[Row], answer: AnswerSettings, similarity: Similarity) -> list[list[int]]:
    """The ranks of the papers each question's extractive answer quotes."""
    return [
        sorted({q.source - 1 for q in select_quotes(row.question, row.hits, answer, similarity)})
        for row in rows
    ]


def figures(rows: Sequence[Row], kept: Sequence[Sequence[int]]) -> tuple[Rate, Rate]:
    """(needed papers cited, cited papers needed)."""
    found = sum(row.labels[r] for row, ranks in zip(rows, kept, strict=True) for r in ranks)
    return Rate(found, sum(r.gold for r in rows)), Rate(found, sum(len(k) for k in kept))


def fit(rows: Sequence[Row]) -> tuple[dict[str, float], float]:
    below = [(row, r) for row in rows for r in range(1, len(row.hits))]
    x = np.array([[paper_rank.features(row.hits, r)[f] for f in paper_rank.FEATURES] for row, r in below])
    y = np.array([float(row.labels[r]) for row, r in below])
    model = fit_logistic(x, y, paper_rank.FEATURES)

    def worse(threshold: float) -> float:
        recall, precision = figures(rows, kept_by_model(rows, model, threshold))
        return min(recall.value, precision.value)

    threshold = max(THRESHOLDS, key=lambda t: (worse(t), -t))  # ties: the lower, more papers cited
    return model, threshold


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.calibrate_papers", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--home", type=Path, help="askpapers home to ingest data/sample into and reuse")
    parser.add_argument("--write", action="store_true", help="store the fitted model in rag/calibration.json")
    args = parser.parse_args(argv)
    settings = Settings(home=args.home or Path(tempfile.mkdtemp(prefix="askpapers-calibrate-papers-")))
    engine = Engine(settings)
    try:
        rows = measure(engine, settings)
        similarity = engine.sentence_vectors.similarity
        fit_rows = [r for r in rows if r.calibration]
        held = [r for r in rows if not r.calibration]
        model, threshold = fit(fit_rows)
        print(f"fitted on {len(fit_rows)} questions: {model}, threshold {threshold}")
        recall, precision = figures(fit_rows, kept_by_model(fit_rows, model, threshold))
        print(f"calibration half (fitted on: optimistic): needed cited {recall}, cited needed {precision}\n")
        answer = settings.answer.model_copy(update={"paper_model_fusion": settings.retrieval.fusion})
        fitted = answer.model_copy(update={"paper_model": model, "paper_threshold": threshold})
        before = answer.model_copy(update={"paper_model": {}})
        kinds = sorted({r.kind for r in held})
        print("| held-out half, cited papers | " + " | ".join(["all", *kinds]) + " |")
        print("|---|" + "---|" * (len(kinds) + 1))
        quoted: dict[str, tuple[Rate, Rate]] = {}
        for name, answer in (("score-share rule (before)", before), ("fitted model", fitted)):
            cells: list[tuple[Rate, Rate]] = []
            for part in [held, *[[r for r in held if r.kind == k] for k in kinds]]:
                cells.append(figures(part, cited(part, answer, similarity)))
            quoted[name] = cells[0]
            print(f"| {name}: needed cited | " + " | ".join(str(c[0]) for c in cells) + " |")
            print(f"| {name}: cited needed | " + " | ".join(str(c[1]) for c in cells) + " |")
    finally:
        engine.store.close()
    if args.write:
        (r_new, p_new), (r_old, p_old) = quoted["fitted model"], quoted["score-share rule (before)"]
        how = (
            "python -m evals.calibrate_papers --write: L2 logistic regression of 'the question needs this "
            "paper' on rag/paper_rank.py FEATURES over the papers below the top one among the top "
            f"{settings.retrieval.k} (hybrid, {settings.retrieval.fusion} fusion) of the calibration half of the which-papers and "
            f"comparison questions of evals/sets/{{synthesis,sample}}.jsonl ({len(fit_rows)} questions); "
            "threshold: the largest smaller-of(needed cited, cited needed) on that half. Held-out half "
            f"({len(held)} questions), the extractive answer's cited papers: needed cited {r_new}, cited "
            f"needed {p_new} (score-share rule before: {r_old}, {p_old})"
        )
        fitted_values = {
            "answer.paper_model": model,
            "answer.paper_threshold": threshold,
            "answer.paper_model_fusion": settings.retrieval.fusion,
        }
        calibration_file.write(fitted_values, how)
        print(f"\nwrote {', '.join(fitted_values)} to {calibration_file.FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
