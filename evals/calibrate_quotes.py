"""Fit the model that orders a paper's sentences in a paper-by-paper answer (rag/sentence_rank.py).

    python -m evals.calibrate_quotes [--home DIR] [--write]

Data: the questions of evals/sets/synthesis.jsonl and sample.jsonl that list the facts an answer
needs (``answer_facts``), over data/sample ingested into ``--home`` (a temporary one by default).
For each question the hybrid retriever's top ``retrieval.k`` papers are read as the pipeline reads them;
a sentence is labelled "answers" when it holds one of the question's facts, and a paper counts when it
is one the question needs and one of its sentences holds a fact. Each set is halved by a SHA-1 of the
question ids, stratified by kind (evals/questions.py ``calibration_ids``, the halves every other
calibration uses): the model is fitted on the calibration half; the held-out half's figures are the
ones to quote — how often the sentence ranked first (or one of the first two, what an answer quotes)
holds the fact, against the overlap-and-cues score the answer used before and the cosine alone.

``--write`` stores the weights in rag/calibration.json (``answer.sentence_model``) with how they were fitted.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.intervals import Rate
from evals.questions import halved_sets, index_sample
from evals.refusal_fit import fit_logistic
from rag import calibration as calibration_file
from rag import sentence_rank
from rag.engine import Engine
from rag.extractive import sentence_signals
from rag.settings import Settings

SETS = ("synthesis", "sample")


@dataclass
class Row:
    """One quotable sentence of a paper the question needs."""

    key: tuple[str, str, int]  # set, question id, paper rank: the group it is ranked within
    calibration: bool
    kind: str
    label: bool
    score: float  # overlap + cues, what the answer ranked by before
    signals: dict[str, float]


def measure(settings: Settings) -> list[Row]:
    engine = Engine(settings)
    try:
        return _measure(engine, settings)
    finally:
        engine.store.close()


def _measure(engine: Engine, settings: Settings) -> list[Row]:
    index_sample(settings, engine.store)
    rows: list[Row] = []
    for name, q, calibration in halved_sets(SETS, engine.store.manifest):
        if not q.gold_ids or not q.answer_facts:
            continue
        facts = [f.lower() for f in q.answer_facts]
        hits = engine.search(q.question, k=settings.retrieval.k)
        signals = sentence_signals(q.question, hits, settings.answer, engine.sentence_vectors.similarity)
        for rank, own in signals.items():
            labels = [any(f in s.text.lower() for f in facts) for s, _, _ in own]
            if hits[rank].paper_id not in q.gold_ids or not any(labels):
                continue
            for (_, score, sig), label in zip(own, labels, strict=True):
                rows.append(Row((name, q.id, rank), calibration, q.kind or q.type, label, score, sig))
    return rows


def top_share(rows: Sequence[Row], order: Callable[[Row], float], n: int) -> tuple[int, int]:
    """Papers whose top ``n`` sentences by ``order`` hold a fact, of all papers."""
    groups: dict[tuple[str, str, int], list[Row]] = {}
    for r in rows:
        groups.setdefault(r.key, []).append(r)
    hit = 0
    for group in groups.values():
        ranked = sorted(group, key=lambda r: -order(r))  # stable: reading order breaks ties
        hit += any(r.label for r in ranked[:n])
    return hit, len(groups)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.calibrate_quotes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--home", type=Path, help="askpapers home to ingest data/sample into and reuse")
    parser.add_argument("--write", action="store_true", help="store the fitted model in rag/calibration.json")
    args = parser.parse_args(argv)
    settings = Settings(home=args.home or Path(tempfile.mkdtemp(prefix="askpapers-calibrate-quotes-")))
    rows = measure(settings)
    fit_rows = [r for r in rows if r.calibration]
    held = [r for r in rows if not r.calibration]
    x = np.array([[r.signals[f] for f in sentence_rank.FEATURES] for r in fit_rows])
    y = np.array([float(r.label) for r in fit_rows])
    model = fit_logistic(x, y, sentence_rank.FEATURES)
    print(f"fitted on {top_share(fit_rows, lambda r: 0, 1)[1]} papers ({len(fit_rows)} sentences): {model}\n")
    rankers: dict[str, Callable[[Row], float]] = {
        "overlap and cues (before)": lambda r: r.score,
        "cosine alone": lambda r: r.signals["cosine"],
        "fitted model": lambda r: sentence_rank.score(r.signals, model),
    }
    kinds = sorted({r.kind for r in held})
    print("| held-out half: the fact is in the paper's … | " + " | ".join(["all", *kinds]) + " |")
    print("|---|" + "---|" * (len(kinds) + 1))
    figures: dict[tuple[str, int], str] = {}
    for name, order in rankers.items():
        for n in (1, 2):
            cells = []
            for part in [held, *[[r for r in held if r.kind == k] for k in kinds]]:
                hit, total = top_share(part, order, n)
                cells.append(str(Rate(hit, total)))
            figures[(name, n)] = cells[0]
            print(f"| {'first sentence' if n == 1 else 'first two'}, {name} | " + " | ".join(cells) + " |")
    if args.write:
        how = (
            "python -m evals.calibrate_quotes --write: L2 logistic regression of 'this sentence holds an "
            "answer fact' on rag/sentence_rank.py FEATURES, over the sentences of the needed papers among the "
            f"top {settings.retrieval.k} (hybrid) of the calibration half of evals/sets/{{synthesis,sample}}.jsonl "
            f"questions with answer_facts ({top_share(fit_rows, lambda r: 0, 1)[1]} papers); held-out half: the "
            f"fact in the first sentence {figures[('fitted model', 1)]} (overlap and cues "
            f"{figures[('overlap and cues (before)', 1)]}), in the first two {figures[('fitted model', 2)]} "
            f"(before {figures[('overlap and cues (before)', 2)]})"
        )
        calibration_file.write({"answer.sentence_model": model}, how)
        print(f"\nwrote answer.sentence_model to {calibration_file.FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
