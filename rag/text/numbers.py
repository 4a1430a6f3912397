"""Numbers with their units, as a sentence states them and as an abstract holds them.

A number is compared by value: "8,000", "8k" and "8 thousand" are the same, "35%" is 35, and "two"
is 2 (but "two papers" counts sources, not something in them). Digits inside a name ("GPT-3.5",
"CIFAR-10") are part of the name (:mod:`rag.text.names`), not numbers a sentence states.
"""

from __future__ import annotations

import re

from rag.text.names import NAME_SHAPED
from rag.text.terms import tokens

_LATEX = re.compile(r"\\([%$&#_])")
_UNIT = r"(?:%|percent\b|x\b|×|times|[kKMB]\b|b\b|million\b|billion\b|thousand\b)"
_NUMBER = re.compile(rf"(?<![A-Za-z0-9.])(\d{{1,3}}(?:,\d{{3}})+|\d+)(\.\d+)?(\s?{_UNIT})?(?![A-Za-z0-9])")
_ANY_NUMBER = re.compile(rf"(\d{{1,3}}(?:,\d{{3}})+|\d+)(\.\d+)?(\s?{_UNIT})?")
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "b": 1e9, "billion": 1e9}
_DIGIT_WORDS = "zero one two three four five six seven eight nine ten"
_NUMBER_WORDS = {w: float(i) for i, w in enumerate(_DIGIT_WORDS.split())}
_NUMBER_WORDS |= {"eleven": 11, "twelve": 12, "twenty": 20, "thirty": 30, "hundred": 100}
# "two papers agree" counts the sources, not something in them
_WORD_NUMBER = re.compile(
    r"\b(" + "|".join(w for w in _NUMBER_WORDS if w not in ("zero", "one")) + r")\b"
    r"(?! (?:papers|studies|sources|works|articles|abstracts)\b)"
)


def unescape_latex(text: str) -> str:
    """arXiv abstracts keep LaTeX escapes: "88\\%" reads as "88%"."""
    return _LATEX.sub(r"\1", text)


def _values(match: re.Match[str]) -> set[float]:
    value = float(match.group(1).replace(",", "") + (match.group(2) or ""))
    unit = (match.group(3) or "").strip().lower()
    return {value, value * _SCALE[unit]} if unit in _SCALE else {value}


def numbers_in(sentence: str) -> list[tuple[str, set[float]]]:
    """Each number a sentence states, as (as written, values it may stand for)."""
    names = [m.span() for m in NAME_SHAPED.finditer(sentence)]
    found = [
        (m.group(0).strip(), _values(m))
        for m in _NUMBER.finditer(sentence)
        if not any(start <= m.start() < end for start, end in names)
    ]
    return found + [(w, {_NUMBER_WORDS[w]}) for w in _WORD_NUMBER.findall(sentence.lower())]


def values_in(text: str) -> frozenset[float]:
    """Every value a text holds, digits inside names included (a sentence saying "4" of a paper
    about GPT-4 is not contradicted by it), and number words."""
    values = {v for m in _ANY_NUMBER.finditer(text) for v in _values(m)}
    values |= {_NUMBER_WORDS[w] for w in tokens(text) if w in _NUMBER_WORDS}
    return frozenset(values)
