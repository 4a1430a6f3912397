"""RIS files (Zotero, Mendeley, EndNote, publishers' "cite" links), read with rispy.

Like BibTeX, the file is cut at each ``TY  -`` line and each record is read on its own, so a record
that is broken (no ``ER  -`` end line) or has bytes that aren't UTF-8 becomes a :class:`Skip` naming
its first line, and the records around it are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ingest.parsers.base import ParseItem, Skip
from ingest.parsers.citation import (
    arxiv_id,
    bad_year,
    clean_doi,
    paper_id,
    parse_year,
    person_name,
    split_records,
)
from rag.escape import safe_url
from rag.records import Paper

SOURCE = "ris"
_RECORD_START = re.compile(rb"^TY  -", re.MULTILINE)
_TAGS = {"year": "PY", "publication_year": "Y1", "date": "DA"}  # rispy's names → RIS tags, for messages


def looks_like_ris(text: str) -> bool:
    """Whether text (a file's first bytes) is RIS: its first line that isn't blank is ``TY  - …``."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.startswith("TY  -")


def _text(value: object) -> str:
    """A rispy value (a string, or a list for repeated and multi-line tags) as one string."""
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value or "").strip()


def _first(record: Mapping[str, Any], *names: str) -> tuple[str, str]:
    """(name, value) of the first of ``names`` the record has a value for; ("", "") if none."""
    for name in names:
        if text := _text(record.get(name)):
            return name, text
    return "", ""


def _paper(record: Mapping[str, Any], path: Path, line: int) -> ParseItem:
    year_name, year_text = _first(record, "year", "publication_year", "date")
    year = parse_year(year_text) if year_text else None
    if year_text and year is None:
        return bad_year(path, line, _TAGS[year_name], year_text)
    urls = [u for u in record.get("urls") or [] if u]
    doi = clean_doi(_text(record.get("doi")))
    arxiv = arxiv_id(
        _text(record.get("doi")),
        *urls,
        *(_text(record.get(n)) for n in ("secondary_title", "journal_name", "alternate_title3", "note")),
    )
    url = next((u for u in urls if safe_url(u)), None)
    authors = record.get("authors") or record.get("first_authors") or []
    # one KW line per keyword, though some exporters put several on one line with ";" between them
    keywords = [w.strip() for k in record.get("keywords") or [] for w in k.split(";") if w.strip()]
    return Paper(
        id=paper_id(arxiv, doi),
        title=_first(record, "title", "primary_title")[1],
        abstract=_first(record, "abstract", "notes_abstract")[1],
        year=year,
        authors=[n for n in (person_name(a) for a in authors) if n],
        categories=list(dict.fromkeys(keywords)),
        url=url or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None),
        doi=doi,
        source=SOURCE,
        origin=f"{path}:{line}",
    )


def parse_ris(path: Path) -> Iterator[ParseItem]:
    """One Paper per ``TY  -`` … ``ER  -`` record."""
    import rispy  # lazy: only an ingest of RIS files needs it

    found = False
    for line, piece in split_records(path, _RECORD_START):
        found = True
        if isinstance(piece, Skip):
            yield piece
            continue
        records = rispy.loads(piece, skip_unknown_tags=True)
        if not records:
            yield Skip(
                str(path), line, "RIS record has no 'ER  -' line ending it; add one after its last tag"
            )
            continue
        for record in records:
            yield _paper(record, path, line)
    if not found:
        yield Skip(str(path), None, "no RIS records found (expected lines like 'TY  - JOUR')")
