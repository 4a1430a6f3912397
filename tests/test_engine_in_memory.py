"""The whole engine — rewrite, retrieve, refuse, answer, verify — on in-memory index parts and a
word-hash embedder: the ingest and the answer path in about a second, no ONNX, no Chroma, no disk
index. The same questions run end to end on the real parts in tests/test_rag.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.pipeline import ingest
from rag.answerers import ExtractiveAnswerer
from rag.engine import Engine
from rag.index.store import IndexStore
from rag.settings import Settings
from rag.types import Filters
from tests.conftest import SAMPLE
from tests.index_fixtures import WordHashEmbedder


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    settings = Settings(home=tmp_path_factory.mktemp("memory-home"))
    store = IndexStore.in_memory(settings, WordHashEmbedder(dim=512))
    summary = ingest(settings, [SAMPLE], store=store, progress=False)
    assert summary.new == 320
    return Engine(settings, store=store)


def test_search_and_filters_on_memory_parts(engine: Engine) -> None:
    hits = engine.search("CloudFormer attention-based performance prediction public clouds", k=5)
    assert hits[0].title.startswith("CloudFormer")
    assert engine.search("CloudFormer", k=5, filters=Filters(year_from=2999)) == []


def test_extractive_answer_on_memory_parts(engine: Engine) -> None:
    answer = engine.ask("What mean absolute error does CloudFormer reach?", mode="extractive")
    assert not answer.refused, answer.text
    assert "7.8%" in answer.text
    assert all(s.supported and s.cites for s in answer.sentences)
    assert any(c.title.startswith("CloudFormer") for c in answer.citations.values())


def test_a_paper_by_paper_answer_orders_sentences_with_the_engines_shared_vectors(engine: Engine) -> None:
    """The engine hands its sentence-vector cache to the answerer: the model's cosines come from it."""
    answerer = engine.pipeline("extractive").answerer
    assert isinstance(answerer, ExtractiveAnswerer)
    assert answerer.similarity == engine.sentence_vectors.similarity
    answer = engine.ask("Which papers propose methods to reduce hallucination in large language models?")
    assert not answer.refused and answer.intro.startswith("From the indexed abstracts, paper by paper")
    assert all(s.supported and s.cites for s in answer.sentences)


def test_store_is_injected_not_opened(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "nothing-here")
    store = IndexStore.in_memory(settings, WordHashEmbedder())
    assert Engine(settings, store=store).store is store
    assert not settings.index_dir.exists()
