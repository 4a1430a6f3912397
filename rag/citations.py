"""Citation markers: parse them out of model output ([1], [1, 3], [1-3], [1][2]; numbers that
aren't sources are dropped), put them back after a sentence, and check reference URLs.

The contract (see :class:`rag.types.SentenceCheck`): a sentence's ``text`` is its body without
our markers and ``cites`` holds the source numbers. Markers are written back only from ``cites``
(:func:`sentence_text`, :func:`answer_text`), so bracketed numbers inside a quoted abstract
("… as shown before [1][2][3].") stay part of the quote and are never read as citations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rag.text import split_sentences

if TYPE_CHECKING:
    from rag.types import SentenceCheck

_MARK = re.compile(r"\[\s*(\d+(?:\s*(?:[-–,;]|and)\s*\d+)*)\s*\]")
_MARKS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[[\d\s,;\-–and]+\])+)")
_MAX_RANGE = 20
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")
# characters that never belong in a URL we turn into a link (quotes and brackets could leave an
# HTML attribute or a Markdown autolink; whitespace and controls could hide where it points)
_URL_FORBIDDEN = re.compile(r"[\s\x00-\x1f\x7f-\x9f\"'<>`\\]")


def numbers_in(marker_body: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:,|;|and)\s*", marker_body):
        if not part:
            continue
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            if lo <= hi and hi - lo <= _MAX_RANGE:
                out.extend(range(lo, hi + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def cites_of(sentence: str, n_sources: int) -> list[int]:
    """Valid source numbers cited in a sentence, in order, without repeats."""
    seen: list[int] = []
    for match in _MARK.finditer(sentence):
        for n in numbers_in(match.group(1)):
            if 1 <= n <= n_sources and n not in seen:
                seen.append(n)
    return seen


def clean_markers(text: str, n_sources: int) -> str:
    """Rewrite every marker to the canonical [n] form, dropping numbers that are not sources."""

    def fix(match: re.Match[str]) -> str:
        valid = [n for n in numbers_in(match.group(1)) if 1 <= n <= n_sources]
        return "".join(f"[{n}]" for n in dict.fromkeys(valid))

    cleaned = _MARK.sub(fix, text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", cleaned)).strip()


def strip_markers(sentence: str) -> str:
    """The sentence without its citation markers, spaces tidied ("A [1] b [2]." → "A b.")."""
    text = " ".join(_MARK.sub(" ", sentence).split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def split_cited_sentences(text: str, n_sources: int) -> list[tuple[str, list[int]]]:
    """Answer sentences as (body without markers, the sources they cite); markers written after
    the full stop stay with the sentence they follow ("… 7.8%. [1] Next …")."""
    moved = _MARKS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)
    out = []
    for paragraph in moved.splitlines():
        for sentence in split_sentences(paragraph.strip()):
            sentence = sentence.strip()
            body = strip_markers(sentence)
            if body and re.search(r"[A-Za-z0-9]", body):
                out.append((body, cites_of(sentence, n_sources)))
    return out


def markers(cites: Sequence[int]) -> str:
    return "".join(f"[{n}]" for n in cites)


def sentence_text(body: str, cites: Sequence[int], *, quoted: bool = False) -> str:
    """One sentence as plain text with our markers: "Body [1]." or, for a verbatim quote,
    "“Body.” [1]" so that the quote's own bracketed numbers visibly belong to the quote."""
    marks = markers(cites)
    if quoted:
        return f"“{body}” {marks}".rstrip()
    if not marks:
        return body
    stem = body.rstrip(".!?")
    return f"{stem} {marks}{body[len(stem) :]}"


def answer_text(sentences: Sequence[SentenceCheck], *, quoted: bool = False, intro: str = "") -> str:
    """``Answer.text``, built from the checked sentences (the one place that writes markers into it).
    Quotes go one a line under ``intro``; written sentences run on as one paragraph."""
    parts = [sentence_text(s.text, s.cites, quoted=quoted) for s in sentences]
    body = "\n".join(parts) if quoted else " ".join(parts)
    return f"{intro}\n{body}" if intro else body


def safe_url(url: str | None) -> str | None:
    """``url`` when it is an absolute http(s) URL that is safe to put in a link, else None.

    Record URLs come from ingested files: ``javascript:``, ``data:``, relative paths and anything
    with quotes, brackets, spaces or control characters are never made into links."""
    if not url:
        return None
    url = url.strip()
    if not url or len(url) > 2048 or _URL_FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url
