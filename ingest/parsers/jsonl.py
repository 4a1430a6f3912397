"""JSON Lines and CSV sources: arXiv metadata snapshot, BEIR corpus, and generic mapped records.

Files are streamed line by line, so a multi-GB snapshot never sits in memory; a bad
line becomes a :class:`Skip` naming the file and line, and the rest is read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from ingest.parsers.base import ParseItem, Skip
from ingest.parsers.citation import person_name
from rag.records import Paper

_YEAR = re.compile(r"(19|20)\d\d")

#: Field names tried, in order, when a generic file comes without a mapping.
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id", "_id", "paper_id", "arxiv_id"),
    "title": ("title", "paper_title", "name"),
    "abstract": ("abstract", "summary", "text", "paperAbstract", "description"),
    "year": ("year", "publication_year", "date", "published", "update_date"),
    "authors": ("authors", "author"),
    "categories": ("categories", "category", "subjects", "tags"),
    "url": ("url", "link", "pdf_url"),
    "doi": ("doi",),
}

#: Zotero's CSV export (Export Library/Collection… → CSV): our field → Zotero's column. A CSV whose
#: header has Zotero's "Item Type" and "Abstract Note" columns is read with it (``--field`` still wins),
#: and its list columns are split on ";": Author is "Last, First; Last, First", Manual Tags "a; b".
ZOTERO_FIELDS: dict[str, str] = {
    "title": "Title",
    "abstract": "Abstract Note",
    "year": "Publication Year",
    "authors": "Author",
    "categories": "Manual Tags",
    "url": "Url",
    "doi": "DOI",
}
_ZOTERO_HEADER = {"Item Type", "Abstract Note"}


def iter_lines(path: Path) -> Iterator[tuple[int, str | Skip]]:
    """Yield (line number, decoded text) per non-blank line, or a Skip for a line that isn't UTF-8."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                # "utf-8-sig" on the first line: a byte-order mark there is not part of the record
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                yield (
                    number,
                    Skip(str(path), number, f"line is not valid UTF-8 ({exc.reason} at byte {exc.start})"),
                )
                continue
            if text.strip():
                yield number, text


def _json_records(path: Path) -> Iterator[tuple[int, dict[str, Any] | Skip]]:
    for number, line in iter_lines(path):
        if isinstance(line, Skip):
            yield number, line
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, Skip(str(path), number, f"malformed JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield number, Skip(str(path), number, f"expected a JSON object, got {type(record).__name__}")
            continue
        yield number, record


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value).strip()


def _year(value: object) -> int | None:
    if isinstance(value, int) and 1000 < value < 3000:
        return value
    match = _YEAR.search(_text(value))
    return int(match.group(0)) if match else None


def _authors(value: object) -> list[str]:
    if isinstance(value, list):
        return [_text(v) for v in value if _text(v)]
    text = _text(value).replace(" and ", ", ").replace(";", ",")
    return [a.strip() for a in text.split(",") if a.strip()]


def _arxiv_year(record: Mapping[str, Any]) -> int | None:
    versions = record.get("versions") or []
    if versions and isinstance(versions[0], dict) and versions[0].get("created"):
        try:
            return parsedate_to_datetime(versions[0]["created"]).year
        except (TypeError, ValueError):
            pass
    return _year(record.get("update_date"))


def parse_arxiv(path: Path) -> Iterator[ParseItem]:
    """The public arxiv-metadata-oai-snapshot schema."""
    for number, record in _json_records(path):
        if isinstance(record, Skip):
            yield record
            continue
        arxiv_id = _text(record.get("id"))
        parsed = record.get("authors_parsed")
        if isinstance(parsed, list) and parsed:
            authors = [
                " ".join(p for p in (a[1], a[0], a[2] if len(a) > 2 else "") if p).strip() for a in parsed
            ]
        else:
            authors = _authors(record.get("authors"))
        yield Paper(
            id=arxiv_id,
            title=_text(record.get("title")),
            abstract=_text(record.get("abstract")),
            year=_arxiv_year(record),
            authors=[a for a in authors if a],
            categories=_text(record.get("categories")).split(),
            url=f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None,
            doi=_text(record.get("doi")) or None,
            source="arxiv",
            origin=f"{path}:{number}",
        )


