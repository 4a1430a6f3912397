"""Hybrid retrieval: dense (the vector store) and lexical (BM25) rankings fused per paper.

Each retriever ranks chunks; chunks are grouped to papers (a paper ranks and scores at its best
chunk) and the two paper rankings are fused as ``settings.fusion`` says (rag/fusion.py: rank-based
or score-based, fitted on SciFact's training queries by ``python -m evals.calibrate_retrieval``).
Filters go as they are into both retrievers, each of which applies them inside its own
search (rag/index/filtering.py), so a filter never empties a result list that unfiltered
hits would have filled, and none grows with the corpus.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.fusion import fuse
from rag.index.chunk_ids import paper_of
from rag.index.filtering import Conditions
from rag.index.lexical import BM25Index
from rag.types import Filters, Hit

if TYPE_CHECKING:
    from rag.index.interfaces import LexicalIndex
    from rag.index.store import IndexStore
    from rag.settings import RetrievalSettings


@dataclass(frozen=True)
class Retrieval:
    """One search's result: the ranked papers and milliseconds per retriever."""

    hits: list[Hit]
    timings: dict[str, float]


@dataclass
class _Ranked:
    paper_id: str
    chunk_id: str
    score: float
    rank: int


def _best_per_paper(chunks: list[tuple[str, float]]) -> list[_Ranked]:
    """Chunk hits (best first) → papers in order of their best chunk."""
    seen: dict[str, _Ranked] = {}
    for chunk_id, score in chunks:
        paper_id = paper_of(chunk_id)
        if paper_id not in seen:
            seen[paper_id] = _Ranked(paper_id, chunk_id, score, len(seen) + 1)
    return list(seen.values())


class Retriever:
    def __init__(self, store: IndexStore, settings: RetrievalSettings) -> None:
        self.store = store
        self.settings = settings

    @property
    def bm25(self) -> LexicalIndex:
        """The published lexical index: a long-lived retriever picks up an ingest's new one on its next query."""
        return self.store.bm25()

    def dense(self, question: str, n: int, filters: Filters | None) -> list[tuple[str, float]]:
        vector = self.store.embedder.embed_batch([question])[0]
        lexical = self.bm25
        if (
            Conditions.of(filters) is not None  # something to filter on (not just blanks)
            and self.settings.local_filtered_dense
            and isinstance(lexical, BM25Index)
            and lexical.has_vectors
        ):
            hits = lexical.dense(vector, n, filters)
        else:
            hits = [(h.chunk_id, h.score) for h in self.store.vectors.query(vector, n, filters)]
        # Only chunks the manifest lists count: an ingest in progress has vectors it hasn't committed
        # yet, and a replaced chunk's vector lives until the commit that replaces it.
        listed = self.store.manifest.listed_chunks([cid for cid, _ in hits])
        return [(cid, score) for cid, score in hits if cid in listed]

    def sparse(self, question: str, n: int, filters: Filters | None) -> list[tuple[str, float]]:
        return self.bm25.search(question, n, filters, k1=self.settings.bm25_k1, b=self.settings.bm25_b)

    def search(
        self, question: str, k: int = 10, filters: Filters | None = None, *, method: str = "hybrid"
    ) -> list[Hit]:
        """Top ``k`` papers for ``question``; ``method`` is 'hybrid', 'dense' or 'bm25'."""
        return self.retrieve(question, k, filters, method=method).hits

    def retrieve(
        self, question: str, k: int = 10, filters: Filters | None = None, *, method: str = "hybrid"
    ) -> Retrieval:
        """Like :meth:`search`, with the time each retriever took (per call: nothing is kept on
        the retriever, which requests share). A manifest that went bad under a running reader
        raises IndexDamagedError (the manifest translates its own errors)."""
        started = time.perf_counter()
        filters = None if filters is None or filters.is_empty() else filters
        n = max(self.settings.candidates, k * 4)
        dense = _best_per_paper(self.dense(question, n, filters)) if method in ("hybrid", "dense") else []
        t_dense = time.perf_counter()
        sparse = _best_per_paper(self.sparse(question, n, filters)) if method in ("hybrid", "bm25") else []
        t_sparse = time.perf_counter()
        fused = self.fuse({r.paper_id: r.score for r in dense}, {r.paper_id: r.score for r in sparse})
        order = sorted(fused, key=lambda pid: -fused[pid])[:k]
        hits = self._hits(order, fused, {r.paper_id: r for r in dense}, {r.paper_id: r for r in sparse})
        timings = {
            "dense_ms": (t_dense - started) * 1000,
            "bm25_ms": (t_sparse - t_dense) * 1000,
            "retrieval_ms": (time.perf_counter() - started) * 1000,
        }
        return Retrieval(hits, timings)

    def fuse(self, dense: dict[str, float], sparse: dict[str, float]) -> dict[str, float]:
        """Fused score per paper from its best dense (cosine) and BM25 chunk scores."""
        return fuse(
            dense,
            sparse,
            method=self.settings.fusion,
            dense_weight=self.settings.dense_weight,
            bm25_weight=self.settings.bm25_weight,
            rrf_k=self.settings.rrf_k,
        )

    def candidates(self, question: str, n: int) -> tuple[dict[str, float], dict[str, float]]:
        """Each retriever's papers for ``question`` with their best chunk's score, from its top ``n``
        chunks (unfiltered): what fusion combines, for fitting it (evals/calibrate_retrieval.py)."""
        return self.dense_candidates(question, n), self.lexical_candidates(question, n)

    def dense_candidates(self, question: str, n: int) -> dict[str, float]:
        return {r.paper_id: r.score for r in _best_per_paper(self.dense(question, n, None))}

    def lexical_candidates(self, question: str, n: int) -> dict[str, float]:
        return {r.paper_id: r.score for r in _best_per_paper(self.sparse(question, n, None))}

    def _hits(
        self, order: list[str], fused: dict[str, float], dense: dict[str, _Ranked], sparse: dict[str, _Ranked]
    ) -> list[Hit]:
        papers = {p.id: p for p in self.store.manifest.papers(order)}
        best_chunk = {pid: (dense.get(pid) or sparse[pid]).chunk_id for pid in order}
        texts = self.store.manifest.chunk_texts(list(best_chunk.values()))
        hits = []
        for pid in order:
            paper = papers.get(pid)
            if paper is None:  # in Chroma but not (yet) in the manifest: an interrupted ingest's batch
                continue
            d, s = dense.get(pid), sparse.get(pid)
            hits.append(
                Hit(
                    paper_id=pid,
                    title=paper.title,
                    year=paper.year,
                    authors=paper.authors,
                    url=paper.url,
                    score=fused[pid],
                    chunk=texts.get(best_chunk[pid], ""),
                    abstract=paper.abstract,
                    date=paper.date,
                    categories=paper.categories,
                    source=paper.source,
                    dense_score=d.score if d else None,
                    dense_rank=d.rank if d else None,
                    bm25_rank=s.rank if s else None,
                )
            )
        return hits
