"""The manifest: what the index holds, with a content hash per paper.

It is the source of truth for incremental ingest (hash unchanged → nothing to embed),
for BM25 (chunk texts) and for showing papers at query time (full abstracts). Each
batch is committed *after* its vectors are in Chroma, so a killed ingest leaves papers
either fully indexed or absent from the manifest, and the next run redoes them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.records import Paper

_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper (
    id TEXT PRIMARY KEY,
    norm_title TEXT NOT NULL,
    data TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    -- copies of fields that retrieval filters on (lower-cased; lists joined with '; ' / spaces)
    year INTEGER,
    authors TEXT NOT NULL DEFAULT '',
    categories TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS paper_norm_title ON paper (norm_title);
CREATE TABLE IF NOT EXISTS chunk (
    id TEXT PRIMARY KEY,
    paper_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunk_paper ON chunk (paper_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Chunk:
    id: str
    paper_id: str
    idx: int
    text: str


class Manifest:
    """SQLite file ``manifest.sqlite`` in the index directory."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    # --- reading --------------------------------------------------------
    def hashes(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT id, content_hash FROM paper"))

    def id_for_title(self, norm_title: str) -> str | None:
        row = self._db.execute("SELECT id FROM paper WHERE norm_title = ?", (norm_title,)).fetchone()
        return row[0] if row else None

    def chunk_ids(self, paper_ids: Iterable[str]) -> list[str]:
        ids = list(paper_ids)
        out: list[str] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            out += [r[0] for r in self._db.execute(f"SELECT id FROM chunk WHERE paper_id IN ({marks})", part)]
        return out

    def papers(self, ids: Sequence[str] | None = None) -> Iterator[Paper]:
        if ids is None:
            rows = self._db.execute("SELECT data FROM paper ORDER BY rowid")
            for (data,) in rows:
                yield Paper(**json.loads(data))
            return
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            found = {
                pid: data
                for pid, data in self._db.execute(f"SELECT id, data FROM paper WHERE id IN ({marks})", part)
            }
            for pid in part:
                if pid in found:
                    yield Paper(**json.loads(found[pid]))

    def chunk_texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for start in range(0, len(chunk_ids), 500):
            part = list(chunk_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            out.update(self._db.execute(f"SELECT id, text FROM chunk WHERE id IN ({marks})", part))
        return out

    def chunks(self) -> Iterator[Chunk]:
        for row in self._db.execute("SELECT id, paper_id, idx, text FROM chunk ORDER BY paper_id, idx"):
            yield Chunk(*row)

    def counts(self) -> tuple[int, int]:
        papers = self._db.execute("SELECT count(*) FROM paper").fetchone()[0]
        chunks = self._db.execute("SELECT count(*) FROM chunk").fetchone()[0]
        return int(papers), int(chunks)

    def sources(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for (data,) in self._db.execute("SELECT data FROM paper"):
            for source in json.loads(data)["source"].split(","):
                counts[source] = counts.get(source, 0) + 1
        return dict(sorted(counts.items()))

    def filter_ids(
        self,
        *,
        year_from: int | None = None,
        year_to: int | None = None,
        author: str | None = None,
        category: str | None = None,
        source: str | None = None,
    ) -> set[str]:
        """Ids of the papers that pass every given filter (an indexed SQL query, not a scan in Python)."""
        where: list[str] = []
        args: list[object] = []
        if year_from is not None:
            where.append("year >= ?")
            args.append(year_from)
        if year_to is not None:
            where.append("year <= ?")
            args.append(year_to)
        if author:
            where.append("instr(authors, ?) > 0")
            args.append(author.lower())
        if category:
            where.append("instr(categories, ?) > 0")
            args.append(f" {category.lower()} ")
        if source:
            where.append("instr(source, ?) > 0")
            args.append(f",{source.lower()},")
        sql = "SELECT id FROM paper" + (" WHERE " + " AND ".join(where) if where else "")
        return {row[0] for row in self._db.execute(sql, args)}

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # --- writing (each call is one transaction) -------------------------
    def commit_papers(self, papers: Sequence[Paper], chunks: Sequence[Chunk]) -> None:
        from dataclasses import asdict

        by_paper: dict[str, int] = {}
        for chunk in chunks:
            by_paper[chunk.paper_id] = by_paper.get(chunk.paper_id, 0) + 1
        ids = [p.id for p in papers]
        with self._db:
            self._delete(ids)
            self._db.executemany(
                "INSERT INTO paper (id, norm_title, data, content_hash, n_chunks, year, authors, categories, source)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        p.norm_title,
                        json.dumps(asdict(p)),
                        p.content_hash(),
                        by_paper.get(p.id, 0),
                        p.year,
                        "; ".join(p.authors).lower(),
                        " " + " ".join(p.categories).lower() + " ",
                        "," + p.source.lower() + ",",
                    )
                    for p in papers
                ],
            )
            self._db.executemany(
                "INSERT INTO chunk (id, paper_id, idx, text) VALUES (?, ?, ?, ?)",
                [(c.id, c.paper_id, c.idx, c.text) for c in chunks],
            )
            self._bump()

    def remove_papers(self, ids: Sequence[str]) -> None:
        with self._db:
            self._delete(ids)
            self._bump()

    def set_meta(self, key: str, value: str) -> None:
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def version(self) -> int:
        return int(self.get_meta("version") or 0)

    def _bump(self) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)", (str(self.version + 1),)
        )

    def _delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            self._db.execute(f"DELETE FROM chunk WHERE paper_id IN ({marks})", part)
            self._db.execute(f"DELETE FROM paper WHERE id IN ({marks})", part)

    def close(self) -> None:
        self._db.close()
