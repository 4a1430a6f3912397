"""The refusal and synthesis sets calibrate and report the answer engine: check them against the corpus."""

from __future__ import annotations

from collections import Counter

import pytest

from evals.questions import KINDS, Question, load_questions
from ingest.sources import read_inputs
from rag.records import Paper, normalise_title
from tests.conftest import REPO, SAMPLE

SETS = REPO / "evals" / "sets"
NEW_SETS = ("refusal", "synthesis")
#: the type each kind implies
KIND_TYPE = {
    "near_miss": "unanswerable",
    "off_topic": "unanswerable",
    "paraphrase": "concept",
    "about": "concept",
    "fact": "fact",
    "which_papers": "multi",
    "compare": "multi",
}
#: the least each set must hold of each kind (the calibrate-on-one-half, report-the-other split needs volume)
MIN_PER_KIND = {
    "refusal": {"near_miss": 55, "off_topic": 25, "paraphrase": 55, "fact": 25},
    "synthesis": {"which_papers": 35, "compare": 20, "about": 20},
}
ID_PREFIX = {"refusal": "r", "synthesis": "s"}


@pytest.fixture(scope="module")
def abstracts() -> dict[str, str]:
    return {p.norm_title: p.abstract for p in read_inputs([SAMPLE]) if isinstance(p, Paper)}


def load(name: str) -> list[Question]:
    return load_questions(SETS / f"{name}.jsonl")


def test_kind_table_covers_every_kind() -> None:
    assert set(KIND_TYPE) == set(KINDS)


def test_ids_and_questions_are_unique_across_all_sets() -> None:
    everything = [q for name in ("sample", *NEW_SETS) for q in load(name)]
    ids = Counter(q.id for q in everything)
    assert [i for i, n in ids.items() if n > 1] == []
    texts = Counter(" ".join(q.question.lower().split()) for q in everything)
    assert [t for t, n in texts.items() if n > 1] == []


@pytest.mark.parametrize("name", NEW_SETS)
def test_set_shape_and_kind_counts(name: str) -> None:
    questions = load(name)
    assert all(q.id.startswith(ID_PREFIX[name]) for q in questions)
    kinds = Counter(q.kind for q in questions)
    assert set(kinds) == set(MIN_PER_KIND[name])
    for kind, least in MIN_PER_KIND[name].items():
        assert kinds[kind] >= least, f"{name}: only {kinds[kind]} {kind} questions"


@pytest.mark.parametrize("name", NEW_SETS)
def test_types_are_consistent_with_kinds(name: str) -> None:
    for q in load(name):
        assert q.type == KIND_TYPE[q.kind], f"{q.id}: kind {q.kind} needs type {KIND_TYPE[q.kind]}"
        if q.type == "unanswerable":
            assert not q.gold and not q.answer_facts, f"{q.id}: unanswerable with gold or facts"
        else:
            assert q.answer_facts, f"{q.id}: answerable without answer facts"
            assert len(set(q.gold)) == len(q.gold), f"{q.id}: repeated gold title"
        if q.type == "multi":
            assert len(q.gold) >= 2, f"{q.id}: multi with fewer than two gold papers"
        if q.type in ("fact", "concept"):
            assert len(q.gold) == 1, f"{q.id}: {q.kind} must name exactly one gold paper"
        if q.kind == "near_miss":
            assert len(q.about) == 1, f"{q.id}: near miss without the paper it is about"
        else:
            assert not q.about, f"{q.id}: only near misses name an 'about' paper"


@pytest.mark.parametrize("name", NEW_SETS)
def test_titles_exist_and_facts_come_from_gold_abstracts(name: str, abstracts: dict[str, str]) -> None:
    for q in load(name):
        for title in q.gold + q.about:
            assert normalise_title(title) in abstracts, f"{q.id}: {title!r} is not in the corpus"
        gold = [abstracts[normalise_title(t)] for t in q.gold]
        for fact in q.answer_facts:
            assert any(fact in g for g in gold), f"{q.id}: {fact!r} is in no gold abstract"
        if q.type == "multi":
            for title, text in zip(q.gold, gold, strict=True):
                assert any(f in text for f in q.answer_facts), f"{q.id}: no answer fact from {title!r}"


def test_near_misses_cover_many_papers() -> None:
    about = Counter(q.about[0] for q in load("refusal") if q.kind == "near_miss")
    assert max(about.values()) == 1, "a paper is the subject of two near misses"
