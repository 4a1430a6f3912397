"""Index parts for tests, real and in memory, behind one fixture (a pytest plugin, see conftest).

``index_parts`` is parametrised: 'real' is SQLite + Chroma through its owner process + BM25 builds
on disk, 'memory' the in-memory implementations (rag/index/memory.py). Either way ``writer()`` and
``reader()`` give IndexStores over the same index, as the ingest and a query process hold them.
``WordHashEmbedder`` stands in for the model: no ONNX, and texts that share words are close.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rag.index.chunk_ids import chunk_id
from rag.index.memory import MemoryLexicalBuilds, MemoryManifest, MemoryVectorStore
from rag.index.store import IndexStore
from rag.records import Chunk, Paper
from rag.settings import Settings


class WordHashEmbedder:
    """Bag of words hashed into ``dim`` buckets, unit length; deterministic across processes."""

    name = "word-hash"
    max_tokens = 256

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vector = [0.0] * self.dim
            for word in text.lower().split():
                vector[zlib.crc32(word.strip(".,;:!?").encode()) % self.dim] += 1.0
            norm = sum(v * v for v in vector) ** 0.5 or 1.0
            out.append([v / norm for v in vector])
        return out

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]


def chunks_of(paper: Paper, *pieces: str) -> list[Chunk]:
    """The chunks the chunker would make of ``paper`` if it cut its abstract into ``pieces``."""
    texts = [f"{paper.title}\n{piece}" for piece in pieces or (paper.abstract,)]
    return [Chunk(chunk_id(paper.id, i, text), paper.id, i, text) for i, text in enumerate(texts)]


class IndexParts:
    """One index of one kind; stores it hands out are closed at the end of the test."""

    def __init__(self, kind: str, settings: Settings, embedder: WordHashEmbedder) -> None:
        self.kind = kind
        self.settings = settings
        self.embedder = embedder
        self._opened: list[IndexStore] = []
        if kind == "memory":
            self._memory = (MemoryManifest(), MemoryVectorStore(), MemoryLexicalBuilds())

    def _open(self, writer: bool) -> IndexStore:
        if self.kind == "real":
            store = (
                IndexStore.open(self.settings, embedder=self.embedder)
                if writer
                else IndexStore.open_reader(self.settings, embedder=self.embedder)
            )
        else:
            manifest, vectors, lexical = self._memory
            store = IndexStore(
                self.settings,
                manifest,
                vectors=vectors,
                lexical=lexical,
                embedder=self.embedder,
                writer=writer,
            )
        self._opened.append(store)
        return store

    def writer(self) -> IndexStore:
        return self._open(True)

    def reader(self) -> IndexStore:
        return self._open(False)

    def close(self) -> None:
        for store in self._opened:
            store.close()


def real_settings(home: Path) -> Settings:
    """Settings of a real index in ``home`` (embedded Chroma: its owner leaves soon after the test)."""
    return Settings(home=home, chroma={"owner_idle_s": 3})


@pytest.fixture
def word_embedder() -> WordHashEmbedder:
    return WordHashEmbedder()


@pytest.fixture(params=["real", "memory"])
def index_parts(
    request: pytest.FixtureRequest, tmp_path: Path, word_embedder: WordHashEmbedder
) -> Iterator[IndexParts]:
    """A fresh, empty index of each kind."""
    parts = IndexParts(request.param, real_settings(tmp_path / "home"), word_embedder)
    try:
        yield parts
    finally:
        parts.close()
