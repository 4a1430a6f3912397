"""BM25 over the same chunks as the vector store (bm25s), persisted beside the manifest.

Only the ingest (the one writer) builds it, from the manifest, once per ingest. Each build
goes to its own directory ``bm25/v<manifest version>/``; a pointer file ``bm25/CURRENT``
names the published one and is replaced atomically, so readers load a complete index or
the previous one, never a half-written one, and never write anything themselves. A long-
lived reader compares ``CURRENT`` with what it loaded before each query (one small file
read) and reloads when an ingest published a new build. Older builds are deleted by the
writer, keeping the previous one for readers that are still loading it.

Each build stores its papers' filter fields as columns (rag/index/filtering.py) beside the
chunk ids, so a filter becomes a weight mask in a few numpy operations, at any corpus size.

We use bm25s directly rather than llama-index's BM25Retriever: it persists only ids (not
whole nodes), and its ``weight_mask`` lets filters apply inside retrieval. Chunks and queries are
tokenised by :func:`rag.text.terms` (the stopwords and stemmer refusal, extractive answers and
support checking use too) and handed to bm25s as token lists.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import IndexDamagedError
from rag.index.filtering import Conditions, FilterColumns, FilterFields
from rag.text import terms

if TYPE_CHECKING:
    from rag.records import Chunk
    from rag.types import Filters

CURRENT = "CURRENT"
_IDS = "chunk_ids.json"
_ROWS = "chunk_rows.npy"  # per chunk: its paper's row in the filter columns
_COLUMNS = "filters.npz"


def published(directory: Path) -> str | None:
    """Name of the published build (e.g. 'v12'), or None when nothing was published yet."""
    try:
        name = (directory / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def version_of(name: str | None) -> int | None:
    return int(name[1:]) if name and name[1:].isdigit() else None


class BM25Index:
    """One build: the bm25s retriever, its chunk ids, and its papers' filter columns."""

    def __init__(
        self, name: str | None, retriever: Any, chunk_ids: list[str], rows: Any, columns: FilterColumns | None
    ) -> None:
        self.name = name  # 'v12' for the build of manifest version 12; None for an empty index
        self.retriever = retriever
        self._chunk_ids = chunk_ids
        self.rows = rows
        self.columns = columns

    @property
    def version(self) -> int | None:
        return version_of(self.name)

    @property
    def chunk_ids(self) -> list[str]:
        return self._chunk_ids

    @classmethod
    def empty(cls) -> BM25Index:
        return cls(None, None, [], None, None)

    @classmethod
    def build(cls, rows: Iterable[tuple[Chunk, FilterFields]], version: int) -> BM25Index:
        """Index ``rows`` in memory (nothing is written)."""
        import bm25s
        import numpy as np

        chunk_ids: list[str] = []
        texts: list[str] = []
        paper_rows: list[int] = []
        papers: dict[str, int] = {}
        fields: list[FilterFields] = []
        for chunk, paper_fields in rows:
            if chunk.paper_id not in papers:
                papers[chunk.paper_id] = len(fields)
                fields.append(paper_fields)
            chunk_ids.append(chunk.id)
            texts.append(chunk.text)
            paper_rows.append(papers[chunk.paper_id])
        retriever = None
        if texts:
            retriever = bm25s.BM25()
            retriever.index([terms(t) for t in texts], show_progress=False)
        return cls(
            f"v{version}",
            retriever,
            chunk_ids,
            np.array(paper_rows, dtype=np.int32),
            FilterColumns.build(fields),
        )

    def save(self, directory: Path) -> None:
        import numpy as np

        if self.retriever is not None:
            self.retriever.save(str(directory))
        (directory / _IDS).write_text(json.dumps(self._chunk_ids))
        np.save(directory / _ROWS, self.rows)
        assert self.columns is not None
        self.columns.save(directory / _COLUMNS)

    @classmethod
    def load(cls, directory: Path, name: str) -> BM25Index:
        import bm25s
        import numpy as np

        chunk_ids = json.loads((directory / name / _IDS).read_text())
        retriever = bm25s.BM25.load(str(directory / name), mmap=False) if chunk_ids else None
        rows = np.load(directory / name / _ROWS, allow_pickle=False)
        columns = FilterColumns.load(directory / name / _COLUMNS)
        if len(rows) != len(chunk_ids):
            raise ValueError(f"{len(chunk_ids)} chunk ids but {len(rows)} filter rows")
        return cls(name, retriever, chunk_ids, rows, columns)

    def search(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """Top ``n`` (chunk id, BM25 score) pairs with a positive score; filters are a weight mask."""
        if self.retriever is None or not self._chunk_ids:
            return []
        mask = None
        conditions = Conditions.of(filters)
        if conditions is not None and self.columns is not None:
            papers = self.columns.mask(conditions)
            if not papers.any():
                return []
            mask = papers[self.rows].astype("float32")  # each chunk takes its paper's verdict
        tokens = terms(query)
        if not tokens:
            return []
        n = min(n, len(self._chunk_ids))
        docs, scores = self.retriever.retrieve(
            [tokens], k=n, show_progress=False, n_threads=1, weight_mask=mask
        )
        return [
            (self._chunk_ids[int(d)], float(sc)) for d, sc in zip(docs[0], scores[0], strict=True) if sc > 0
        ]


class BM25Builds:
    """Builds published under ``directory`` (see the module docstring); implements LexicalBuilds."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._loaded: BM25Index | None = None
        self._lock = threading.Lock()

    def published_version(self) -> int | None:
        return version_of(published(self.directory))

    def current(self) -> BM25Index:
        """The published build; reloaded when an ingest published a newer one since the last call."""
        name = published(self.directory)
        loaded = self._loaded
        if loaded is not None and loaded.name == name:
            return loaded
        with self._lock:
            if self._loaded is None or self._loaded.name != published(self.directory):
                self._loaded = self._load()
            return self._loaded

    def publish(self, rows: Iterable[tuple[Chunk, FilterFields]], version: int) -> BM25Index:
        """Build the index of manifest ``version``, publish it, and delete builds nobody needs."""
        built = BM25Index.build(rows, version)
        directory = self.directory
        directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=directory))
        name = f"v{version}"
        try:
            built.save(tmp)
            target = directory / name
            if target.exists():  # an earlier build of the same version (a run that stopped before CURRENT)
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        pointer = directory / f".{CURRENT}.{os.getpid()}"
        pointer.write_text(name, encoding="utf-8")
        previous = published(directory)
        os.replace(pointer, directory / CURRENT)
        for old in directory.iterdir():  # keep this build and the previous one (readers may be loading it)
            if old.name not in (name, previous, CURRENT) and (
                old.name.startswith("v") or old.name.startswith(".build-")
            ):
                shutil.rmtree(old, ignore_errors=True)
        with self._lock:
            self._loaded = built
        return built

    def _load(self) -> BM25Index:
        """The published build; an empty index when nothing was published yet."""
        tried: str | None = None
        while True:  # the writer may replace CURRENT and delete a build while we read
            name = published(self.directory)
            if name is None:
                return BM25Index.empty()
            try:
                return BM25Index.load(self.directory, name)
            except FileNotFoundError as exc:
                if name != tried:  # CURRENT moved on while we read: load the newer build
                    tried = name
                    continue
                problem: Exception = exc  # the published build itself is missing files
            except (OSError, ValueError, KeyError) as exc:
                problem = exc
            raise IndexDamagedError(
                f"the lexical index {self.directory / name} is damaged ({problem}); run 'askpapers ingest' "
                "on your inputs to rebuild it (nothing is re-embedded)"
            ) from None
