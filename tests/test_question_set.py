"""The labelled sets are data the gate trusts: check them against the corpus itself."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from evals.questions import load_questions
from ingest.sources import read_inputs
from rag.records import Paper, normalise_title
from tests.conftest import REPO, SAMPLE

SETS = REPO / "evals" / "sets"


@pytest.fixture(scope="module")
def abstracts() -> dict[str, str]:
    return {p.norm_title: p.abstract for p in read_inputs([SAMPLE]) if isinstance(p, Paper)}


def test_sample_set_shape() -> None:
    questions = load_questions(SETS / "sample.jsonl")
    assert len(questions) >= 60
    assert len({q.id for q in questions}) == len(questions)
    types = Counter(q.type for q in questions)
    assert set(types) == {"fact", "concept", "multi", "unanswerable"}
    assert all(not q.gold and not q.answer_facts for q in questions if q.type == "unanswerable")
    assert all(len(q.gold) >= 2 for q in questions if q.type == "multi")


def test_gold_titles_exist_and_facts_come_from_gold_abstracts(abstracts: dict[str, str]) -> None:
    for q in load_questions(SETS / "sample.jsonl"):
        gold = [abstracts.get(normalise_title(t)) for t in q.gold]
        assert all(g is not None for g in gold), f"{q.id}: a gold title is not in the corpus"
        for fact in q.answer_facts:
            assert any(fact in g for g in gold if g), f"{q.id}: {fact!r} is in no gold abstract"


def test_support_labels_cite_real_papers(abstracts: dict[str, str]) -> None:
    rows = [json.loads(line) for line in Path(SETS / "support_labels.jsonl").read_text().splitlines()]
    assert len(rows) >= 120
    assert {r["label"] for r in rows} == {"supported", "unsupported"}
    for r in rows:
        assert all(normalise_title(t) in abstracts for t in r["cites"]), r["id"]
