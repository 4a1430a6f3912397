"""The index for one settings shape: manifest + vector store + lexical index, kept in step.

Two ways to open it. ``open`` is for the one writer (the ingest, under its lock): it may
create the index, write vectors and the manifest, and build BM25. ``open_reader`` is for
everyone else (the chat page, ``ask``/``search``, the ``rag`` API, evals): it never writes
to the index directory, and before each query it checks one small file to see whether an
ingest published a newer BM25, reloading only then; vectors and the manifest are read live.

A chunk is part of the index exactly when the manifest lists it. A batch is written as:
note its new chunk ids as pending → write the vectors → commit the manifest (which lists
the replaced chunk ids as garbage) → delete the garbage vectors. Whatever stops that
sequence, readers only ever see listed chunks, and the writer's next run deletes every
vector nobody lists before it starts (``clean_orphans``). Opening is cheap: the embedder
and Chroma are created on first use, so ``askpapers stats`` never imports torch.

The three parts are interfaces (rag/index/interfaces.py): ``open``/``open_reader`` give the real
ones (SQLite, Chroma through its owner, BM25 builds on disk), ``in_memory`` the in-memory ones, and
the constructor takes any (an engine test runs on fakes in milliseconds).
"""

from __future__ import annotations

import contextlib
import errno
import json
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rag.embedders import make_embedder
from rag.errors import EndpointError, IndexMissingError, IndexWriteError
from rag.index.bm25_segment import vector_bytes
from rag.index.interfaces import LexicalBuilds, LexicalIndex, Manifest, VectorStore
from rag.index.lexical import BM25Builds, MergePolicy
from rag.index.manifest import SQLiteManifest, damaged
from rag.index.memory import MemoryLexicalBuilds, MemoryManifest, MemoryVectorStore
from rag.index.vectors import ChromaStore
from rag.records import Chunk, Paper

if TYPE_CHECKING:
    from rag.embedders import Embedder
    from rag.settings import Settings

#: Below this much free space a failed write is reported as a full disk (Chroma's own errors don't say).
LOW_DISK_BYTES = 64 * 2**20


@dataclass
class EmbeddedBatch:
    """Papers, their chunks and one vector per chunk: what one write commits together."""

    papers: list[Paper]
    chunks: list[Chunk]
    vectors: list[list[float]]


def merge_policy(settings: Settings) -> MergePolicy:
    ingest = settings.ingest
    return MergePolicy(ingest.lexical_max_segments, ingest.lexical_merge_share, ingest.lexical_segment_chunks)


