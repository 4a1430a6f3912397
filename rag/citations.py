"""Citation markers: parse them out of model output ([1], [1, 3], [1-3], [1][2]; numbers that
aren't sources are dropped) into :class:`rag.types.Claim` objects, and put them back after a sentence.

The contract (see :class:`rag.types.SentenceCheck`): a sentence's ``text`` is its body without
our markers and ``cites`` holds the source numbers. Markers are written back only from ``cites``
(:func:`sentence_text`, :func:`answer_text`), so bracketed numbers inside a quoted abstract
("… as shown before [1][2][3].") stay part of the quote and are never read as citations.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from rag.text import cited_numbers, markers_before_stop, rewrite_markers, split_sentences, strip_markers
from rag.types import Claim


class Cited(Protocol):
    """A sentence body and the source numbers it cites (a :class:`Claim` or a checked sentence)."""

    @property
    def text(self) -> str: ...
    @property
    def cites(self) -> Sequence[int]: ...
    @property
    def quoted(self) -> bool: ...
    @property
    def heading(self) -> str: ...


def cites_of(sentence: str, n_sources: int) -> list[int]:
    """Valid source numbers cited in a sentence, in order, without repeats."""
    return list(dict.fromkeys(n for n in cited_numbers(sentence) if 1 <= n <= n_sources))


def clean_markers(text: str, n_sources: int) -> str:
    """Rewrite every marker to the canonical [n] form, dropping numbers that are not sources."""
    return rewrite_markers(
        text, lambda numbers: markers(dict.fromkeys(n for n in numbers if 1 <= n <= n_sources))
    )


def split_cited_sentences(text: str, n_sources: int) -> list[tuple[str, list[int]]]:
    """Answer sentences as (body without markers, the sources they cite); markers written after
    the full stop stay with the sentence they follow ("… 7.8%. [1] Next …")."""
    moved = markers_before_stop(text)
    out = []
    for paragraph in moved.splitlines():
        for sentence in split_sentences(paragraph.strip()):
            sentence = sentence.strip()
            body = strip_markers(sentence)
            if body and any(c.isalnum() for c in body):
                out.append((body, cites_of(sentence, n_sources)))
    return out


def parse(text: str, n_sources: int) -> list[Claim]:
    """The claims of a model's answer over ``n_sources`` numbered sources: one per sentence, its
    markers read into ``cites`` (numbers that are not sources dropped) and out of its text."""
    cleaned = clean_markers(text, n_sources)
    return [Claim(body, tuple(cites)) for body, cites in split_cited_sentences(cleaned, n_sources)]


def markers(cites: Iterable[int]) -> str:
    return "".join(f"[{n}]" for n in cites)


def sentence_text(body: str, cites: Sequence[int], *, quoted: bool = False, heading: str = "") -> str:
    """One sentence as plain text with our markers: "Body [1]." or, for a verbatim quote,
    "“Body.” [1]" so that the quote's own bracketed numbers visibly belong to the quote; a
    ``heading`` (a per-paper answer's title) goes before it: "Title: “Body.” [1]"."""
    marks = markers(cites)
    if heading:
        return f"{heading}: {sentence_text(body, cites, quoted=quoted)}"
    if quoted:
        return f"“{body}” {marks}".rstrip()
    if not marks:
        return body
    stem = body.rstrip(".!?")
    return f"{stem} {marks}{body[len(stem) :]}"


def answer_text(sentences: Sequence[Cited], *, intro: str = "") -> str:
    """``Answer.text``, built from the sentences (the one place that writes markers into it).
    Quotes go one a line under ``intro``; written sentences run on as one paragraph."""
    parts = [sentence_text(s.text, s.cites, quoted=s.quoted, heading=s.heading) for s in sentences]
    body = "\n".join(parts) if any(s.quoted for s in sentences) else " ".join(parts)
    return f"{intro}\n{body}" if intro else body
