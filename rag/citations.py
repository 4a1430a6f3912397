"""Citation markers: parse them out of model output ([1], [1, 3], [1-3], [1][2]; numbers that
aren't sources are dropped) into :class:`rag.types.Claim` objects, and put them back after a sentence.

The contract (see :class:`rag.types.SentenceCheck`): a sentence's ``text`` is its body without
our markers and ``cites`` holds the source numbers. Markers are written back only from ``cites``
(:func:`sentence_text`, :func:`answer_text`), so bracketed numbers inside a quoted abstract
("… as shown before [1][2][3].") stay part of the quote and are never read as citations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from rag.text import split_sentences
from rag.types import Claim

_MARK = re.compile(r"\[\s*(\d+(?:\s*(?:[-–,;]|and)\s*\d+)*)\s*\]")
_MARKS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[[\d\s,;\-–and]+\])+)")
#: A range marker wider than this ("[1-500]") is garbage, not a citation of every source in it.
_MAX_RANGE = 20
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")


class Cited(Protocol):
    """A sentence body and the source numbers it cites (a :class:`Claim` or a checked sentence)."""

    @property
    def text(self) -> str: ...
    @property
    def cites(self) -> Sequence[int]: ...
    @property
    def quoted(self) -> bool: ...


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


def parse(text: str, n_sources: int) -> list[Claim]:
    """The claims of a model's answer over ``n_sources`` numbered sources: one per sentence, its
    markers read into ``cites`` (numbers that are not sources dropped) and out of its text."""
    cleaned = clean_markers(text, n_sources)
    return [Claim(body, tuple(cites)) for body, cites in split_cited_sentences(cleaned, n_sources)]


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


def answer_text(sentences: Sequence[Cited], *, intro: str = "") -> str:
    """``Answer.text``, built from the sentences (the one place that writes markers into it).
    Quotes go one a line under ``intro``; written sentences run on as one paragraph."""
    parts = [sentence_text(s.text, s.cites, quoted=s.quoted) for s in sentences]
    body = "\n".join(parts) if any(s.quoted for s in sentences) else " ".join(parts)
    return f"{intro}\n{body}" if intro else body
