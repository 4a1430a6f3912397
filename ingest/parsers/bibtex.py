"""BibTeX and BibLaTeX files, as Zotero, Mendeley and JabRef export them, read with bibtexparser.

bibtexparser knows no line numbers and quietly drops an entry it can't read, so the file is cut at
each line that starts an entry (``@article{``…) and each piece is parsed on its own by one parser
(which keeps ``@string`` definitions for the entries after them): a broken entry, or one with bytes
that aren't UTF-8, becomes a :class:`Skip` naming its first line, and the entries around it are read.
LaTeX in titles, abstracts and names (accents, braces, ``\\emph{…}``) becomes plain text.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.parsers.base import ParseItem, Skip
from ingest.parsers.citation import (
    arxiv_id,
    bad_year,
    clean_doi,
    paper_id,
    parse_year,
    person_name,
    split_list,
    split_records,
)
from rag.records import Paper

if TYPE_CHECKING:
    from bibtexparser.bparser import BibTexParser

SOURCE = "bibtex"
_ENTRY_START = re.compile(rb"^[ \t]*@[ \t]*([A-Za-z]+)[ \t]*[{(]", re.MULTILINE)
#: an entry start with its key, as :func:`looks_like_bibtex` wants to see one
_ENTRY_WITH_KEY = re.compile(r"^\s*@\s*[A-Za-z]+\s*[{(]\s*[^\s,{}()]+\s*,", re.MULTILINE)
_KIND = re.compile(r"\s*@\s*([A-Za-z]+)")
#: formatting commands whose argument is the text: \emph{word} → word
_KEEP_ARGUMENT = re.compile(
    r"\\(?:emph|text(?:it|bf|tt|sc|rm|sf|sl|up|normal|superscript|subscript)?|math(?:rm|bf|it|sf|tt|cal)|"
    r"mbox|url|uppercase|lowercase)\s*\{"
)
#: commands whose argument is not text: \cite{key}, \ref{fig:1}
_DROP = re.compile(r"\\(?:cite[tp]?|ref|eqref|label|footnote)\s*(?:\[[^\]]*\])?\{[^{}]*\}")
#: math operator names, which bibtexparser would read as letters with accents (\log → łog)
_OPERATORS = re.compile(r"\\(log|ln|exp|sin|cos|tan|max|min|sup|inf|lim|arg|det|dim|ker|deg|gcd)(?![A-Za-z])")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_UNESCAPED_TILDE = re.compile(r"(?<!\\)~")
_ESCAPED_SIGN = re.compile(r"\\([$#])")  # \$ and \#, which bibtexparser leaves as they are
_AND = re.compile(r"\s+and\s+(?![^{]*\})", re.IGNORECASE)  # "and" between names, not inside {braces}
_QUIET = logging.NullHandler()


def looks_like_bibtex(text: str) -> bool:
    """Whether text (a file's first bytes) is BibTeX: a line starts an entry with a key
    (``@article{key,``). Lines before it may be anything: JabRef writes ``% Encoding: UTF-8``,
    Mendeley a few lines of prose."""
    return _ENTRY_WITH_KEY.search(text) is not None


def plain_text(latex: str) -> str:
    """A BibTeX value as plain text: accents to letters, braces, math ``$`` and markup removed."""
    from bibtexparser.latexenc import latex_to_unicode  # lazy: the library takes ~120 ms to import

    text = _DROP.sub("", latex)
    text = _KEEP_ARGUMENT.sub("{", text)
    text = _OPERATORS.sub(r"\1", text)
    text = _ESCAPED_SIGN.sub(r"\1", _UNESCAPED_TILDE.sub(" ", _UNESCAPED_DOLLAR.sub("", text)))
    if "\\" not in text:  # only braces: bibtexparser would run its whole table (and turn ,, into „)
        return " ".join(unicodedata.normalize("NFC", text.replace("{", "").replace("}", "")).split())
    return " ".join(latex_to_unicode(text).split())


def _authors(value: str) -> list[str]:
    names = (plain_text(person_name(n)) for n in _AND.split(value) if n.strip())
    return [n for n in names if n and n.lower() != "others"]  # "and others" is BibTeX's "et al."


def _paper(entry: Mapping[str, str], path: Path, line: int) -> ParseItem:
    def field(name: str) -> str:
        return entry.get(name, "").strip()

    year_field = "year" if field("year") else "date"
    year = parse_year(field(year_field)) if field(year_field) else None
    if field(year_field) and year is None:
        return bad_year(path, line, year_field, field(year_field))
    eprint = field("eprint")
    archive = (field("archiveprefix") or field("eprinttype")).lower()
    arxiv = arxiv_id(
        f"arXiv:{eprint}" if eprint and archive in ("", "arxiv") else "",
        f"arXiv:{field('arxivid')}" if field("arxivid") else "",  # Mendeley's field
        field("doi"),
        field("url"),
        field("journal"),
        field("note"),
        field("howpublished"),
    )
    doi = clean_doi(field("doi"))
    categories = ([field("primaryclass")] if field("primaryclass") else []) + split_list(
        plain_text(field("keywords") or field("keyword"))
    )
    venue = plain_text(field("journal") or field("journaltitle") or field("booktitle"))
    return Paper(
        id=paper_id(arxiv, doi),
        title=plain_text(field("title")),
        abstract=plain_text(field("abstract")),
        year=year,
        authors=_authors(field("author")),
        categories=list(dict.fromkeys(categories)),
        url=field("url") or (f"https://arxiv.org/abs/{arxiv}" if arxiv else None),
        doi=doi,
        source=SOURCE,
        origin=f"{path}:{line}",
        extra={"citekey": field("ID")} | ({"venue": venue} if venue else {}),
    )


def _parser() -> BibTexParser:
    from bibtexparser.bparser import BibTexParser  # lazy: the library takes ~120 ms to import

    # Skips report what bibtexparser would log (an entry it could not read); without a handler of its
    # own, Python would print its warnings on stderr next to ours.
    logging.getLogger("bibtexparser").addHandler(_QUIET)
    parser = BibTexParser(common_strings=True, ignore_nonstandard_types=False)  # keep @online, @software…
    parser.expect_multiple_parse = True  # one parser for all pieces: later entries see @string names
    return parser


def parse_bibtex(path: Path) -> Iterator[ParseItem]:
    """One Paper per entry (``@comment``, ``@preamble`` and ``@string`` are not papers)."""
    from bibtexparser.bibdatabase import UndefinedString
    from pyparsing import ParseBaseException  # bibtexparser's parsing library

    parser = _parser()
    found = False
    for line, piece in split_records(path, _ENTRY_START):
        found = True
        if isinstance(piece, Skip):
            yield piece
            continue
        kind = match.group(1).lower() if (match := _KIND.match(piece)) else ""
        if kind in ("comment", "preamble"):
            continue
        parser.bib_database.entries.clear()  # only this piece's entries are wanted (and memory stays flat)
        parser.bib_database.comments.clear()
        try:
            parser.parse(piece)
        except ParseBaseException as exc:
            yield Skip(str(path), line, f"malformed BibTeX entry ({exc.msg})")
            continue
        except UndefinedString as exc:
            yield Skip(
                str(path),
                line,
                f"BibTeX entry uses @string name {exc.args[0]!r}, which is not defined above it; "
                "define it or put the value in braces",
            )
            continue
        entries = list(parser.bib_database.entries)
        if kind == "string":
            continue
        if not entries:
            yield Skip(
                str(path),
                line,
                f"malformed BibTeX @{kind} entry (bibtexparser could not read it): "
                "check its key, braces, quotes and commas",
            )
        for entry in entries:
            yield _paper(entry, path, line)
    if not found:
        yield Skip(str(path), None, "no BibTeX entries found (expected lines like '@article{key,')")
