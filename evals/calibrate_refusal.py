"""Calibrate the refusal gate (rag/evidence.py, settings section ``refusal``) on evals/sets/sample.jsonl.

The questions are split in two halves by a stable hash of their ids, stratified (answerable and
unanswerable questions each halved), so both halves hold both kinds. The gate's three numbers are
fitted on the calibration half only and both halves are reported; the held-out half's figures are
the ones to quote.

Fitting (calibration half only), one rule at a time:

1. the missing-name rule: ``coverage_with_missing_names`` is the midpoint between the highest
   coverage of an unanswerable question with a missing name and the lowest coverage of an
   answerable one with a missing name (just under the latter when they overlap);
2. the strength rule, on top of it: for each ``coverage_weight`` on a grid (from 0.5: see
   ``COVERAGE_WEIGHTS``), the strength thresholds
   with the highest balanced accuracy — the mean of refusal accuracy (unanswerable questions
   refused) and answer rate (answerable ones answered) — among those whose false-refusal rate is at
   most ``MAX_FALSE_REFUSALS``. Many settings tie on a set this small, so the weight whose run of
   equally good thresholds is widest, measured in standard deviations of the strengths at that
   weight (a scale-free margin), wins, with the threshold at the middle of that run.

Retrieval is the hybrid retriever at the settings' ``retrieval.k``, as the pipeline runs it, over
data/sample ingested into ``--home`` (a temporary one by default; ingest skips unchanged papers,
so a reused home costs only the first run).

Usage: .venv/bin/python -m evals.calibrate_refusal [--write] [--home DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.questions import Question, load_questions
from ingest.pipeline import ingest
from rag import calibration as calibration_file
from rag.embedders import make_embedder
from rag.evidence import Signals, decide, measure
from rag.index.store import IndexStore
from rag.retrieval import Retriever
from rag.settings import RefusalSettings, Settings

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = REPO / "evals" / "sets" / "sample.jsonl"
CORPUS = REPO / "data" / "sample"
#: The most false refusals (answerable questions refused) a fitted setting may make, as a share.
MAX_FALSE_REFUSALS = 0.05
STRENGTH_STEP = 0.005
STRENGTH_GRID = [round(0.50 + STRENGTH_STEP * i, 3) for i in range(401)]  # 0.50 .. 2.50
#: At least 0.5, a prior rather than a fit: the strength must not rest on the dense cosine alone, whose
#: scale belongs to one embedding model. On 33 questions the fit otherwise drops coverage (weight 0.1),
#: and that refused answerable questions with a low cosine outside the calibration half.
COVERAGE_WEIGHTS = [round(0.5 + 0.1 * i, 1) for i in range(16)]  # 0.5 .. 2


@dataclass(frozen=True)
class Measured:
    question: Question
    signals: Signals | None


def calibration_ids(questions: Sequence[Question]) -> set[str]:
    """The calibration half: within each of answerable / unanswerable, questions ordered by the SHA-1
    of their id, every other one. The same set splits the same way on every machine and run."""
    chosen: set[str] = set()
    for answerable in (True, False):
        group = sorted(
            (q.id for q in questions if q.answerable == answerable),
            key=lambda qid: hashlib.sha1(qid.encode()).hexdigest(),
        )
        chosen.update(group[::2])
    return chosen


@dataclass(frozen=True)
class Figures:
    n_answerable: int
    n_unanswerable: int
    refusal_accuracy: float  # unanswerable questions refused / unanswerable questions
    false_refusal_rate: float  # answerable questions refused / answerable questions

    @property
    def balanced_accuracy(self) -> float:
        return (self.refusal_accuracy + 1 - self.false_refusal_rate) / 2


def figures(rows: Iterable[Measured], settings: RefusalSettings) -> Figures:
    rows = list(rows)
    answerable = [r for r in rows if r.question.answerable]
    unanswerable = [r for r in rows if not r.question.answerable]
    refused_a = sum(decide(r.signals, settings).weak for r in answerable)
    refused_u = sum(decide(r.signals, settings).weak for r in unanswerable)
    return Figures(
        len(answerable),
        len(unanswerable),
        refused_u / len(unanswerable) if unanswerable else 1.0,
        refused_a / len(answerable) if answerable else 0.0,
    )


def _longest_run(good: Sequence[bool]) -> tuple[int, int]:
    """First and last index of the longest run of consecutive ``good`` grid points."""
    best, start = (0, -1), None
    for i, ok in enumerate([*good, False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best


def fit_missing_names(rows: Sequence[Measured]) -> float:
    """Step 1 of the fit (module docstring): the coverage under which a missing name refuses."""
    named = [r for r in rows if r.signals is not None and r.signals.missing]
    unanswerable = [r.signals.coverage for r in named if r.signals and not r.question.answerable]
    answerable = [r.signals.coverage for r in named if r.signals and r.question.answerable]
    high, low = max(unanswerable, default=0.0), min(answerable, default=1.0)
    return round((high + low) / 2, 3) if high < low else low


def fit(rows: Sequence[Measured]) -> RefusalSettings:
    """The settings the fit (module docstring) picks on ``rows``."""
    c = fit_missing_names(rows)
    best: tuple[float, float] | None = None  # (balanced accuracy, width of the run in strength SDs)
    chosen: RefusalSettings | None = None
    for w in COVERAGE_WEIGHTS:
        candidates = [
            RefusalSettings(strength_threshold=t, coverage_weight=w, coverage_with_missing_names=c)
            for t in STRENGTH_GRID
        ]
        scores = []
        for candidate in candidates:
            f = figures(rows, candidate)
            scores.append(f.balanced_accuracy if f.false_refusal_rate <= MAX_FALSE_REFUSALS else -1.0)
        top = max(scores)
        if top < 0:
            continue
        first, last = _longest_run([s >= top - 1e-9 for s in scores])
        strengths = [r.signals.dense + w * r.signals.coverage for r in rows if r.signals is not None]
        spread = statistics.pstdev(strengths) or 1.0
        key = (top, (STRENGTH_GRID[last] - STRENGTH_GRID[first] + STRENGTH_STEP) / spread)
        if best is None or key > best:
            best = key
            middle = round((STRENGTH_GRID[first] + STRENGTH_GRID[last]) / 2, 3)
            chosen = candidates[0].model_copy(update={"strength_threshold": middle})
    if chosen is None:
        raise SystemExit(f"no setting keeps false refusals at or under {MAX_FALSE_REFUSALS:.0%}")
    return chosen


def measure_all(settings: Settings, questions: Sequence[Question]) -> list[Measured]:
    """Ingest data/sample into ``settings.home`` (unchanged papers are skipped), then measure every
    question's gate signals over what the hybrid retriever returns."""
    embedder = make_embedder(settings)
    store = IndexStore.open(settings, embedder=embedder)
    try:
        ingest(settings, [str(CORPUS)], store=store, progress=False)
        retriever = Retriever(store, settings.retrieval)
        k = settings.retrieval.k
        return [Measured(q, measure(q.question, retriever.retrieve(q.question, k).hits)) for q in questions]
    finally:
        store.close()


