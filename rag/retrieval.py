"""Hybrid retrieval: dense (Chroma) and BM25 (bm25s) rankings fused per paper.

Each retriever ranks chunks; chunks are grouped to papers (a paper ranks at its best
chunk) and the two paper rankings are fused with weighted reciprocal-rank fusion.
Filters become a set of allowed paper ids (one indexed SQL query on the manifest),
passed into both retrievers — Chroma as a ``where`` clause, BM25 as a weight mask —
so a filter never empties a result list that unfiltered hits would have filled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.index.chunk_ids import paper_of
from rag.types import Filters, Hit

if TYPE_CHECKING:
    from rag.index.lexical import BM25Index
    from rag.index.store import IndexStore
    from rag.settings import RetrievalSettings


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
        self.last_timings: dict[str, float] = {}

    @property
    def bm25(self) -> BM25Index:
        """The published BM25 index: a long-lived retriever picks up an ingest's new one on its next query."""
        return self.store.bm25()

    def allowed_ids(self, filters: Filters | None) -> set[str] | None:
        if filters is None or filters.is_empty():
            return None
        return self.store.manifest.filter_ids(
            year_from=filters.year_from,
            year_to=filters.year_to,
            author=filters.author,
            category=filters.category,
            source=filters.source,
        )

    def dense(self, question: str, n: int, allowed: set[str] | None) -> list[tuple[str, float]]:
        if allowed is not None and not allowed:
            return []
        vector = self.store.embedder.embed_batch([question])[0]
        where = None if allowed is None else {"paper_id": {"$in": sorted(allowed)}}
        hits = [(h.chunk_id, h.score) for h in self.store.vectors.query(vector, n, where)]
        # Only chunks the manifest lists count: an ingest in progress has vectors it hasn't committed
        # yet, and a replaced chunk's vector lives until the commit that replaces it.
        listed = self.store.manifest.listed_chunks([cid for cid, _ in hits])
        return [(cid, score) for cid, score in hits if cid in listed]

    def sparse(self, question: str, n: int, allowed: set[str] | None) -> list[tuple[str, float]]:
        if allowed is not None and not allowed:
            return []
        bm25 = self.bm25
        mask: Any = None
        if allowed is not None:
            import numpy as np

            mask = np.fromiter((paper_of(cid) in allowed for cid in bm25.chunk_ids), dtype=np.float32)
        return bm25.search(question, n, mask)

    def search(
        self, question: str, k: int = 10, filters: Filters | None = None, *, method: str = "hybrid"
    ) -> list[Hit]:
        """Top ``k`` papers for ``question``; ``method`` is 'hybrid', 'dense' or 'bm25'."""
        import sqlite3

        try:
            return self._search(question, k, filters, method)
        except sqlite3.DatabaseError as exc:  # the manifest went bad under a running reader
            from rag.index.manifest import damaged

            raise damaged(self.store.manifest.path, exc) from None

    def _search(self, question: str, k: int, filters: Filters | None, method: str) -> list[Hit]:
        started = time.perf_counter()
        allowed = self.allowed_ids(filters)
        n = max(self.settings.candidates, k * 4)
        dense = _best_per_paper(self.dense(question, n, allowed)) if method in ("hybrid", "dense") else []
        t_dense = time.perf_counter()
        sparse = _best_per_paper(self.sparse(question, n, allowed)) if method in ("hybrid", "bm25") else []
        t_sparse = time.perf_counter()
        fused: dict[str, float] = {}
        c = self.settings.rrf_k
        for ranking, weight in ((dense, self.settings.dense_weight), (sparse, self.settings.bm25_weight)):
            for r in ranking:
                fused[r.paper_id] = fused.get(r.paper_id, 0.0) + weight / (c + r.rank)
        order = sorted(fused, key=lambda pid: -fused[pid])[:k]
        hits = self._hits(order, fused, {r.paper_id: r for r in dense}, {r.paper_id: r for r in sparse})
        self.last_timings = {
            "dense_ms": (t_dense - started) * 1000,
            "bm25_ms": (t_sparse - t_dense) * 1000,
            "retrieval_ms": (time.perf_counter() - started) * 1000,
        }
        return hits

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
