"""Citation markers — "[1]", "[1, 3]", "[1; 2]", "[1-3]", "[1 and 2]", "[1][2]" — found, read and
removed by one pattern. Which numbers are valid sources is the caller's business (:mod:`rag.citations`)."""

from __future__ import annotations

import re
from collections.abc import Callable

MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[-–,;]|and)\s*\d+)*)\s*\]")
_MARKERS_AFTER_STOP = re.compile(rf"([.!?])((?:\s*{MARKER.pattern})+)")
_LIST_SEPARATOR = re.compile(r"\s*(?:,|;|and)\s*")
_RANGE_DASH = re.compile(r"\s*[-–]\s*")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([.,;:!?])")
#: A range marker wider than this ("[1-500]") is garbage, not a citation of every source in it.
MAX_RANGE = 20


def marker_numbers(body: str) -> list[int]:
    """The numbers of one marker's body ("1, 3-5" → 1, 3, 4, 5), in order; ranges wider than
    :data:`MAX_RANGE` or running backwards are dropped."""
    out: list[int] = []
    for part in _LIST_SEPARATOR.split(body):
        bounds = _RANGE_DASH.split(part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            if lo <= hi and hi - lo <= MAX_RANGE:
                out.extend(range(lo, hi + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def cited_numbers(text: str) -> list[int]:
    """Every number the markers in ``text`` cite, in order, repeats kept."""
    return [n for match in MARKER.finditer(text) for n in marker_numbers(match.group(1))]


def tidy_spaces(text: str) -> str:
    """Runs of spaces made one, and no space before punctuation (after markers were taken out)."""
    return _SPACE_BEFORE_PUNCT.sub(r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()


def rewrite_markers(text: str, rewrite: Callable[[list[int]], str]) -> str:
    """Each marker replaced by ``rewrite(its numbers)``, spaces tidied."""
    return tidy_spaces(MARKER.sub(lambda m: rewrite(marker_numbers(m.group(1))), text))


def strip_markers(text: str) -> str:
    """The text without its citation markers, whitespace collapsed ("A [1] b [2, 3]." → "A b.")."""
    return _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(MARKER.sub(" ", text).split()))


def markers_before_stop(text: str) -> str:
    """Markers written after a full stop moved before it ("… 7.8%. [1] Next" → "… 7.8% [1]. Next"),
    so they stay with the sentence they follow when sentences are split."""
    return _MARKERS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)
