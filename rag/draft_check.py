"""Check a researcher's own draft: every sentence that cites ``[n]`` against the paper ``n`` names.

A draft is Markdown or plain text whose sentences cite numbered references, with the reference list
after a "References" (or "Bibliography", "Works cited") heading — or, without a heading, as the run
of numbered lines that ends the text (``1. …``, ``[1] …``, ``1) …``). A reference is resolved
against the index by the identifiers it contains (a DOI, an arXiv id), else by a title it contains,
else by searching the index with its text and accepting the top paper only when that paper's title
words are in the reference. References that name no indexed paper are listed, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from rag.citations import split_cited_sentences
from rag.index.interfaces import Manifest
from rag.records import external_keys, normalise_title
from rag.text import markers_before_stop
from rag.types import Hit
from rag.verify import Source, Statement, Verdict, Verifier

_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*)?(?:\*\*)?(references|bibliography|works cited|literature cited|sources|citations)"
    r"(?:\*\*)?\s*:?\s*$",
    re.IGNORECASE,
)
_ENTRY = re.compile(r"^\s*(?:\[(\d{1,4})\]|(\d{1,4})[.)])\s+(\S.*)$")
_QUOTED = re.compile(r"[\"“”']([^\"“”']{8,})[\"“”']")
#: Highest reference number read from a marker (a draft with more references is not a draft).
MAX_REFERENCE = 9999
#: Most references a draft check resolves by searching the index (the rest by DOI, arXiv id or title only).
MAX_SEARCHES = 200
#: Share of a paper's title words a reference must contain for a search hit to count as that paper.
TITLE_WORDS_NEEDED = 0.8


@dataclass(frozen=True)
class DraftSentence:
    text: str  # without its citation markers
    cites: tuple[int, ...]
    line: int  # 1-based line of the draft where its paragraph starts


@dataclass(frozen=True)
class Reference:
    n: int
    text: str
    paper_id: str | None
    title: str = ""  # the indexed paper's title, when resolved
    how: str = ""  # 'doi', 'arxiv', 'title', 'search' — or '' when it names no indexed paper


@dataclass(frozen=True)
class CheckedSentence:
    sentence: DraftSentence
    verdict: Verdict | None  # None when none of its references resolved: nothing to check against
    unresolved: tuple[int, ...]  # cited numbers with no indexed paper (or no reference at all)


@dataclass(frozen=True)
class DraftReport:
    sentences: list[CheckedSentence]
    references: list[Reference]

    @property
    def unresolved_references(self) -> list[Reference]:
        return [r for r in self.references if r.paper_id is None]


def split_draft(text: str) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """The body's paragraphs (with their first line number) and the numbered references."""
    lines = text.splitlines()
    start = next((i for i in range(len(lines) - 1, -1, -1) if _HEADING.match(lines[i])), None)
    if start is None:  # no heading: the numbered lines that end the text
        start = _trailing_entries(lines)
        body_end, refs_from = start, start
    else:
        body_end, refs_from = start, start + 1
    references: dict[int, str] = {}
    current: int | None = None
    margin: int | None = None  # the first entry's indent
    for line in lines[refs_from:]:
        match = _ENTRY.match(line)
        indent = len(line) - len(line.lstrip())
        number = int(match.group(1) or match.group(2)) if match else None
        # a wrapped line that happens to start "2019. …" is not entry 2019: a new entry is the next
        # number, or starts no further in than the first entry did
        if number is not None and (current is None or number == current + 1 or indent <= (margin or 0)):
            current = number
            margin = indent if margin is None else margin
            references[current] = match.group(3).strip()  # type: ignore[union-attr]
        elif line.strip() and current is not None:  # a wrapped entry
            references[current] += " " + line.strip()
    paragraphs: list[tuple[int, str]] = []
    block: list[str] = []
    first = 0
    for number, line in enumerate(lines[:body_end], start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            if not block:
                first = number
            block.append(line.strip())
        elif block:
            paragraphs.append((first, " ".join(block)))
            block = []
    if block:
        paragraphs.append((first, " ".join(block)))
    return paragraphs, references


def _trailing_entries(lines: list[str]) -> int:
    """Where the run of numbered entries that ends the text starts (blank lines and indented wrapped
    lines between them belong to it; indented lines above the first entry don't): one backward scan."""
    start = len(lines)
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if _ENTRY.match(line):
            start = i
        elif line.strip() and not line.startswith((" ", "\t")):
            break
    return start


def cited_sentences(paragraphs: Sequence[tuple[int, str]], highest: int) -> list[DraftSentence]:
    """Every sentence that cites at least one reference number in 1..``highest``."""
    out = []
    for line, paragraph in paragraphs:
        for body, cites in split_cited_sentences(markers_before_stop(paragraph), highest):
            if cites:
                out.append(DraftSentence(body, tuple(cites), line))
    return out


def resolve(
    references: dict[int, str],
    manifest: Manifest,
    search: Callable[[str], Sequence[Hit]] | None = None,
    cited: Collection[int] | None = None,
) -> list[Reference]:
    """Each numbered reference and the indexed paper it names, if any (see the module docstring).
    Only references in ``cited`` (all when None) are searched for, at most MAX_SEARCHES of them: a
    search costs a retrieval, and a pasted bibliography can hold thousands of entries."""
    out = []
    searches = 0
    for n, text in sorted(references.items()):
        paper_id, how = None, ""
        for key in external_keys(text):
            if paper_id := manifest.find(key):
                how = key.split(":", 1)[0]
                break
        if paper_id is None:
            for candidate in _title_candidates(text):
                if paper_id := manifest.id_for_title(candidate):
                    how = "title"
                    break
        if (
            paper_id is None
            and search is not None
            and (cited is None or n in cited)
            and searches < MAX_SEARCHES
        ):
            searches += 1
            words = set(normalise_title(text).split())
            for hit in list(search(text))[:1]:
                title_words = normalise_title(hit.title).split()
                if title_words and sum(w in words for w in title_words) >= TITLE_WORDS_NEEDED * len(
                    title_words
                ):
                    paper_id, how = hit.paper_id, "search"
        title = next((p.title for p in manifest.papers([paper_id])), "") if paper_id else ""
        out.append(Reference(n, text, paper_id, title, how))
    return out


def _title_candidates(text: str) -> list[str]:
    """Normalised spans of a reference that may be a title: quoted spans, sentence-like segments, all of it."""
    spans = [m.group(1) for m in _QUOTED.finditer(text)]
    spans += [part for part in re.split(r"(?<=[.?!])\s+", text) if len(part.split()) >= 2]
    spans.append(text)
    return list(dict.fromkeys(t for t in (normalise_title(s) for s in spans) if t))


def check_draft(
    text: str,
    manifest: Manifest,
    verifier: Verifier,
    search: Callable[[str], Sequence[Hit]] | None = None,
) -> DraftReport:
    """Every cited sentence of ``text`` checked against the abstracts of the papers it cites."""
    paragraphs, reference_texts = split_draft(text)
    sentences = cited_sentences(paragraphs, MAX_REFERENCE)  # numbers with no reference are reported below
    references = resolve(reference_texts, manifest, search, {n for s in sentences for n in s.cites})
    by_number = {r.n: r for r in references}
    papers = {p.id: p for p in manifest.papers(sorted({r.paper_id for r in references if r.paper_id}))}
    statements: list[Statement] = []
    unresolved: list[tuple[int, ...]] = []
    for sentence in sentences:
        ids = [by_number[n].paper_id for n in sentence.cites if n in by_number and by_number[n].paper_id]
        sources = tuple(
            Source(pid, papers[pid].title, papers[pid].abstract)
            for pid in dict.fromkeys(ids)
            if pid and pid in papers
        )
        statements.append(Statement(sentence.text, sources))
        unresolved.append(
            tuple(n for n in sentence.cites if n not in by_number or by_number[n].paper_id is None)
        )
    checkable = [i for i, s in enumerate(statements) if s.sources]
    verdicts = dict(zip(checkable, verifier.verify([statements[i] for i in checkable]), strict=True))
    return DraftReport(
        [CheckedSentence(s, verdicts.get(i), unresolved[i]) for i, s in enumerate(sentences)],
        references,
    )
