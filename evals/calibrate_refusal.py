"""Calibrate the refusal gate (rag/evidence.py, settings section ``refusal``) and report it held out.

Questions: evals/sets/sample.jsonl, refusal.jsonl and refusal_more.jsonl pooled (unanswerable near
misses and off-topic questions; answerable facts, paraphrased concept questions, multi-paper
questions), split in two halves by a stable hash of their ids, stratified by kind
(evals/refusal_fit.py). The gate's models and threshold are fitted on the calibration half only;
the held-out half's figures are the ones to quote, per kind with Wilson 95 % intervals.
evals/sets/synthesis.jsonl (answerable multi-paper and "what is X about" questions) is never fitted
on: all of it is reported as extra held-out answerable questions.

"Before" is the previous gate (strength = exp(best cosine − 1) + w × coverage, and the missing-name
rule), refitted by its own procedure on the same calibration half, so the two are compared fairly.

Retrieval is the hybrid retriever at the settings' ``retrieval.k``, as the pipeline runs it, over
data/sample ingested into ``--home`` (a temporary one by default; ingest skips unchanged papers,
so a reused home costs only the first run).

Usage: .venv/bin/python -m evals.calibrate_refusal [--write] [--home DIR] [--questions]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from evals.questions import Question, calibration_ids, load_questions
from evals.refusal_fit import (
    MAX_FALSE_REFUSALS,
    Figures,
    Measured,
    choose_cap,
    fit,
    fit_baseline,
    judged,
    refuses,
)
from ingest.pipeline import ingest
from rag import calibration as calibration_file
from rag.embedders import make_embedder
from rag.evidence import EvidenceGate
from rag.index.store import IndexStore
from rag.retrieval import Retriever
from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SETS = REPO / "evals" / "sets"
FITTED_SETS = ("sample", "refusal", "refusal_more")
EXTRA_SET = "synthesis"  # answerable only, never fitted on
CORPUS = REPO / "data" / "sample"


def measure_all(settings: Settings, questions: Sequence[Question]) -> list[Measured]:
    """Ingest data/sample into ``settings.home`` (unchanged papers are skipped), then measure every
    question's gate signals over what the hybrid retriever returns."""
    embedder = make_embedder(settings)
    store = IndexStore.open(settings, embedder=embedder)
    try:
        ingest(settings, [str(CORPUS)], store=store, progress=False)
        retriever = Retriever(store, settings.retrieval)
        gate = EvidenceGate(settings.refusal, embedder)
        k = settings.retrieval.k
        return [
            Measured(q, gate.measure(q.question, retriever.retrieve(q.question, k).hits)) for q in questions
        ]
    finally:
        store.close()


