"""The refusal calibration's split and fit (evals/calibrate_refusal.py), on made-up signals: no model needed."""

from __future__ import annotations

from evals.calibrate_refusal import Measured, calibration_ids, figures, fit, fit_missing_names
from evals.questions import Question
from rag.evidence import Signals, decide


def _row(
    qid: str, answerable: bool, dense: float, coverage: float, missing: list[str] | None = None
) -> Measured:
    question = Question(qid, f"question {qid}?", "fact" if answerable else "unanswerable", [])
    return Measured(question, Signals(dense, coverage, missing or []))


def test_split_is_stable_and_stratified() -> None:
    questions = [Question(f"q{i:03}", "?", "fact" if i < 40 else "unanswerable", []) for i in range(50)]
    chosen = calibration_ids(questions)
    assert chosen == calibration_ids(list(reversed(questions)))  # order does not matter
    assert len([q for q in questions if q.answerable and q.id in chosen]) == 20
    assert len([q for q in questions if not q.answerable and q.id in chosen]) == 5


def test_missing_name_rule_sits_between_the_groups() -> None:
    rows = [
        _row("a", True, 0.8, 0.9, ["RL"]),
        _row("b", False, 0.6, 0.5, ["Elo"]),
        _row("c", False, 0.6, 0.3, ["kWh"]),
        _row("d", True, 0.8, 0.2),  # no missing name: doesn't count
    ]
    assert fit_missing_names(rows) == 0.7


def test_fit_separates_and_keeps_false_refusals_under_the_cap() -> None:
    answerable = [_row(f"a{i}", True, 0.70 + 0.01 * i, 0.6 + 0.01 * i) for i in range(20)]
    unanswerable = [_row(f"u{i}", False, 0.50 + 0.01 * i, 0.2 + 0.02 * i) for i in range(5)]
    unanswerable.append(_row("named", False, 0.75, 0.5, ["Elo"]))  # strong, but asks about a missing name
    rows = answerable + unanswerable
    fitted = fit(rows)
    result = figures(rows, fitted)
    assert result.refusal_accuracy == 1.0 and result.false_refusal_rate == 0.0
    assert decide(Signals(0.75, 0.5, ["Elo"]), fitted).weak
    assert not decide(Signals(0.75, 0.7, []), fitted).weak
    assert decide(None, fitted).weak  # nothing retrieved
