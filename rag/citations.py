"""Citation markers in model output: parse [1], [1, 3], [1-3], [1][2]; drop what isn't a source."""

from __future__ import annotations

import re

from ingest.chunking import split_sentences

_MARK = re.compile(r"\[\s*(\d+(?:\s*(?:[-–,;]|and)\s*\d+)*)\s*\]")
_MARKS_AFTER_STOP = re.compile(r"([.!?])((?:\s*\[[\d\s,;\-–and]+\])+)")
_MAX_RANGE = 20


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


def split_cited_sentences(text: str, n_sources: int) -> list[tuple[str, list[int]]]:
    """Answer sentences with their citations; markers written after the full stop stay with
    the sentence they follow ("… 7.8%. [1] Next …")."""
    moved = _MARKS_AFTER_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)
    out = []
    for paragraph in moved.splitlines():
        for sentence in split_sentences(paragraph.strip()):
            sentence = sentence.strip()
            if sentence and re.search(r"[A-Za-z0-9]", _MARK.sub("", sentence)):
                out.append((sentence, cites_of(sentence, n_sources)))
    return out
