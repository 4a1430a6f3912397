"""The refusal calibration's split and fit (evals/refusal_fit.py), on made-up signals: no model needed."""

from __future__ import annotations

from evals.questions import Question, calibration_ids
from evals.refusal_fit import Measured, choose_cap, figures, fit, refuses
from rag.answerability import read_question
from rag.evidence import FEATURES, Signals, decide

TYPED = read_question("What accuracy does CloudFormer reach?")


def _row(qid: str, answerable: bool, slot: float, dense: float, missing: bool = False) -> Measured:
    kind = "fact" if answerable else "near_miss"
    question = Question(qid, f"question {qid}?", "fact" if answerable else "unanswerable", [], kind=kind)
    values = {name: 0.5 for name in FEATURES["typed"]}
    values.update(slot=slot, dense=dense, missing=float(missing), quantity=1.0)
    return Measured(question, Signals(TYPED, values, ["Elo"] if missing else [], bool(slot)))


def test_split_is_stable_and_stratified() -> None:
    questions = [Question(f"q{i:03}", "?", "fact" if i < 40 else "unanswerable", []) for i in range(50)]
    chosen = calibration_ids(questions)
    assert chosen == calibration_ids(list(reversed(questions)))  # order does not matter
    assert len([q for q in questions if q.answerable and q.id in chosen]) == 20
    assert len([q for q in questions if not q.answerable and q.id in chosen]) == 5


def test_fit_separates_and_keeps_false_refusals_under_the_cap() -> None:
    answerable = [_row(f"a{i}", True, 1.0, 0.60 + 0.01 * i) for i in range(40)]
    near_misses = [_row(f"u{i}", False, 0.0, 0.55 + 0.01 * i) for i in range(20)]
    named = [_row(f"n{i}", False, 1.0, 0.62, missing=True) for i in range(10)]  # asks about a missing name
    rows = answerable + near_misses + named
    fitted = fit(rows, cap=0.02)
    result = figures((r, refuses(r, fitted)) for r in rows)
    assert result.false_refusals.k <= 1 and result.refusal_accuracy.value >= 0.9, result
    assert result.by_kind["near_miss"].n == 30
    assert fitted.model["typed"]["slot"] > 0 and fitted.model["typed"]["missing"] < 0
    assert decide(near_misses[0].signals, fitted).weak
    assert not decide(answerable[-1].signals, fitted).weak
    assert decide(None, fitted).weak  # nothing retrieved
    cap, tried = choose_cap(rows)
    assert cap in tried and tried[cap].false_refusals.value <= 0.05
