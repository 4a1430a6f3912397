"""The signals that order a paper's sentences (rag/sentence_rank.py) and the calibration script's
figures (evals/calibrate_quotes.py), on hand-made sentences."""

from __future__ import annotations

import math

import pytest

from evals.calibrate_quotes import Row, measure, top_share
from rag import sentence_rank
from rag.sentence_rank import FEATURES, Sentence, features, score
from rag.settings import Settings

SENTENCES = [
    Sentence("In recent years, probing has drawn attention.", 0, 0.6, 4),
    Sentence("We propose a probe that reads hidden states.", 1, 0.3, 4),
    Sentence("It cuts errors by 41% on three benchmarks.", 3, 0.0, 4),
]


def test_each_signal_says_what_its_name_says() -> None:
    got = features(SENTENCES, [0.1, 0.5, 0.2], ["we propose"], ["in recent years"])
    assert [g["first"] for g in got] == [1.0, 0.0, 0.0]
    assert [g["last"] for g in got] == [0.0, 0.0, 1.0]  # the abstract has 4 sentences; the 4th is last
    assert [g["position"] for g in got] == pytest.approx([0.0, 1 / 3, 1.0])
    assert [g["we"] for g in got] == [0.0, 1.0, 0.0]
    assert [g["number"] for g in got] == [0.0, 0.0, 1.0]
    assert [g["contribution"] for g in got] == [0.0, 1.0, 0.0]
    assert [g["background"] for g in got] == [1.0, 0.0, 0.0]
    assert [g["cosine"] for g in got] == [0.1, 0.5, 0.2]
    assert sum(g["overlap_z"] for g in got) == pytest.approx(0.0, abs=1e-9)  # standardised within the paper
    assert got[0]["overlap_z"] > got[1]["overlap_z"] > got[2]["overlap_z"]
    assert got[2]["words"] == pytest.approx(math.log(8))
    assert set(got[0]) == set(sentence_rank.FEATURES)


def test_one_sentence_or_equal_overlaps_standardise_to_zero() -> None:
    (only,) = features([Sentence(SENTENCES[0].text, 0, 0.6, 1)], [0.3], [], [])
    assert only["overlap_z"] == 0.0 and only["first"] == only["last"] == 1.0 and only["position"] == 0.0


def test_the_score_is_the_models_log_odds() -> None:
    signals = features(SENTENCES, [0.1, 0.5, 0.2], [], [])
    model = {"intercept": -1.0, "number": 2.0, "first": -1.5}
    assert [score(s, model) for s in signals] == pytest.approx([-2.5, -1.0, 1.0])
    assert score(signals[0], {}) == 0.0


def row(question: str, rank: int, label: bool, before: float, cosine: float) -> Row:
    return Row(("set", question, rank), True, "multi", label, before, {"cosine": cosine})


def test_top_share_counts_papers_whose_first_sentences_hold_the_fact() -> None:
    rows = [
        row("q1", 0, False, 0.9, 0.1),
        row("q1", 0, True, 0.5, 0.8),
        row("q1", 0, False, 0.4, 0.2),
        row("q2", 1, True, 0.7, 0.3),
        row("q2", 1, False, 0.1, 0.9),
    ]
    assert top_share(rows, lambda r: r.score, 1) == (1, 2)  # q1's best-scored sentence lacks the fact
    assert top_share(rows, lambda r: r.signals["cosine"], 1) == (1, 2)
    assert top_share(rows, lambda r: r.score, 2) == (2, 2)


def test_the_shipped_model_finds_facts_more_often_than_overlap_on_the_held_out_half(
    sample_settings: Settings,
) -> None:
    """End to end on the sample index: the sentences of the needed papers, as the calibration reads them."""
    rows = measure(sample_settings)
    held = [r for r in rows if not r.calibration]
    assert held and any(r.calibration for r in rows) and all(set(r.signals) == set(FEATURES) for r in rows)
    model = sample_settings.answer.sentence_model
    fitted, papers = top_share(held, lambda r: score(r.signals, model), 2)
    before, _ = top_share(held, lambda r: r.score, 2)
    assert papers >= 100 and fitted > before, (fitted, before, papers)