def parse_beir(path: Path) -> Iterator[ParseItem]:
    """BEIR corpus.jsonl: ``_id``, ``title``, ``text``; ids are kept as they are (qrels refer to them)."""
    for number, record in _json_records(path):
        if isinstance(record, Skip):
            yield record
            continue
        doc_id = _text(record.get("_id"))
        if not doc_id:
            yield Skip(str(path), number, "BEIR record has no '_id'")
            continue
        title = _text(record.get("title"))
        text = _text(record.get("text"))
        # Many BEIR corpora have untitled documents: fall back to the first words of the text.
        yield Paper(
            id=doc_id,
            title=title or " ".join(text.split()[:12]),
            abstract=text,
            year=_year(record.get("metadata", {}).get("year"))
            if isinstance(record.get("metadata"), dict)
            else None,
            source="beir",
            origin=f"{path}:{number}",
        )


def _pick(record: Mapping[str, Any], field: str, mapping: Mapping[str, str]) -> object:
    if field in mapping:
        return record.get(mapping[field])
    for name in DEFAULT_FIELDS[field]:
        if name in record and record[name] not in (None, ""):
            return record[name]
    return None


def _mapped_paper(
    record: Mapping[str, Any], mapping: Mapping[str, str], path: Path, number: int, *, zotero: bool = False
) -> Paper:
    doi = _text(_pick(record, "doi", mapping)) or None
    own_id = _text(_pick(record, "id", mapping)) or (f"doi:{doi.lower()}" if doi else "")
    names, tags = _pick(record, "authors", mapping), _text(_pick(record, "categories", mapping))
    if zotero:  # "Last, First; Last, First" and "tag; tag"
        authors = [person_name(a) for a in _text(names).split(";") if a.strip()]
        categories = [c.strip() for c in tags.split(";") if c.strip()]
    else:
        authors, categories = _authors(names), tags.replace(",", " ").split()
    return Paper(
        id=own_id,
        title=_text(_pick(record, "title", mapping)),
        abstract=_text(_pick(record, "abstract", mapping)),
        year=_year(_pick(record, "year", mapping)),
        authors=authors,
        categories=categories,
        url=_text(_pick(record, "url", mapping)) or None,
        doi=doi,
        source=path.suffix.lstrip(".") or "jsonl",
        origin=f"{path}:{number}",
    )


def parse_generic_jsonl(path: Path, mapping: Mapping[str, str]) -> Iterator[ParseItem]:
    for number, record in _json_records(path):
        yield record if isinstance(record, Skip) else _mapped_paper(record, mapping, path, number)


def parse_csv(path: Path, mapping: Mapping[str, str]) -> Iterator[ParseItem]:
    """CSV (or TSV, by extension) with a header row; line numbers count physical lines."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")  # "-sig": drop a leading byte-order mark
        dialect = "excel-tab" if path.suffix.lower() == ".tsv" else "excel"
        reader = csv.DictReader(handle, dialect=dialect)
        with handle:
            try:
                zotero = set(reader.fieldnames or ()) >= _ZOTERO_HEADER
            except csv.Error as exc:
                yield Skip(str(path), reader.line_num, f"malformed CSV header ({exc})")
                return
            if zotero:
                mapping = {**ZOTERO_FIELDS, **mapping}
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield Skip(str(path), reader.line_num, f"malformed CSV ({exc})")
                    continue
                if None in row:
                    yield Skip(str(path), reader.line_num, "row has more fields than the header")
                    continue
                yield _mapped_paper(row, mapping, path, reader.line_num, zotero=zotero)
    except UnicodeDecodeError as exc:
        yield Skip(
            str(path),
            None,
            f"file is not valid UTF-8 ({exc.reason} at byte {exc.start}); rows after it were not read",
        )
