"""The index for one settings shape: manifest + vector store + BM25, kept in step.

Opening it is cheap (no model is loaded): the embedder and Chroma are created on
first use, so ``askpapers stats`` never imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.bm25 import BM25Index
from ingest.manifest import Chunk, Manifest
from ingest.records import Paper

if TYPE_CHECKING:
    from ingest.chunking import Chunker
    from ingest.embedders import Embedder
    from ingest.vectorstore import Metadata, VectorStore
    from rag.settings import Settings


@dataclass
class EmbeddedBatch:
    papers: list[Paper]
    chunks: list[Chunk]
    vectors: list[list[float]]


def chunk_metadata(paper: Paper, chunk: Chunk) -> Metadata:
    """Flat metadata per chunk (Chroma takes no lists): lists are joined with '; ' or spaces."""
    return {
        "paper_id": paper.id,
        "title": paper.title,
        "year": paper.year if paper.year is not None else -1,
        "authors": "; ".join(paper.authors),
        "categories": " ".join(paper.categories),
        "url": paper.url or "",
        "source": paper.source,
        "chunk_index": chunk.idx,
    }


class IndexStore:
    def __init__(self, settings: Settings, manifest: Manifest, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.manifest = manifest
        self.directory = settings.index_dir
        if embedder is not None:  # share one loaded model between indexes (tests, evals)
            self.__dict__["embedder"] = embedder

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> IndexStore:
        directory = settings.index_dir
        directory.mkdir(parents=True, exist_ok=True)
        shape = directory / "settings.json"
        if not shape.exists():
            shape.write_text(
                json.dumps(settings.vector_shape() | {"collection": settings.collection_name}, indent=2)
            )
        return cls(settings, Manifest(directory / "manifest.sqlite"), embedder)

    @classmethod
    def exists(cls, settings: Settings) -> bool:
        return (settings.index_dir / "manifest.sqlite").exists()

    # --- lazily created parts ---------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:
        from ingest.embedders import make_embedder

        return make_embedder(self.settings)

    @cached_property
    def chunker(self) -> Chunker:
        from ingest.chunking import Chunker

        return Chunker(
            self.settings.chunking.chunk_size,
            self.settings.chunking.chunk_overlap,
            self.embedder.count_tokens,
            self.embedder.max_tokens,
        )

    @cached_property
    def vectors(self) -> VectorStore:
        from ingest.vectorstore import ChromaStore

        return ChromaStore(self.settings)

    @property
    def bm25_dir(self) -> Path:
        return self.directory / "bm25"

    # --- writing ----------------------------------------------------------
    def write_papers(self, papers: Sequence[Paper]) -> int:
        """Chunk, embed and store ``papers`` (replacing earlier versions); returns chunks embedded."""
        return self.store_embedded(self.embed_papers(papers))

    def embed_papers(self, papers: Sequence[Paper]) -> EmbeddedBatch:
        """The CPU-heavy half of a write: chunking and embedding (touches no store)."""
        chunks = self.chunker.chunk_many(papers)
        return EmbeddedBatch(list(papers), chunks, self.embedder.embed_batch([c.text for c in chunks]))

    def store_embedded(self, batch: EmbeddedBatch) -> int:
        """The storing half: Chroma first, the manifest last (see ingest.pipeline)."""
        papers, chunks, vectors = batch.papers, batch.chunks, batch.vectors
        if not papers:
            return 0
        by_id = {p.id: p for p in papers}
        # Old chunks of these papers (from the manifest) and any left by an interrupted run (same ids).
        stale = set(self.manifest.chunk_ids(by_id)) | {c.id for c in chunks}
        self.vectors.delete(sorted(stale))
        self.vectors.add(chunks, vectors, [chunk_metadata(by_id[c.paper_id], c) for c in chunks])
        self.manifest.commit_papers(papers, chunks)  # last: the paper counts as indexed only now
        return len(chunks)

    def remove_papers(self, paper_ids: Sequence[str]) -> None:
        if not paper_ids:
            return
        self.vectors.delete(self.manifest.chunk_ids(paper_ids))
        self.manifest.remove_papers(paper_ids)

    def sync_bm25(self) -> BM25Index | None:
        """Rebuild BM25 if the manifest moved since it was built; None when it was already current."""
        version = self.manifest.version
        if BM25Index.stamp(self.bm25_dir) == version:
            return None
        ids: list[str] = []
        texts: list[str] = []
        for chunk in self.manifest.chunks():
            ids.append(chunk.id)
            texts.append(chunk.text)
        return BM25Index.build(self.bm25_dir, ids, texts, version)

    def bm25(self) -> BM25Index:
        """The BM25 index, current with the manifest (rebuilt first if an ingest was interrupted)."""
        return self.sync_bm25() or BM25Index.load(self.bm25_dir)

    # --- reading ----------------------------------------------------------
    def disk_bytes(self) -> int:
        """Bytes on disk of this index: manifest + BM25 + (embedded) Chroma database."""
        roots = [self.directory]
        if not self.settings.chroma.url:
            roots.append(self.settings.chroma_path)
        return sum(
            f.stat().st_size for root in roots if root.exists() for f in root.rglob("*") if f.is_file()
        )

    def close(self) -> None:
        self.manifest.close()