def _describe(s: RefusalSettings) -> str:
    return (
        f"strength_threshold {s.strength_threshold}, coverage_weight {s.coverage_weight}, "
        f"coverage_with_missing_names {s.coverage_with_missing_names}"
    )


def _line(name: str, f: Figures) -> str:
    return (
        f"{name:<24}{f.n_answerable:>5}{f.n_unanswerable:>6}{f.refusal_accuracy:>10.3f}"
        f"{f.false_refusal_rate:>10.3f}{f.balanced_accuracy:>10.3f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.calibrate_refusal", description=__doc__)
    parser.add_argument(
        "--write", action="store_true", help="store the fitted values in rag/calibration.json"
    )
    parser.add_argument(
        "--home",
        type=Path,
        help="askpapers home to ingest data/sample into and reuse (default: a temporary one)",
    )
    args = parser.parse_args(argv)
    home = args.home or Path(tempfile.mkdtemp(prefix="askpapers-calibrate-refusal-"))
    settings = Settings(home=home)
    current = settings.refusal
    questions = load_questions(QUESTIONS)
    started = time.perf_counter()
    rows = measure_all(settings, questions)
    calib_ids = calibration_ids(questions)
    calibration = [r for r in rows if r.question.id in calib_ids]
    held_out = [r for r in rows if r.question.id not in calib_ids]
    fitted = fit(calibration)
    print(
        f"measured {len(rows)} questions in {time.perf_counter() - started:.1f}s (k={settings.retrieval.k})"
    )
    print(
        f"objective: balanced accuracy, false refusals <= {MAX_FALSE_REFUSALS:.0%}, widest margin (calibration half)"
    )
    print(f"fitted:  {_describe(fitted)}")
    print(f"current: {_describe(current)}\n")
    header = f"{'settings / split':<24}{'answ':>5}{'unans':>6}{'refusal':>10}{'false-ref':>10}{'bal-acc':>10}"
    print(header)
    for name, candidate in (("fitted", fitted), ("current", current)):
        for split, subset in (("calibration", calibration), ("held-out", held_out), ("all", rows)):
            print(_line(f"{name} {split}", figures(subset, candidate)))
    print("\nper question (strength at the fitted weight; * = wrong at the fitted settings)")
    for r in rows:
        verdict = decide(r.signals, fitted)
        wrong = verdict.weak == r.question.answerable
        split = "calib" if r.question.id in calib_ids else "held"
        kind = "answerable" if r.question.answerable else "unanswerable"
        missing = ",".join(verdict.missing)
        print(
            f"{'*' if wrong else ' '} {r.question.id} {split:<5} {kind:<12} strength {verdict.strength:.3f} "
            f"coverage {verdict.coverage:.2f} {'refused' if verdict.weak else 'answered'}"
            f"{' missing ' + missing if missing else ''}"
        )
    if args.write:
        held = figures(held_out, fitted)
        how = (
            "python -m evals.calibrate_refusal --write: fitted on the calibration half of evals/sets/sample.jsonl "
            f"({len(calibration)} of {len(rows)} questions, halves stratified by a SHA-1 of the question id; "
            f"all-MiniLM-L6-v2, hybrid retrieval, k={settings.retrieval.k}): the missing-name coverage midway "
            "between unanswerable and answerable questions with a missing name, then the weight and threshold "
            f"(weight >= 0.5) with the highest balanced accuracy at false refusals <= {MAX_FALSE_REFUSALS:.0%} and "
            "the widest margin; held-out half: refusal accuracy "
            f"{held.refusal_accuracy:.3f} ({held.n_unanswerable} unanswerable), false-refusal rate "
            f"{held.false_refusal_rate:.3f} ({held.n_answerable} answerable)"
        )
        calibration_file.write(
            {
                "refusal.strength_threshold": fitted.strength_threshold,
                "refusal.coverage_weight": fitted.coverage_weight,
                "refusal.coverage_with_missing_names": fitted.coverage_with_missing_names,
            },
            how,
        )
        print(f"\nwrote {_describe(fitted)} to {calibration_file.FILE}")


if __name__ == "__main__":
    main()
