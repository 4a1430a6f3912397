"""In-memory implementations of the three index parts (rag/index/interfaces.py).

They keep the real ones' semantics — the manifest's pending/garbage bookkeeping and versions,
exact cosine ranking, the same BM25 (segments in memory, rag/index/lexical.py) and the same filter masks
(rag/index/filtering.py) — so an engine test runs on them in milliseconds, without ONNX, Chroma
or files; tests/test_index_contract.py runs one set of tests against both kinds. Each is safe
to share between threads (the ingest stores batches from a writer thread).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, NamedTuple

from rag.index.filtering import Conditions, FilterColumns, FilterFields
from rag.index.interfaces import VectorHit
from rag.index.lexical import BM25Index, MergePolicy, plan_build
from rag.records import Chunk, Paper

if TYPE_CHECKING:
    from rag.index.interfaces import Manifest
    from rag.types import Filters


class _Stored(NamedTuple):
    data: str  # the JSON the SQLite manifest stores
    content_hash: str
    norm_title: str
    fields: FilterFields


class MemoryManifest:
    """Implements Manifest with dicts; papers are kept as the JSON the SQLite one stores."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._papers: dict[str, _Stored] = {}
        self._titles: dict[str, dict[str, None]] = {}  # normalised title → ids (ordered set)
        self._aliases: dict[str, str] = {}  # doi:… / arxiv:… → paper id
        self._chunks: dict[str, Chunk] = {}
        self._by_paper: dict[str, list[str]] = {}
        self._pending: set[str] = set()
        self._garbage: set[str] = set()
        self._version = 0
        self._vectors: dict[str, bytes] = {}  # chunk id -> float16 bytes
        self._log: list[tuple[int, str]] = []  # (version, paper id) committed or removed
        self._log_from = 0

    @property
    def version(self) -> int:
        return self._version

    def hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        with self._lock:
            wanted = self._papers.keys() if ids is None else [i for i in ids if i in self._papers]
            return {pid: self._papers[pid].content_hash for pid in wanted}

    def id_for_title(self, norm_title: str) -> str | None:
        with self._lock:
            return next(iter(self._titles.get(norm_title, {})), None)

    def find(self, key: str) -> str | None:
        with self._lock:
            return self._aliases.get(key)

    def papers(self, ids: Sequence[str] | None = None) -> Iterator[Paper]:
        with self._lock:
            wanted = list(self._papers) if ids is None else [i for i in ids if i in self._papers]
            rows = [self._papers[i].data for i in wanted]
        for data in rows:
            yield Paper(**json.loads(data))

    def chunks(self) -> Iterator[Chunk]:
        with self._lock:
            ordered = sorted(self._chunks.values(), key=lambda c: (c.paper_id, c.idx))
        yield from ordered

    def lexical_rows(self, paper_ids: Sequence[str] | None = None) -> Iterator[tuple[Chunk, FilterFields]]:
        with self._lock:
            fields = {pid: stored.fields for pid, stored in self._papers.items()}
        wanted = None if paper_ids is None else set(paper_ids)
        for chunk in self.chunks():
            if wanted is None or chunk.paper_id in wanted:
                yield chunk, fields[chunk.paper_id]

    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, bytes]:
        with self._lock:
            return {c: self._vectors[c] for c in chunk_ids if c in self._vectors and c in self._chunks}

    def changed_since(self, version: int) -> set[str] | None:
        with self._lock:
            if version < self._log_from:
                return None
            return {pid for v, pid in self._log if v > version}

    def count_chunks(self, paper_ids: Iterable[str]) -> int:
        with self._lock:
            return sum(len(self._by_paper.get(pid, [])) for pid in paper_ids)

    def trim_log(self, version: int) -> None:
        with self._lock:
            self._log = [(v, pid) for v, pid in self._log if v > version]
            self._log_from = version

    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        with self._lock:
            return {c: self._chunks[c].text for c in chunk_ids if c in self._chunks}

    def listed_chunks(self, chunk_ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {c for c in chunk_ids if c in self._chunks}

    def counts(self) -> tuple[int, int]:
        with self._lock:
            return len(self._papers), len(self._chunks)

    def sources(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for paper in self.papers():
            for source in paper.source.split(","):
                counts[source] = counts.get(source, 0) + 1
        return dict(sorted(counts.items()))

    def orphans(self) -> list[str]:
        with self._lock:
            return sorted((self._pending | self._garbage) - self._chunks.keys())

    def mark_pending(self, chunk_ids: Iterable[str]) -> None:
        with self._lock:
            self._pending.update(chunk_ids)

    def forget_orphans(self, chunk_ids: Iterable[str]) -> None:
        with self._lock:
            ids = set(chunk_ids)
            self._pending -= ids
            self._garbage -= ids

    def commit_papers(
        self, papers: Sequence[Paper], chunks: Sequence[Chunk], vectors: Sequence[bytes] | None = None
    ) -> list[str]:
        new_ids = {c.id for c in chunks}
        with self._lock:
            replaced = [c for p in papers for c in self._by_paper.get(p.id, []) if c not in new_ids]
            self._garbage.update(replaced)
            self._pending -= new_ids
            self._garbage -= new_ids
            self._delete([p.id for p in papers])
            for p in papers:
                self._papers[p.id] = _Stored(
                    json.dumps(asdict(p)), p.content_hash(), p.norm_title, FilterFields.of(p)
                )
                self._titles.setdefault(p.norm_title, {})[p.id] = None
                self._aliases.update(dict.fromkeys(p.lookup_keys(), p.id))
                self._by_paper[p.id] = []
            for i, c in enumerate(chunks):
                self._chunks[c.id] = c
                self._by_paper[c.paper_id].append(c.id)
                if vectors is not None:
                    self._vectors[c.id] = vectors[i]
            self._version += 1
            self._log += [(self._version, p.id) for p in papers]
        return replaced

    def remove_papers(self, ids: Sequence[str]) -> list[str]:
        with self._lock:
            gone = [c for pid in ids for c in self._by_paper.get(pid, [])]
            self._garbage.update(gone)
            self._delete(ids)
            self._version += 1
            self._log += [(self._version, pid) for pid in ids]
        return gone

    def _delete(self, ids: Iterable[str]) -> None:
        for pid in ids:
            stored = self._papers.pop(pid, None)
            if stored is not None:
                self._titles.get(stored.norm_title, {}).pop(pid, None)
                for key in [k for k, v in self._aliases.items() if v == pid]:
                    del self._aliases[key]
            for cid in self._by_paper.pop(pid, []):
                self._chunks.pop(cid, None)

    def close(self) -> None:
        pass


class MemoryVectorStore:
    """Implements VectorStore: exact cosine over a matrix rebuilt after writes, numpy filter masks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[Any, FilterFields]] = {}  # chunk id → (unit vector, its paper's fields)
        self._snapshot: tuple[list[str], Any, FilterColumns] | None = None

    def upsert(
        self, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]], papers: Sequence[Paper]
    ) -> None:
        fields = {p.id: FilterFields.of(p) for p in papers}
        with self._lock:
            for chunk, vector in zip(chunks, vectors, strict=True):
                self._rows[chunk.id] = (_unit(vector), fields[chunk.paper_id])
            self._snapshot = None

    def delete(self, chunk_ids: Sequence[str]) -> None:
        with self._lock:
            for cid in chunk_ids:
                self._rows.pop(cid, None)
            self._snapshot = None

    def query(self, vector: Sequence[float], k: int, filters: Filters | None = None) -> list[VectorHit]:
        import numpy as np

        ids, matrix, columns = self._matrix()
        if not ids:
            return []
        scores = matrix @ _unit(vector)
        conditions = Conditions.of(filters)
        if conditions is not None:
            keep = columns.mask(conditions)
            scores = np.where(keep, scores, -np.inf)
            k = min(k, int(keep.sum()))
        top = np.argsort(-scores, kind="stable")[:k]
        return [VectorHit(ids[i], float(scores[i])) for i in top]

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._rows)

    def count(self) -> int:
        with self._lock:
            return len(self._rows)

    def _matrix(self) -> tuple[list[str], Any, FilterColumns]:
        import numpy as np

        with self._lock:
            if self._snapshot is None:
                ids = list(self._rows)
                vectors = [self._rows[i][0] for i in ids]
                matrix = np.stack(vectors) if vectors else np.zeros((0, 0), dtype=np.float32)
                self._snapshot = (ids, matrix, FilterColumns.build([self._rows[i][1] for i in ids]))
            return self._snapshot


def _unit(vector: Sequence[float]) -> Any:
    import numpy as np

    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else array


class MemoryLexicalBuilds:
    """Implements LexicalBuilds: the same BM25 builds, published by keeping the newest in memory."""

    def __init__(self, policy: MergePolicy | None = None) -> None:
        self.policy = policy or MergePolicy()
        self._lock = threading.Lock()
        self._published: BM25Index | None = None

    def published_version(self) -> int | None:
        published = self._published
        return None if published is None else published.version

    def publish(self, manifest: Manifest, version: int) -> BM25Index:
        """As BM25Builds.publish: the previous build plus a segment, or a full rebuild."""
        built = plan_build(self._published, manifest, version, self.policy)
        with self._lock:
            self._published = built
        return built

    def current(self) -> BM25Index:
        return self._published or BM25Index.empty()
