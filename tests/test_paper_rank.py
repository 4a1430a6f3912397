"""Which papers a paper-by-paper answer gives a line to (rag/paper_rank.py, evals/calibrate_papers.py),
and the question readings that decide it: named papers, sample sizes."""

from __future__ import annotations

import pytest

from evals.calibrate_papers import Row, figures, fit, kept_by_model, measure
from rag import paper_rank
from rag.answerability import anchor_share, read_question, read_sentence, slot_filled
from rag.engine import Engine
from rag.extractive import select_quotes
from rag.settings import AnswerSettings, Settings
from rag.types import Hit


def hit(pid: str, score: float, title: str = "", abstract: str = "") -> Hit:
    title = title or f"Paper {pid}"
    abstract = abstract or f"We propose a method for steering language models, paper {pid}."
    return Hit(pid, title, 2024, [], None, score, abstract, abstract=abstract)


def test_signals_are_the_score_its_share_of_the_top_and_the_inverse_rank() -> None:
    hits = [hit("a", 4.0), hit("b", 2.0), hit("c", 1.0)]
    assert paper_rank.features(hits, 0) == {"score": 4.0, "share": 1.0, "inverse_rank": 1.0}
    assert paper_rank.features(hits, 2) == {"score": 1.0, "share": 0.25, "inverse_rank": pytest.approx(1 / 3)}


def test_the_top_paper_always_gets_a_line_the_rest_by_the_model() -> None:
    model = {"intercept": -4.0, "score": 1.0}
    hits = [hit("a", 1.0), hit("b", 5.0), hit("c", 3.0)]
    assert paper_rank.probability(paper_rank.features(hits, 1), model) == pytest.approx(
        1 / (1 + 2.718281828**-1)
    )
    assert [paper_rank.needed(hits, r, model, 0.5) for r in range(3)] == [True, True, False]


def test_an_answer_quotes_only_the_papers_the_model_keeps() -> None:
    """A weak third paper is left out, however well its sentence matches; without the model the
    score-share rule gives it a line."""
    hits = [hit("a", 6.0), hit("b", 4.0), hit("c", 0.5)]
    question = "Which papers propose methods for steering language models?"
    fitted = AnswerSettings(paper_model={"intercept": -3.0, "score": 1.0}, paper_threshold=0.5)
    assert {q.source for q in select_quotes(question, hits, fitted)} == {1, 2}
    before = fitted.model_copy(update={"paper_model": {}})
    assert {q.source for q in select_quotes(question, hits, before)} == {1, 2, 3}


def test_under_another_fusion_the_score_share_rule_decides() -> None:
    """The model's weights are on z-score fused scores; RRF's are on another scale."""
    zscore = Settings(retrieval={"fusion": "zscore"})
    assert zscore.answer.paper_model_fusion == "zscore" and zscore.answer_settings().paper_model
    rrf = Settings(retrieval={"fusion": "rrf"})
    assert rrf.answer_settings().paper_model == {} and rrf.answer.paper_model  # the section itself is kept


def test_a_top_paper_with_nothing_to_quote_gets_no_line() -> None:
    """Its best sentence scores below zero (no shared word; a background cue): the next paper heads."""
    hits = [
        hit("a", 6.0, "Crops from space", "In recent years, satellites have drawn attention."),
        hit("b", 4.0),
    ]
    fitted = AnswerSettings(paper_model={"intercept": 10.0}, paper_threshold=0.5)
    question = "Which papers propose methods for steering language models?"
    assert {q.source for q in select_quotes(question, hits, fitted)} == {2}


def test_the_fields_vocabulary_names_no_paper() -> None:
    """'LLMs' in a which-papers question doesn't make every paper with 'LLM' in its title a named one;
    'CASAL' does."""
    model = {"intercept": -50.0}  # the model keeps nothing below the top paper
    fitted = AnswerSettings(paper_model=model, paper_threshold=0.5)
    hits = [hit("a", 6.0), hit("b", 1.0, "Steering LLMs with sparse codes"), hit("c", 1.0, "CASAL: steering")]
    generic = "Which papers propose methods for steering LLMs?"
    assert {q.source for q in select_quotes(generic, hits, fitted)} == {1}
    named = "Which papers propose methods for steering language models, like CASAL?"
    assert {q.source for q in select_quotes(named, hits, fitted)} == {1, 3}


def test_a_sample_size_answers_how_many_people() -> None:
    ask = read_question("How many participants took part in the randomized study of chatbot use?")
    assert slot_filled(
        read_sentence("We ran a four-week randomized experiment (n=981, >300k messages)."), ask, 6
    )
    assert slot_filled(read_sentence("Across randomized trials (N = 1,222), persistence fell."), ask, 6)
    assert not slot_filled(
        read_sentence("We ran a four-week randomized experiment with 300k messages."), ask, 6
    )
    layers = read_question("How many layers does the steered model have?")
    assert not slot_filled(read_sentence("The model was steered in a study (n=981)."), layers, 6)
    # the people a study counts, by another name: "participants" are counted as "193 subjects"
    mdpe = read_question("How many participants were in the MDPE dataset?")
    subjects = read_sentence("It comprises over 104 hours of videos from 193 subjects.")
    assert slot_filled(subjects, mdpe, 6) and anchor_share(frozenset(subjects.stems), mdpe) == 1.0
    videos = read_question("How many videos were in the MDPE dataset?")
    adults = read_sentence("The 193 subjects were all adults.")
    assert not slot_filled(adults, videos, 6) and anchor_share(frozenset(adults.stems), videos) == 0.0


def test_the_threshold_balances_found_and_correct_papers() -> None:
    """Needed papers stand out by score: the fit keeps them and drops the rest."""
    rows = [
        Row(
            f"q{i}",
            True,
            "which_papers",
            "q?",
            2,
            [hit("a", 5.0), hit("b", 3.0 + i / 10), hit("c", 1.0)],
            [True, True, False],
        )
        for i in range(10)
    ]
    model, threshold = fit(rows)
    recall, precision = figures(rows, kept_by_model(rows, model, threshold))
    assert recall.value == 1.0 and precision.value == 1.0


def test_the_shipped_model_balances_found_and_correct_papers_better_on_the_held_out_half(
    sample_settings: Settings,
) -> None:
    """End to end on the sample index, as the calibration reads it: the smaller of 'needed papers
    cited' and 'cited papers needed' is larger with the shipped model than with the rule it replaced."""
    from evals.calibrate_papers import cited

    engine = Engine(sample_settings)
    try:
        rows = measure(engine, sample_settings)
        held = [r for r in rows if not r.calibration]
        assert len(held) >= 30 and any(r.calibration for r in rows)
        similarity = engine.sentence_vectors.similarity
        shipped = sample_settings.answer
        assert shipped.paper_model
        before = shipped.model_copy(update={"paper_model": {}})
        new = figures(held, cited(held, shipped, similarity))
        old = figures(held, cited(held, before, similarity))
    finally:
        engine.store.close()
    assert min(r.value for r in new) > min(r.value for r in old), (new, old)
    assert new[1].value > old[1].value  # more of the cited papers are needed
