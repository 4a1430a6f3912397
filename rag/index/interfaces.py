"""The three parts of an index, as the rest of askpapers sees them: in our own types only.

Each has a real implementation (SQLite manifest, Chroma through its owner, BM25 builds on disk)
and an in-memory one (rag/index/memory.py); tests/test_index_contract.py runs the same tests
on both. Filters arrive as :class:`~rag.types.Filters` and each implementation translates them
itself (rag/index/filtering.py): no Chroma ``where`` or bm25s mask leaves its module, and no
implementation is ever handed a list of allowed ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rag.index.filtering import FilterFields
    from rag.records import Chunk, Paper
    from rag.types import Filters


@dataclass(frozen=True)
class VectorHit:
    chunk_id: str
    score: float  # cosine similarity, higher is closer


class VectorStore(Protocol):
    """Chunk vectors with their papers' filter fields."""

    def upsert(
        self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], papers: Sequence[Paper]
    ) -> None:
        """Write chunks (replacing any with the same id, metadata included); every chunk's paper
        is among ``papers``."""
        ...

    def delete(self, chunk_ids: Sequence[str]) -> None: ...

    def query(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[VectorHit]:
        """The ``k`` closest chunks whose papers pass ``filters`` (none pass: an empty list), closest first."""
        ...

    def ids(self) -> set[str]: ...

    def count(self) -> int: ...


class LexicalIndex(Protocol):
    """One published build of the lexical index: the committed chunks of one manifest version."""

    @property
    def version(self) -> int | None:
        """The manifest version it was built from; None for the empty index nothing was published as."""
        ...

    @property
    def chunk_ids(self) -> Sequence[str]: ...

    def search(
        self, query: str, n: int, filters: Filters | None = None, *, k1: float = ..., b: float = ...
    ) -> list[tuple[str, float]]:
        """Top ``n`` (chunk id, score) pairs with a positive score among chunks whose papers pass ``filters``;
        ``k1`` and ``b`` are BM25's term-frequency saturation and length normalisation."""
        ...


class LexicalBuilds(Protocol):
    """Where the one writer publishes builds and readers find the newest one."""

    def published_version(self) -> int | None: ...

    def publish(self, manifest: Manifest, version: int) -> LexicalIndex:
        """Build manifest ``version``'s index — the previous build plus the papers changed since
        (``manifest.changed_since``), or from every committed chunk — and publish it atomically."""
        ...

    def current(self) -> LexicalIndex:
        """The published build; a reader picks up a newer one on its next call."""
        ...


class Manifest(Protocol):
    """What the index holds: the source of truth for which chunks count (see rag/index/store.py)."""

    @property
    def version(self) -> int:
        """Bumped by every commit; the lexical index is rebuilt when it moved."""
        ...

    # --- reading
    def hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        """Paper id → content hash (rag/records.py), of every paper or of those of ``ids`` indexed."""
        ...

    def id_for_title(self, norm_title: str) -> str | None: ...

    def find(self, key: str) -> str | None:
        """The paper a ``doi:…`` / ``arxiv:…`` key names (rag/records.py ``external_keys``)."""
        ...

    def papers(self, ids: Sequence[str] | None = None) -> Iterator[Paper]:
        """The given papers in that order (unknown ids skipped), or every paper."""
        ...

    def chunks(self) -> Iterator[Chunk]: ...

    def lexical_rows(self, paper_ids: Sequence[str] | None = None) -> Iterator[tuple[Chunk, FilterFields]]:
        """Every chunk (or those of ``paper_ids``) with its paper's filter fields, grouped by paper:
        what a lexical build is made from."""
        ...

    def changed_since(self, version: int) -> set[str] | None:
        """Papers committed or removed after ``version``; None when the change log doesn't reach back
        that far."""
        ...

    def count_chunks(self, paper_ids: Iterable[str]) -> int: ...

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored float16 vectors of these chunks (those committed without one left out)."""
        ...

    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]: ...

    def listed_chunks(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of these chunk ids committed papers list (vectors of other ids don't count)."""
        ...

    def counts(self) -> tuple[int, int]:
        """(papers, chunks)."""
        ...

    def sources(self) -> dict[str, int]:
        """Papers per source name."""
        ...

    def orphans(self) -> list[str]:
        """Chunk ids that may have vectors although no committed paper lists them."""
        ...

    # --- writing (the one writer; each call is one transaction)
    def mark_pending(self, chunk_ids: Iterable[str]) -> None: ...

    def forget_orphans(self, chunk_ids: Iterable[str]) -> None: ...

    def commit_papers(
        self, papers: Sequence[Paper], chunks: Sequence[Chunk], vectors: Sequence[bytes] | None = None
    ) -> list[str]:
        """Make these papers (and exactly these chunks) the indexed version; returns the chunk ids
        they replace, listed as garbage until their vectors are deleted. ``vectors``: each chunk's
        vector as float16 bytes (:func:`rag.index.bm25_segment.vector_bytes`), kept for local search."""
        ...

    def remove_papers(self, ids: Sequence[str]) -> list[str]:
        """Returns the removed papers' chunk ids, listed as garbage until their vectors are deleted."""
        ...

    def trim_log(self, version: int) -> None:
        """Forget the changes up to ``version`` (the lexical index published them)."""
        ...

    def close(self) -> None: ...
