"""The manifest: what the index holds, with a content hash per paper.

It is the source of truth for incremental ingest (hash unchanged → nothing to embed),
for BM25 (chunk texts), for showing papers at query time (full abstracts) and for which
vectors count: a chunk is part of the index exactly when the manifest lists it. Each batch
is committed *after* its vectors are in Chroma; vectors written but not yet committed are
listed in ``pending``, vectors of replaced or removed chunks in ``garbage``, so whatever
stops an ingest, the next one deletes exactly the vectors nobody lists (``orphans``).

Only the ingest (one writer, under the ingest lock) opens it for writing; readers open it
read-only, so a query process never writes to the index directory. What SQLite raises becomes
an error that says what to do (a full disk, no permission, a damaged file) inside each method,
so callers never see ``sqlite3``.

:class:`Manifest` (rag/index/interfaces.py) is the interface everyone else uses; this module
holds its SQLite implementation, rag/index/memory.py an in-memory one.
"""

from __future__ import annotations

import functools
import inspect
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from rag.errors import IndexDamagedError, IndexMissingError, IndexWriteError
from rag.index.filtering import FilterFields
from rag.index.interfaces import Manifest as Manifest  # the interface, importable beside its implementation
from rag.records import Chunk, Paper

F = TypeVar("F", bound=Callable[..., Any])


def damaged(path: Path, exc: sqlite3.Error) -> IndexDamagedError | IndexWriteError:
    """The error for a manifest SQLite can't use: a full disk, no permission, or a damaged file."""
    text = str(exc)
    low = text.lower()
    if "disk is full" in low or "disk i/o" in low:
        return IndexWriteError(
            f"no space left on the disk of {path.parent} ({text}); free some space and run the same command "
            "again — what was committed is kept"
        )
    if "readonly" in low or "read-only" in low or "unable to open" in low or "permission" in low:
        return IndexWriteError(
            f"can't write the index at {path.parent} ({text}); check that you may write to it, or set "
            "ASKPAPERS_HOME to a directory you can write"
        )
    return IndexDamagedError(
        f"the index at {path.parent} is damaged ({path.name}: {text}); move that directory away and "
        "run 'askpapers ingest' on your inputs again"
    )


