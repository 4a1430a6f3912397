"""Deduplicate papers across files and sources, on disk, so huge inputs don't fill memory.

Where a source gives ids, ids decide identity: two records are the same paper when they share an id
or an external identifier (DOI, arXiv id: :meth:`Paper.lookup_keys`). A normalised title identifies a
paper only where a record has no id of its own (its id is a title hash, :func:`title_hash_id`): such a
record joins the first paper of its title, and a record with an id joins an id-less one of its title,
but two records that both carry source ids are never merged by title (a BEIR corpus like SciFact holds
distinct ``_id``s with one title, and its qrels tell them apart). The duplicate's metadata is merged
into the first one (see :meth:`Paper.merge`).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from rag.records import Paper


def has_source_id(paper: Paper) -> bool:
    """Whether the id came from the source (not a title hash made for a record without one)."""
    return not paper.id.startswith("t:")


def _title_key(paper: Paper) -> str:
    """Alias of a paper's title: kept apart for papers with source ids, which a title alone never joins."""
    return f"{'titled' if has_source_id(paper) else 'title'}:{paper.norm_title}"


def _match_keys(paper: Paper) -> list[str]:
    """Aliases that make ``paper`` a duplicate, strongest first: its ids, then titles it may join."""
    keys = [f"id:{paper.id}", *paper.lookup_keys(), f"title:{paper.norm_title}"]
    if not has_source_id(paper):
        keys.append(f"titled:{paper.norm_title}")
    return keys


class PaperStage:
    """A temporary SQLite table of unique papers, keyed by id and by normalised title."""

    def __init__(self, directory: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="askpapers-stage-", dir=directory)
        self._db = sqlite3.connect(Path(self._tmp.name) / "stage.sqlite")
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
            CREATE TABLE paper (rowid INTEGER PRIMARY KEY, data TEXT NOT NULL, changed INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE alias (key TEXT PRIMARY KEY, rowid INTEGER NOT NULL);
            """
        )
        self.records_seen = 0
        self.duplicates = 0

    def add(self, paper: Paper) -> None:
        self.records_seen += 1
        rowid = self._find(_match_keys(paper))
        if rowid is None:
            cursor = self._db.execute("INSERT INTO paper (data) VALUES (?)", (json.dumps(asdict(paper)),))
            rowid = cursor.lastrowid
            kept = paper
        else:
            self.duplicates += 1
            (data,) = self._db.execute("SELECT data FROM paper WHERE rowid = ?", (rowid,)).fetchone()
            kept = Paper(**json.loads(data))
            had_id = has_source_id(kept)
            kept.merge(paper)
            self._db.execute("UPDATE paper SET data = ? WHERE rowid = ?", (json.dumps(asdict(kept)), rowid))
            if has_source_id(kept) and not had_id:  # an id-less paper took an id: its title no longer joins
                self._db.execute(
                    "DELETE FROM alias WHERE key = ? AND rowid = ?", (f"title:{kept.norm_title}", rowid)
                )
        keys = [
            f"id:{paper.id}",
            f"id:{kept.id}",
            *paper.lookup_keys(),
            *kept.lookup_keys(),
            _title_key(kept),
        ]
        self._db.executemany(
            "INSERT OR IGNORE INTO alias (key, rowid) VALUES (?, ?)",
            [(k, rowid) for k in dict.fromkeys(keys)],
        )

    def _find(self, keys: list[str]) -> int | None:
        """The row of the first key (in the order given) that names a staged paper."""
        for key in keys:
            found = self._db.execute("SELECT rowid FROM alias WHERE key = ?", (key,)).fetchone()
            if found is not None:
                return int(found[0])
        return None

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM paper").fetchone()[0])

    def __iter__(self) -> Iterator[Paper]:
        for (data,) in self._db.execute("SELECT data FROM paper ORDER BY rowid"):
            yield Paper(**json.loads(data))

    def batches(self, size: int, *, changed_only: bool = False) -> Iterator[list[tuple[int, Paper]]]:
        """Staged papers as (row, paper), ``size`` at a time: only ``size`` papers are in memory at once."""
        last = 0
        where = "AND changed = 1 " if changed_only else ""
        while True:
            rows = self._db.execute(
                f"SELECT rowid, data FROM paper WHERE rowid > ? {where}ORDER BY rowid LIMIT ?", (last, size)
            ).fetchall()
            if not rows:
                return
            yield [(rowid, Paper(**json.loads(data))) for rowid, data in rows]
            last = rows[-1][0]

    def has_id(self, paper_id: str) -> bool:
        """Whether a staged paper came with (or was merged from a record with) this id."""
        return self._find([f"id:{paper_id}"]) is not None

    def mark_changed(self, rowid: int, paper: Paper) -> None:
        """``paper`` (its id possibly resolved to the indexed one) is to be embedded and stored."""
        self._db.execute(
            "UPDATE paper SET data = ?, changed = 1 WHERE rowid = ?", (json.dumps(asdict(paper)), rowid)
        )

    def count_changed(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM paper WHERE changed = 1").fetchone()[0])

    def close(self) -> None:
        self._db.close()
        self._tmp.cleanup()

    def __enter__(self) -> PaperStage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
