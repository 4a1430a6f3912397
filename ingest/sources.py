"""Find input files, detect each one's format from its content, and validate records.

Everything a user can get wrong about an input ends up as a :class:`Skip` naming the
file (and line): the caller reports them and ingests the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ingest.parsers.base import ParseItem, Skip
from ingest.parsers.bibtex import looks_like_bibtex, parse_bibtex
from ingest.parsers.hf_daily import looks_like_hf_daily, parse_hf_daily
from ingest.parsers.jsonl import parse_arxiv, parse_beir, parse_csv, parse_generic_jsonl
from ingest.parsers.ris import looks_like_ris, parse_ris
from rag.records import Paper

FORMATS = ("hf_daily", "arxiv", "beir", "jsonl", "csv", "bibtex", "ris")
_HEAD_BYTES = 16_384
_ARXIV_KEYS = {"authors_parsed", "versions", "update_date", "journal-ref", "submitter"}


def expand_inputs(paths: Iterable[str | Path]) -> Iterator[Path | Skip]:
    """Files named, and files inside directories named (sorted, hidden ones left out)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not files:
                yield Skip(str(path), None, "directory has no files")
            yield from files
        elif path.is_file():
            yield path
        elif path.exists():
            yield Skip(str(path), None, "not a regular file")
        else:
            yield Skip(str(path), None, "no such file or directory")


def detect_format(path: Path, head: bytes) -> str | None:
    """Name of the parser for this file, from its extension and first bytes; None if unknown."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".bib", ".bibtex"):
        return "bibtex"
    if suffix == ".ris":
        return "ris"
    text = head.decode("utf-8", errors="replace").removeprefix("\ufeff")  # a byte-order mark is not content
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        try:
            record = json.loads(first)
        except json.JSONDecodeError:
            record = None
        if isinstance(record, dict):
            if "_id" in record and "text" in record:
                return "beir"
            if "abstract" in record and "id" in record and _ARXIV_KEYS & record.keys():
                return "arxiv"
        return "jsonl"
    if looks_like_ris(text):
        return "ris"
    if looks_like_hf_daily(text):
        return "hf_daily"
    if looks_like_bibtex(text):  # after hf_daily: a page capture may quote a BibTeX entry
        return "bibtex"
    return None


def _problem_with_file(path: Path, head: bytes) -> str | None:
    if not head:
        return "file is empty"
    if b"\x00" in head:
        return "file looks binary (contains NUL bytes); expected text, JSON Lines or CSV"
    if not head.removeprefix(b"\xef\xbb\xbf").strip():
        return "file has only whitespace"
    return None


def read_file(path: Path, fmt: str | None, field_map: Mapping[str, str]) -> Iterator[ParseItem]:
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError as exc:
        yield Skip(str(path), None, f"can't read file ({exc.strerror})")
        return
    problem = _problem_with_file(path, head)
    if problem:
        yield Skip(str(path), None, problem)
        return
    fmt = fmt or detect_format(path, head)
    if fmt is None:
        yield Skip(str(path), None, "unrecognised format; pass --format (one of: " + ", ".join(FORMATS) + ")")
    elif fmt == "arxiv":
        yield from parse_arxiv(path)
    elif fmt == "beir":
        yield from parse_beir(path)
    elif fmt == "jsonl":
        yield from parse_generic_jsonl(path, field_map)
    elif fmt == "csv":
        yield from parse_csv(path, field_map)
    elif fmt == "bibtex":
        yield from parse_bibtex(path)
    elif fmt == "ris":
        yield from parse_ris(path)
    elif fmt == "hf_daily":
        try:
            text = path.read_text(encoding="utf-8-sig")  # "-sig": a leading byte-order mark is dropped
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            yield Skip(str(path), line, f"file is not valid UTF-8 ({exc.reason}); convert it to UTF-8")
            return
        yield from parse_hf_daily(path, text)
    else:
        raise ValueError(f"unknown format {fmt!r}")


def validate(paper: Paper, max_abstract_chars: int) -> Skip | None:
    """Why a parsed record can't be ingested, or None when it can."""
    path, _, line = paper.origin.rpartition(":")
    where = (path, int(line)) if line.isdigit() else (paper.origin, None)
    if not paper.title:
        return Skip(where[0], where[1], "record has no title")
    if not paper.abstract:
        return Skip(where[0], where[1], "record has no abstract")
    if len(paper.abstract) > max_abstract_chars:
        return Skip(
            where[0],
            where[1],
            f"abstract is {len(paper.abstract):,} characters, over the {max_abstract_chars:,} limit "
            "(ingest.max_abstract_chars); is a whole paper in the abstract field?",
        )
    return None


def read_inputs(
    paths: Iterable[str | Path],
    *,
    fmt: str | None = None,
    field_map: Mapping[str, str] | None = None,
    max_abstract_chars: int = 20_000,
) -> Iterator[ParseItem]:
    """Every valid paper in the inputs, and a Skip for everything that isn't."""
    for item in expand_inputs(paths):
        if isinstance(item, Skip):
            yield item
            continue
        for parsed in read_file(item, fmt, field_map or {}):
            if isinstance(parsed, Paper):
                problem = validate(parsed, max_abstract_chars)
                yield problem or parsed
            else:
                yield parsed