def table(title: str, result: Figures) -> list[str]:
    lines = [
        title,
        f"  refusal accuracy (unanswerable refused)  {result.refusal_accuracy}",
        f"  false refusals (answerable refused)      {result.false_refusals}",
    ]
    lines += [f"    {kind:<14} refused {rate}" for kind, rate in result.by_kind.items()]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.calibrate_refusal", description=__doc__)
    parser.add_argument("--write", action="store_true", help="store the fitted model in rag/calibration.json")
    parser.add_argument("--home", type=Path, help="askpapers home to ingest data/sample into and reuse")
    parser.add_argument("--questions", action="store_true", help="list every question's verdict")
    args = parser.parse_args(argv)
    settings = Settings(home=args.home or Path(tempfile.mkdtemp(prefix="askpapers-calibrate-refusal-")))
    by_set = {name: load_questions(SETS / f"{name}.jsonl") for name in (*FITTED_SETS, EXTRA_SET)}
    pooled = [q for name in FITTED_SETS for q in by_set[name]]
    started = time.perf_counter()
    rows = measure_all(settings, [*pooled, *by_set[EXTRA_SET]])
    print(
        f"measured {len(rows)} questions in {time.perf_counter() - started:.1f}s (k={settings.retrieval.k})"
    )
    fitted_rows, extra = rows[: len(pooled)], rows[len(pooled) :]
    calib_ids = calibration_ids(pooled)
    calibration = [r for r in fitted_rows if r.question.id in calib_ids]
    held_out = [r for r in fitted_rows if r.question.id not in calib_ids]

    cap, tried = choose_cap(calibration)
    print(
        f"\ncalibration half: {len(calibration)} questions; held out: {len(held_out)}; synthesis: {len(extra)}"
    )
    print(
        "5-fold cross-validation on the calibration half, per cap (share of its answerable questions refused):"
    )
    for c, f in tried.items():
        print(f"  cap {c:.2f}: refusal accuracy {f.refusal_accuracy}, false refusals {f.false_refusals}")
    print(
        f"chosen cap {cap:.2f}: the largest whose cross-validated false refusals are <= {MAX_FALSE_REFUSALS:.0%}"
    )
    fitted = fit(calibration, cap)
    baseline = fit_baseline(calibration)
    print(f"\nfitted: threshold {fitted.answer_threshold}, models {json.dumps(fitted.model)}")
    print(f"before (refitted on the same half): {baseline}\n")

    def report(name: str, refuse: Callable[[Measured], bool]) -> None:
        origin = {q.id: n for n in FITTED_SETS for q in by_set[n]}
        print("\n".join(table(f"{name}: held-out half", judged(held_out, refuse))))
        for set_name in FITTED_SETS:
            part = [r for r in held_out if origin[r.question.id] == set_name]
            f = judged(part, refuse)
            print(
                f"  {set_name + '.jsonl held out':<28} refusal {f.refusal_accuracy}  false {f.false_refusals}"
            )
        print(f"  {EXTRA_SET + '.jsonl (all)':<28} false refusals {judged(extra, refuse).false_refusals}")
        print(
            f"  calibration half (fitted on: optimistic) {judged(calibration, refuse).refusal_accuracy} / "
            f"{judged(calibration, refuse).false_refusals}\n"
        )

    report("AFTER (evidence gate)", lambda r: refuses(r, fitted))
    report("BEFORE (previous gate, refitted)", baseline.refuses)
    # Whether a refit is due after a change elsewhere (e.g. retrieval): the gate in effect, as it is.
    report("IN EFFECT (rag/calibration.json now, not refitted)", lambda r: refuses(r, settings.refusal))

    if args.questions:
        for r in rows:
            verdict = "refused" if refuses(r, fitted) else "answered"
            wrong = "*" if (verdict == "refused") == r.question.answerable else " "
            split = "calib" if r.question.id in calib_ids else "held"
            ask = r.signals.ask.kind if r.signals else "-"
            print(
                f"{wrong} {r.question.id:<5} {split:<5} {r.kind:<12} {ask:<11} {verdict:<8} {r.question.question[:90]}"
            )

    if args.write:
        held = judged(held_out, lambda r: refuses(r, fitted))
        how = (
            "python -m evals.calibrate_refusal --write: logistic models (rag/evidence.py FEATURES) fitted on the "
            f"calibration half of evals/sets/{{sample,refusal,refusal_more}}.jsonl ({len(calibration)} of "
            f"{len(fitted_rows)} questions, halves stratified by kind by a SHA-1 of the question id; "
            f"all-MiniLM-L6-v2, hybrid retrieval, k={settings.retrieval.k}); threshold refusing {cap:.0%} of the "
            f"half's answerable questions (the largest cap whose 5-fold CV false refusals <= {MAX_FALSE_REFUSALS:.0%}); "
            f"held-out half: refusal accuracy {held.refusal_accuracy}, false refusals {held.false_refusals}"
        )
        calibration_file.write(
            {"refusal.model": fitted.model, "refusal.answer_threshold": fitted.answer_threshold}, how
        )
        print(f"\nwrote the refusal model and threshold to {calibration_file.FILE}")


if __name__ == "__main__":
    main()
