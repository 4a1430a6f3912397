"""What reference-manager exports (BibTeX, RIS, Zotero's CSV) have in common: records that start at a
marker line, "Last, First" person names, years inside dates, and DOIs/arXiv ids that name the paper.

Kept in one place so the three formats build :class:`~rag.records.Paper` ids, names and years the
same way (and the same way ingest/parsers/jsonl.py does: ``doi:…`` ids, ``path:line`` origins).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

from ingest.parsers.base import Skip
from rag.records import ARXIV, DOI

#: A year as reference managers write it, alone or inside a date: "2017", "2017-06-12", "2017///".
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2[01]\d\d)(?!\d)")
_BOM = b"\xef\xbb\xbf"


def split_records(path: Path, start: re.Pattern[bytes]) -> Iterator[tuple[int, str | Skip]]:
    """(line where the record starts, its text) for each record: the file's bytes cut where ``start``
    matches. Each record is decoded alone, so one record with bytes that aren't UTF-8 becomes a Skip
    naming its line and the others are still read. Text before the first record is not yielded."""
    data = path.read_bytes().removeprefix(_BOM)  # a byte-order mark is not content (and is on line 1)
    starts = [m.start() for m in start.finditer(data)]
    line, counted = 1, 0
    for begin, end in pairwise([*starts, len(data)]):
        line, counted = line + data.count(b"\n", counted, begin), begin  # counting on from the last record
        try:
            yield line, data[begin:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            bad_line = line + data.count(b"\n", begin, begin + exc.start)
            yield (
                line,
                Skip(
                    str(path),
                    line,
                    f"record is not valid UTF-8 ({exc.reason} on line {bad_line}); "
                    "export the file as UTF-8 or fix that character",
                ),
            )


def parse_year(text: str) -> int | None:
    """The year in a year or date field ("2017", "2017-06-12", "June 2017", "2017///"), None if none."""
    match = _YEAR.search(text)
    return int(match.group(1)) if match else None


def bad_year(path: Path, line: int, field: str, value: str) -> Skip:
    return Skip(
        str(path),
        line,
        f"{field} {value.strip()[:40]!r} has no year in it (expected e.g. 2017 or 2017-06-12); "
        f"fix or remove the {field} field",
    )


def person_name(name: str) -> str:
    """'Last, First', 'von Last, Jr, First' or 'First von Last' (BibTeX's name forms, which RIS and
    Zotero's CSV also use) as 'First von Last, Jr' — the order the other sources give names in."""
    from bibtexparser.customization import splitname  # lazy: the library takes ~120 ms to import

    parts = splitname(" ".join(name.split()), strict_mode=False)
    if not parts:
        return ""
    full = " ".join(parts["first"] + parts["von"] + parts["last"])
    return f"{full}, {' '.join(parts['jr'])}" if parts["jr"] else full


def split_list(text: str) -> list[str]:
    """Keywords or tags as exports write them: separated by ',' or ';'; duplicates dropped."""
    return list(dict.fromkeys(w.strip() for w in re.split(r"[,;]", text) if w.strip()))


def arxiv_id(*texts: str) -> str | None:
    """The first arXiv id (without version) in a field that says arXiv: an eprint written as
    'arXiv:1706.03762', an arXiv URL or DOI (10.48550/arXiv.…), 'arXiv preprint arXiv:…'."""
    for text in texts:
        if "arxiv" in text.lower() and (match := ARXIV.search(text)):
            return match.group(1)
    return None


def clean_doi(text: str) -> str | None:
    """The DOI in a DOI field, without a doi.org prefix; the field as written if it holds none."""
    match = DOI.search(text)
    return match.group(1) if match else (text.strip() or None)


def paper_id(arxiv: str | None, doi: str | None) -> str:
    """A record's id: its arXiv id (as the arXiv parser's ids are), else ``doi:…`` (as a generic
    record's), else "" so :class:`~rag.records.Paper` gives it a title hash. A citation key is not
    used: it is a label local to one library ("vaswani2017"), so two exports may give one paper two
    keys or two papers one key, and an id from a source keeps a paper from merging by title."""
    if arxiv:
        return arxiv
    return f"doi:{doi.lower()}" if doi else ""
