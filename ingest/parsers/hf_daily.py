"""Parser for plain-text captures of the Hugging Face Daily Papers page.

A capture is whatever a browser's "copy all" produced: no markup and no field names, just
titles, abstracts and page chrome (banners, author counts, "·", organisations, dates with
upvote counts glued on), sometimes separated by blank lines and sometimes not. So records
are found heuristically, by what the lines look like rather than where they sit: a title is
a short line followed (past blank lines and chrome) by prose, and everything after the
prose up to the next title is that paper's abstract continuation or footer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ingest.parsers.base import Skip
from rag.records import Paper
from rag.text import sentence_ends

SOURCE = "hf_daily"
NO_ABSTRACT = "record has a title but no abstract"
NO_TITLE = "abstract-like text with no title before it"

_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
#: "Nov 4", "Aug 2, 2024", "Oct 2 3" (3 upvotes), "Oct 2, 2024 5"
_DATE = re.compile(rf"^(?P<date>{_MONTHS} \d{{1,2}}(?:, (?P<year>\d{{4}}))?)(?: (?P<votes>\d+))?$")
_AUTHORS = re.compile(r"^[•·*-]?\s*(?P<n>\d+) authors?$", re.IGNORECASE)
_DOT = re.compile(r"^[·•]$")
#: organisation badge: handle then display name, e.g. "microsoft Microsoft"
_ORG = re.compile(r"^(?P<handle>\S+) (?P<name>.+)$")
_BANNERS = ("new", "subscribe", "daily papers", "trending papers", "upvote")
_BANNER_PREFIXES = ("get trending papers", "byak", "by ak and")
_GLUED_SUBSCRIBE = re.compile(r"^Subscribe(?=[A-Z0-9\"'“(\[])")
_URL = re.compile(r"https?://|www\.|github\.com")
_STRONG_MARKERS = ("get trending papers in your email inbox", "byak and the research community")


def _is_banner(line: str) -> bool:
    low = line.lower()
    return low in _BANNERS or low.startswith(_BANNER_PREFIXES)


def _badge_name(line: str) -> str | None:
    """Display name of an organisation badge, "handle Name" spelling the same name twice."""
    match = _ORG.match(line)
    if match and _squash(match["handle"]) == _squash(match["name"]):
        return match["name"]
    return None


def _is_org(line: str, next_line: str | None) -> bool:
    """An organisation badge, or a short line right before the "·" separator (where the
    author count usually is)."""
    if _badge_name(line) is not None:
        return True
    return next_line is not None and bool(_DOT.match(next_line)) and len(line.split()) <= 4


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _is_prose(line: str) -> bool:
    """Abstract-like: long, several sentences, a sentence ending in a full stop, or a link."""
    if len(line) >= 300 or _URL.search(line):
        return True
    if sentence_ends(line) >= 2 and len(line) >= 80:
        return True
    return line.endswith(".") and len(line.split()) >= 8


@dataclass
class _Record:
    title: str
    line_no: int
    paragraphs: list[str] = field(default_factory=list)
    date: str | None = None
    year: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    #: past the abstract: author count, organisation or "·" seen
    in_footer: bool = False
    closed: bool = False


def looks_like_hf_daily(head: str) -> bool:
    """True if the first few KB of a text file look like a Daily Papers capture."""
    low = head.lower()
    if any(marker in low for marker in _STRONG_MARKERS):
        return True
    lines = [line.strip() for line in head.splitlines()]
    n_authors = sum(1 for line in lines if _AUTHORS.match(line))
    n_dots = sum(1 for line in lines if _DOT.match(line))
    return n_authors >= 2 and n_dots >= 2


def _classify(line: str, following: str | None) -> str:
    """One of "blank", "banner", "date", "authors", "dot", "org", "prose", "text";
    ``following`` is the next non-blank line."""
    if not line:
        return "blank"
    if _is_banner(line):
        return "banner"
    if _DATE.match(line):
        return "date"
    if _AUTHORS.match(line):
        return "authors"
    if _DOT.match(line):
        return "dot"
    if _is_prose(line):
        return "prose"
    return "org" if _is_org(line, following) else "text"


def _kinds(lines: list[str]) -> list[str]:
    kinds: list[str] = []
    following: str | None = None
    for line in reversed(lines):
        kind = _classify(line, following)
        if kind == "prose" and _title_shaped(line) and following and len(following) > 2 * len(line):
            kind = "text"  # "Why X? A study of Y. Z" with a much longer paragraph under it
        kinds.append(kind)
        following = line or following
    return kinds[::-1]


def _title_shaped(line: str) -> bool:
    return len(line) < 250 and not line.endswith(".") and not _URL.search(line)


def _finish(record: _Record, path: Path) -> Iterator[Paper | Skip]:
    """The record as a Paper; a Skip if it has no abstract (one-word lines are just chrome)."""
    if not record.paragraphs:
        if len(record.title.split()) >= 2:
            yield Skip(str(path), record.line_no, NO_ABSTRACT)
        return
    yield Paper(
        title=record.title,
        abstract=" ".join(record.paragraphs),
        date=record.date,
        year=record.year,
        source=SOURCE,
        origin=f"{path}:{record.line_no}",
        extra=dict(record.extra),
    )


def parse_hf_daily(path: Path, text: str) -> Iterator[Paper | Skip]:
    """Yield one Paper per record in the capture, and a Skip for each record that looks like
    a paper but is unusable (a title with no abstract, or an abstract with no title)."""
    lines = [line.strip() for line in text.splitlines()]
    kinds = _kinds(lines)
    record: _Record | None = None
    orphan_reported = False
    for i, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        line_no = i + 1
        if kind in ("blank", "banner"):
            continue
        if kind == "text" and _GLUED_SUBSCRIBE.match(line):
            line = _GLUED_SUBSCRIBE.sub("", line)
        if kind == "prose" and record is not None and not (record.closed or record.in_footer):
            record.paragraphs.append(line)
        elif kind == "prose":
            # Abstract continuation lost its title (e.g. the capture starts mid-record).
            if not orphan_reported:
                yield Skip(str(path), line_no, NO_TITLE)
            orphan_reported = True
        elif kind == "text":
            if record is not None:
                yield from _finish(record, path)
            record = _Record(title=line, line_no=line_no)
            orphan_reported = False
        elif record is None or record.closed:
            continue  # page-level chrome, e.g. the page date under the banner
        elif kind == "authors":
            record.extra["n_authors"] = re.sub(r"\D", "", line)
            record.in_footer = bool(record.paragraphs)
        elif kind == "org":
            record.extra["organisation"] = _badge_name(line) or line
            record.in_footer = bool(record.paragraphs)
        elif kind == "dot":
            record.in_footer = bool(record.paragraphs)
        elif kind == "date" and record.in_footer:
            # In the footer ("·" then date), a date belongs to the paper above it.
            match = _DATE.match(line)
            assert match is not None
            record.date = match["date"]
            record.year = int(match["year"]) if match["year"] else None
            record.closed = True
    if record is not None:
        yield from _finish(record, path)