_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper (
    id TEXT PRIMARY KEY,
    norm_title TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    -- the paper's normalised filter fields as JSON (rag/index/filtering.py), for lexical builds
    filters TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS paper_norm_title ON paper (norm_title);
CREATE TABLE IF NOT EXISTS chunk (
    id TEXT PRIMARY KEY,
    paper_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    -- the chunk's vector as float16 bytes: what filtered dense search scores locally (rag/index/lexical.py)
    vector BLOB
);
CREATE INDEX IF NOT EXISTS chunk_paper ON chunk (paper_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- vectors in Chroma that no committed paper lists (written by an unfinished batch, or replaced)
CREATE TABLE IF NOT EXISTS pending (chunk_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS garbage (chunk_id TEXT PRIMARY KEY);
-- identifiers a reference can name a paper by (doi:…, arxiv:…; rag/records.py Paper.lookup_keys)
CREATE TABLE IF NOT EXISTS alias (key TEXT PRIMARY KEY, paper_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS alias_paper ON alias (paper_id);
-- papers committed or removed, by the version that did it: what the lexical index adds as a segment
CREATE TABLE IF NOT EXISTS change_log (version INTEGER NOT NULL, paper_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS change_log_version ON change_log (version);
"""


def _translated(method: F) -> F:
    """Run ``method`` with SQLite's errors turned into ours (an IntegrityError is a bug of ours: kept)."""

    def translate(self: SQLiteManifest, exc: sqlite3.DatabaseError) -> Exception:
        return exc if isinstance(exc, sqlite3.IntegrityError) else damaged(self.path, exc)

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def rows(self: SQLiteManifest, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                raise translate(self, exc) from None

        return cast(F, rows)

    @functools.wraps(method)
    def call(self: SQLiteManifest, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise translate(self, exc) from None

    return cast(F, call)


def _batches(ids: Iterable[str], size: int = 500) -> Iterator[tuple[list[str], str]]:
    """``ids`` in parts small enough for one ``IN (…)`` (SQLite limits a statement's variables), each
    with its placeholders."""
    ids = list(ids)
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        yield part, ",".join("?" * len(part))


class SQLiteManifest:
    """SQLite file ``manifest.sqlite`` in the index directory (WAL mode: readers never block the writer)."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        try:
            if readonly:
                if not path.exists():
                    raise IndexMissingError(f"no index at {path.parent}; build it with 'askpapers ingest'")
                self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                self._db.execute("SELECT count(*) FROM paper").fetchone()  # fails now if damaged
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
                columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunk)")}
                if "vector" not in columns:  # an index from before filtered search was local
                    self._db.execute("ALTER TABLE chunk ADD COLUMN vector BLOB")
                with self._db:  # the change log covers versions from here on (an older index had none)
                    self._db.execute(
                        "INSERT OR IGNORE INTO meta (key, value) SELECT 'log_from', "
                        "coalesce((SELECT value FROM meta WHERE key = 'version'), '0')"
                    )
        except sqlite3.DatabaseError as exc:
            raise damaged(path, exc) from None

    # --- reading --------------------------------------------------------
    @_translated
    def hashes(self, ids: Sequence[str] | None = None) -> dict[str, str]:
        if ids is None:
            return dict(self._db.execute("SELECT id, content_hash FROM paper"))
        out: dict[str, str] = {}
        for part, marks in _batches(ids):
            out.update(self._db.execute(f"SELECT id, content_hash FROM paper WHERE id IN ({marks})", part))
        return out

    @_translated
    def id_for_title(self, norm_title: str) -> str | None:
        row = self._db.execute("SELECT id FROM paper WHERE norm_title = ?", (norm_title,)).fetchone()
        return row[0] if row else None

    @_translated
    def find(self, key: str) -> str | None:
        """The paper a ``doi:…`` or ``arxiv:…`` key names (rag/records.py external_keys), if indexed."""
        try:
            row = self._db.execute("SELECT paper_id FROM alias WHERE key = ?", (key,)).fetchone()
        except sqlite3.OperationalError as exc:  # an index written before aliases existed
            if "no such table" in str(exc):
                return None
            raise
        return row[0] if row else None

    @_translated
    def chunk_ids(self, paper_ids: Iterable[str]) -> list[str]:
        ids = list(paper_ids)
        out: list[str] = []
        for part, marks in _batches(ids):
            out += [r[0] for r in self._db.execute(f"SELECT id FROM chunk WHERE paper_id IN ({marks})", part)]
        return out

    @_translated
    def papers(self, ids: Sequence[str] | None = None) -> Iterator[Paper]:
        if ids is None:
            rows = self._db.execute("SELECT data FROM paper ORDER BY rowid")
            for (data,) in rows:
                yield Paper(**json.loads(data))
            return
        for part, marks in _batches(ids):
            found = {
                pid: data
                for pid, data in self._db.execute(f"SELECT id, data FROM paper WHERE id IN ({marks})", part)
            }
            for pid in part:
                if pid in found:
                    yield Paper(**json.loads(found[pid]))

    @_translated
    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part, marks in _batches(chunk_ids):
            out.update(self._db.execute(f"SELECT id, text FROM chunk WHERE id IN ({marks})", part))
        return out

    @_translated
    def listed_chunks(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of these chunk ids committed papers list (vectors of other ids don't count)."""
        out: set[str] = set()
        for part, marks in _batches(chunk_ids):
            out.update(r[0] for r in self._db.execute(f"SELECT id FROM chunk WHERE id IN ({marks})", part))
        return out

    @_translated
    def orphans(self) -> list[str]:
        """Chunk ids that may be in Chroma without a committed paper listing them."""
        rows = self._db.execute(
            "SELECT chunk_id FROM (SELECT chunk_id FROM pending UNION SELECT chunk_id FROM garbage) "
            "WHERE chunk_id NOT IN (SELECT id FROM chunk)"
        )
        return [r[0] for r in rows]

    @_translated
    def chunks(self) -> Iterator[Chunk]:
        for row in self._db.execute("SELECT id, paper_id, idx, text FROM chunk ORDER BY paper_id, idx"):
            yield Chunk(*row)

    @_translated
    def lexical_rows(self, paper_ids: Sequence[str] | None = None) -> Iterator[tuple[Chunk, FilterFields]]:
        """Every chunk (or the chunks of ``paper_ids``, those still indexed) with its paper's filter fields."""
        query = "SELECT c.id, c.paper_id, c.idx, c.text, p.filters FROM chunk c JOIN paper p ON p.id = c.paper_id "
        if paper_ids is None:
            batches: Iterable[Iterable[Any]] = [self._db.execute(query + "ORDER BY c.paper_id, c.idx")]
        else:
            batches = (
                self._db.execute(query + f"WHERE c.paper_id IN ({marks}) ORDER BY c.paper_id, c.idx", part)
                for part, marks in _batches(paper_ids)
            )
        fields: dict[str, FilterFields] = {}  # rows come grouped by paper: one parse per paper
        for rows in batches:
            for cid, pid, idx, text, filters in rows:
                if pid not in fields:
                    fields = {pid: FilterFields.from_json(filters)}
                yield Chunk(cid, pid, idx, text), fields[pid]

    @_translated
    def chunk_vectors(self, chunk_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored float16 vectors of these chunks (chunks committed without one are left out)."""
        out: dict[str, bytes] = {}
        for part, marks in _batches(chunk_ids):
            out.update(
                self._db.execute(
                    f"SELECT id, vector FROM chunk WHERE id IN ({marks}) AND vector IS NOT NULL", part
                )
            )
        return out

    @_translated
    def changed_since(self, version: int) -> set[str] | None:
        """Papers committed or removed after manifest ``version``; None when the log doesn't reach back
        that far (an index from before the log, or a log trimmed past it)."""
        if version < int(self.get_meta("log_from") or 0):
            return None
        return {
            r[0] for r in self._db.execute("SELECT paper_id FROM change_log WHERE version > ?", (version,))
        }

    @_translated
    def count_chunks(self, paper_ids: Iterable[str]) -> int:
        ids = list(paper_ids)
        total = 0
        for part, marks in _batches(ids):
            total += self._db.execute(
                f"SELECT count(*) FROM chunk WHERE paper_id IN ({marks})", part
            ).fetchone()[0]
        return int(total)

    @_translated
    def counts(self) -> tuple[int, int]:
        papers = self._db.execute("SELECT count(*) FROM paper").fetchone()[0]
        chunks = self._db.execute("SELECT count(*) FROM chunk").fetchone()[0]
        return int(papers), int(chunks)

    @_translated
    def sources(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (data,) in self._db.execute("SELECT data FROM paper"):
            for source in json.loads(data)["source"].split(","):
                counts[source] = counts.get(source, 0) + 1
        return dict(sorted(counts.items()))

    @_translated
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # --- writing (each call is one transaction) -------------------------
    @_translated
    def mark_pending(self, chunk_ids: Iterable[str]) -> None:
        """Record vectors about to be written, before they are: an interrupted batch leaves a trace."""
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(c,) for c in chunk_ids])

    @_translated
    def forget_orphans(self, chunk_ids: Iterable[str]) -> None:
        """These vectors are gone from Chroma now."""
        ids = [(c,) for c in chunk_ids]
        with self._db:
            self._db.executemany("DELETE FROM pending WHERE chunk_id = ?", ids)
            self._db.executemany("DELETE FROM garbage WHERE chunk_id = ?", ids)

    @_translated
    def commit_papers(
        self, papers: Sequence[Paper], chunks: Sequence[Chunk], vectors: Sequence[bytes] | None = None
    ) -> list[str]:
        """Make these papers (and exactly these chunks) the indexed version; returns the chunk ids
        they replace, now listed as garbage until their vectors are deleted."""
        from dataclasses import asdict

        by_paper: dict[str, int] = {}
        for chunk in chunks:
            by_paper[chunk.paper_id] = by_paper.get(chunk.paper_id, 0) + 1
        ids = [p.id for p in papers]
        new_ids = {c.id for c in chunks}
        with self._db:
            replaced = [c for c in self.chunk_ids(ids) if c not in new_ids]
            self._db.executemany("INSERT OR IGNORE INTO garbage VALUES (?)", [(c,) for c in replaced])
            self._db.executemany("DELETE FROM pending WHERE chunk_id = ?", [(c,) for c in new_ids])
            self._db.executemany("DELETE FROM garbage WHERE chunk_id = ?", [(c,) for c in new_ids])
            self._delete(ids)
            self._db.executemany(
                "INSERT INTO paper (id, norm_title, data, content_hash, n_chunks, filters) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        p.norm_title,
                        json.dumps(asdict(p)),
                        p.content_hash(),
                        by_paper.get(p.id, 0),
                        FilterFields.of(p).to_json(),
                    )
                    for p in papers
                ],
            )
            blobs: Sequence[bytes | None] = vectors if vectors is not None else [None] * len(chunks)
            self._db.executemany(
                "INSERT INTO chunk (id, paper_id, idx, text, vector) VALUES (?, ?, ?, ?, ?)",
                [(c.id, c.paper_id, c.idx, c.text, v) for c, v in zip(chunks, blobs, strict=True)],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO alias (key, paper_id) VALUES (?, ?)",
                [(key, p.id) for p in papers for key in p.lookup_keys()],
            )
            self._bump()
            self._log(ids)
        return replaced

    @_translated
    def remove_papers(self, ids: Sequence[str]) -> list[str]:
        """Remove papers; returns their chunk ids, listed as garbage until their vectors are deleted."""
        with self._db:
            gone = self.chunk_ids(ids)
            self._db.executemany("INSERT OR IGNORE INTO garbage VALUES (?)", [(c,) for c in gone])
            self._delete(ids)
            self._bump()
            self._log(ids)
        return gone

    @_translated
    def trim_log(self, version: int) -> None:
        """Forget changes up to ``version`` (the lexical index published it: nothing asks for them again)."""
        with self._db:
            self._db.execute("DELETE FROM change_log WHERE version <= ?", (version,))
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('log_from', ?)", (str(version),)
            )

    @_translated
    def set_meta(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def version(self) -> int:
        return int(self.get_meta("version") or 0)  # (get_meta translates SQLite's errors)

    def _bump(self) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (str(self.version + 1),)
        )

    def _log(self, ids: Sequence[str]) -> None:
        version = self.version
        self._db.executemany(
            "INSERT INTO change_log (version, paper_id) VALUES (?, ?)", [(version, i) for i in ids]
        )

    def _delete(self, ids: Sequence[str]) -> None:
        for part, marks in _batches(ids):
            self._db.execute(f"DELETE FROM chunk WHERE paper_id IN ({marks})", part)
            self._db.execute(f"DELETE FROM paper WHERE id IN ({marks})", part)
            self._db.execute(f"DELETE FROM alias WHERE paper_id IN ({marks})", part)

    def close(self) -> None:
        self._db.close()