def _free_bytes(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return shutil.disk_usage(candidate).free
    return None


class IndexStore:
    def __init__(
        self,
        settings: Settings,
        manifest: Manifest,
        *,
        vectors: VectorStore | None = None,
        lexical: LexicalBuilds | None = None,
        embedder: Embedder | None = None,
        writer: bool,
    ) -> None:
        """Over the given parts; a vector store or embedder not given is created on first use
        (Chroma for this index, the configured embedder), lexical builds default to ``bm25_dir``."""
        self.settings = settings
        self.manifest = manifest
        self.directory = settings.index_dir
        self.writer = writer
        self.lexical: LexicalBuilds = (
            lexical if lexical is not None else BM25Builds(self.bm25_dir, merge_policy(settings))
        )
        if vectors is not None:
            self.__dict__["vectors"] = vectors
        if embedder is not None:  # share one loaded model between indexes (tests, evals)
            self.__dict__["embedder"] = embedder

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> IndexStore:
        """The index, opened by its one writer (creating it if needed)."""
        directory = settings.index_dir
        with cls.writing(directory, "create the index"):
            directory.mkdir(parents=True, exist_ok=True)
            shape = directory / "settings.json"
            if not shape.exists():
                shape.write_text(
                    json.dumps(settings.vector_shape() | {"collection": settings.collection_name}, indent=2)
                )
            manifest = SQLiteManifest(directory / "manifest.sqlite")
        return cls(settings, manifest, embedder=embedder, writer=True)

    @classmethod
    def open_reader(cls, settings: Settings, embedder: Embedder | None = None) -> IndexStore:
        """The index, opened read-only; IndexMissingError when it was never built."""
        if not cls.exists(settings):
            raise IndexMissingError(
                f"no index for these settings in {settings.home} (collection {settings.collection_name}); "
                "build it with 'askpapers ingest data/sample'"
            )
        manifest = SQLiteManifest(settings.index_dir / "manifest.sqlite", readonly=True)
        return cls(settings, manifest, embedder=embedder, writer=False)

    @classmethod
    def in_memory(cls, settings: Settings, embedder: Embedder | None = None) -> IndexStore:
        """A writable index held in memory (nothing is written to disk): tests and experiments."""
        return cls(
            settings,
            MemoryManifest(),
            vectors=MemoryVectorStore(),
            lexical=MemoryLexicalBuilds(merge_policy(settings)),
            embedder=embedder,
            writer=True,
        )

    @classmethod
    def exists(cls, settings: Settings) -> bool:
        return (settings.index_dir / "manifest.sqlite").exists()

    @classmethod
    def stats(cls, settings: Settings) -> dict[str, object]:
        """What the index for ``settings`` holds (``askpapers stats``, the page's status line); read-only."""
        shape: dict[str, object] = {
            "collection": settings.collection_name,
            "embedding_model": settings.embedding.model,
            "chunk_size": settings.chunking.chunk_size,
            "chunk_overlap": settings.chunking.chunk_overlap,
            "home": str(settings.home),
        }
        if not cls.exists(settings):
            return {"papers": 0, "chunks": 0, "sources": {}, "bytes": 0} | shape
        store = cls.open_reader(settings)
        try:
            papers, chunks = store.manifest.counts()
            return {
                "papers": papers,
                "chunks": chunks,
                "sources": store.manifest.sources(),
                "bytes": store.disk_bytes(),
            } | shape
        finally:
            store.close()

    # --- lazily created parts ---------------------------------------------
    @cached_property
    def embedder(self) -> Embedder:

        return make_embedder(self.settings)

    @cached_property
    def vectors(self) -> VectorStore:
        return ChromaStore(self.settings, create=self.writer)

    @property
    def bm25_dir(self) -> Path:
        return self.directory / "bm25"

    # --- reading ----------------------------------------------------------
    def bm25(self) -> LexicalIndex:
        """The published lexical index; reloaded when an ingest published a newer one since the last call."""
        return self.lexical.current()

    def disk_bytes(self) -> int:
        """Bytes on disk of this index: manifest + BM25 + (embedded) Chroma database."""
        roots = [self.directory]
        if not self.settings.chroma.url:
            roots.append(self.settings.chroma_path)
        total = 0
        for root in roots:
            for f in root.rglob("*") if root.exists() else ():
                with contextlib.suppress(FileNotFoundError):  # an ingest replaced it meanwhile
                    total += f.stat().st_size if f.is_file() else 0
        return total

    # --- writing (the ingest only) ------------------------------------------
    @staticmethod
    @contextmanager
    def writing(directory: Path, what: str) -> Iterator[None]:
        """Turn what a full disk, a missing permission or a failing store raise into one clear error."""
        try:
            yield
        except sqlite3.IntegrityError:
            raise  # a bug of ours, not damage: reported as one (ui/cli.py), never "move it away"
        except sqlite3.Error as exc:
            raise damaged(directory / "manifest.sqlite", exc) from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise IndexWriteError(
                    f"no space left on the disk of {directory} while trying to {what}; free some space and "
                    "run the same command again — what was committed is kept"
                ) from None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise IndexWriteError(
                    f"can't {what}: {exc.strerror} ({exc.filename or directory}); check that you may write "
                    "there, or set ASKPAPERS_HOME to a directory you can write"
                ) from None
            raise IndexWriteError(f"can't {what} in {directory}: {exc}") from None
        except EndpointError as exc:
            free = _free_bytes(directory)
            if free is not None and free < LOW_DISK_BYTES or "full" in str(exc).lower():
                raise IndexWriteError(
                    f"the vector store could not {what}: the disk of {directory} is full ({(free or 0) / 2**20:.0f} "
                    "MB free); free some space and run the same command again — what was committed is kept"
                ) from None
            raise IndexWriteError(f"the vector store could not {what}: {exc}") from None

    def store_embedded(self, batch: EmbeddedBatch) -> int:
        """The storing half: pending → Chroma → manifest → garbage deleted (see the module docstring)."""
        papers, chunks, vectors = batch.papers, batch.chunks, batch.vectors
        if not papers:
            return 0
        with self.writing(self.directory, "store a batch of papers"):
            self.manifest.mark_pending(c.id for c in chunks)
            self.vectors.upsert(chunks, vectors, papers)
            blobs = [vector_bytes(v) for v in vectors]
            replaced = self.manifest.commit_papers(
                papers, chunks, blobs
            )  # the papers count as indexed only now
            self._delete_vectors(replaced)
        return len(chunks)

    def remove_papers(self, paper_ids: Sequence[str]) -> None:
        if not paper_ids:
            return
        with self.writing(self.directory, "remove papers"):
            self._delete_vectors(self.manifest.remove_papers(paper_ids))

    def clean_orphans(self) -> int:
        """Delete vectors no committed paper lists (left by a run that stopped); returns how many."""
        with self.writing(self.directory, "clean up after an interrupted ingest"):
            orphans = self.manifest.orphans()
            self._delete_vectors(orphans)
        return len(orphans)

    def _delete_vectors(self, chunk_ids: Sequence[str]) -> None:
        if chunk_ids:
            self.vectors.delete(chunk_ids)
            self.manifest.forget_orphans(chunk_ids)

    def publish_bm25(self) -> LexicalIndex | None:
        """Build and publish the lexical index if the published one is older than the manifest; None if current."""
        version = self.manifest.version
        if self.lexical.published_version() == version:
            return None
        with self.writing(self.directory, "build the lexical index"):
            built = self.lexical.publish(self.manifest, version)
            self.manifest.trim_log(version)
            return built

    def close(self) -> None:
        self.manifest.close()
