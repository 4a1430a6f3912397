"""Deduplicate papers across files and sources, on disk, so huge inputs don't fill memory.

Two records are the same paper when they share an id or a normalised title; the
duplicate's metadata is merged into the first one (see :meth:`Paper.merge`).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from rag.records import Paper


class PaperStage:
    """A temporary SQLite table of unique papers, keyed by id and by normalised title."""

    def __init__(self, directory: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="askpapers-stage-", dir=directory)
        self._db = sqlite3.connect(Path(self._tmp.name) / "stage.sqlite")
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE paper (rowid INTEGER PRIMARY KEY, data TEXT NOT NULL);
            CREATE TABLE alias (key TEXT PRIMARY KEY, rowid INTEGER NOT NULL);
            """
        )
        self.records_seen = 0
        self.duplicates = 0

    def add(self, paper: Paper) -> None:
        self.records_seen += 1
        keys = [f"id:{paper.id}", f"title:{paper.norm_title}"]
        found = self._db.execute("SELECT rowid FROM alias WHERE key IN (?, ?) LIMIT 1", keys).fetchone()
        if found is None:
            cursor = self._db.execute("INSERT INTO paper (data) VALUES (?)", (json.dumps(asdict(paper)),))
            rowid = cursor.lastrowid
        else:
            self.duplicates += 1
            rowid = found[0]
            (data,) = self._db.execute("SELECT data FROM paper WHERE rowid = ?", (rowid,)).fetchone()
            kept = Paper(**json.loads(data))
            kept.merge(paper)
            self._db.execute("UPDATE paper SET data = ? WHERE rowid = ?", (json.dumps(asdict(kept)), rowid))
            keys.append(f"id:{kept.id}")
        self._db.executemany(
            "INSERT OR IGNORE INTO alias (key, rowid) VALUES (?, ?)", [(k, rowid) for k in keys]
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM paper").fetchone()[0])

    def __iter__(self) -> Iterator[Paper]:
        for (data,) in self._db.execute("SELECT data FROM paper ORDER BY rowid"):
            yield Paper(**json.loads(data))

    def close(self) -> None:
        self._db.close()
        self._tmp.cleanup()

    def __enter__(self) -> PaperStage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
