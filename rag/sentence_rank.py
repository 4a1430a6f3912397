"""Which of a paper's sentences answers the question: a logistic model over cheap signals.

A paper-by-paper answer quotes each relevant paper's best two or three sentences. Ranking them by word
overlap with the question alone put the sentence holding the asked-for method or finding first for
0.36 of the papers the held-out questions need: the background sentences restate the question's topic
in its own words. This model adds where the sentence sits and what it says, and the question–sentence
cosine of the index's embedder, from the sentence vectors the evidence gate and the verifier already
share (:class:`rag.vector_cache.VectorCache`): for the papers an answer cites they are embedded anyway.

Signals of one sentence, within its paper (:data:`FEATURES`):

- ``overlap``: its IDF-weighted share of the question's content words (as :mod:`rag.extractive`
  scores it), and ``overlap_z``: that standardised over the paper's sentences;
- ``cosine``: the question–sentence cosine;
- ``contribution`` / ``background``: a phrase of ``answer.quote_answer_cues`` /
  ``answer.quote_background_cues``; ``we``: "we propose / find / show …"; ``number``: a digit;
- ``first`` / ``last`` / ``position``: where it sits in the abstract (0 first, 1 last);
- ``words``: the log of its word count.

The weights are fitted by ``python -m evals.calibrate_quotes`` on the calibration half of the
question sets and kept in rag/calibration.json (``answer.sentence_model``); only the order within a
paper is used, so the intercept plays no part.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

#: Question–sentence cosines, in the order of the sentences given.
Similarity = Callable[[str, Sequence[str]], list[float]]

FEATURES = (
    "overlap",
    "overlap_z",
    "cosine",
    "contribution",
    "background",
    "we",
    "number",
    "first",
    "last",
    "position",
    "words",
)

_WE = re.compile(
    r"\bwe (?:propose|introduce|present|find|show|demonstrate|develop|design|identify|observe|reveal|"
    r"argue|establish)",
    re.IGNORECASE,
)
_DIGIT = re.compile(r"\d")


class Quotable(Protocol):
    """What the extractive scorer already knows of a sentence (its candidates are these)."""

    @property
    def text(self) -> str: ...
    @property
    def position(self) -> int: ...  # 0-based, in the abstract
    @property
    def overlap(self) -> float: ...  # IDF-weighted share of the question's content words
    @property
    def of(self) -> int: ...  # how many sentences its abstract has


@dataclass(frozen=True)
class Sentence:
    """One quotable sentence of a paper, as :class:`Quotable` describes it."""

    text: str
    position: int
    overlap: float
    of: int


def features(
    sentences: Sequence[Quotable],
    cosines: Sequence[float],
    answer_cues: Sequence[str],
    background_cues: Sequence[str],
) -> list[dict[str, float]]:
    """The signals of each of one paper's ``sentences``."""
    overlaps = [s.overlap for s in sentences]
    mean = sum(overlaps) / len(overlaps) if overlaps else 0.0
    sd = math.sqrt(sum((o - mean) ** 2 for o in overlaps) / len(overlaps)) if overlaps else 0.0
    answer = [c.lower() for c in answer_cues]
    background = [c.lower() for c in background_cues]
    out = []
    for s, cosine in zip(sentences, cosines, strict=True):
        low = s.text.lower()
        out.append(
            {
                "overlap": s.overlap,
                "overlap_z": (s.overlap - mean) / sd if sd > 1e-9 else 0.0,
                "cosine": float(cosine),
                "contribution": float(any(c in low for c in answer)),
                "background": float(any(c in low for c in background)),
                "we": float(bool(_WE.search(s.text))),
                "number": float(bool(_DIGIT.search(s.text))),
                "first": float(s.position == 0),
                "last": float(s.position == s.of - 1),
                "position": s.position / max(s.of - 1, 1),
                "words": math.log(max(len(s.text.split()), 1)),
            }
        )
    return out


def score(signals: Mapping[str, float], model: Mapping[str, float]) -> float:
    """The model's log-odds that the sentence is the one that answers (rounded: ties break the same
    way in every process)."""
    return round(model.get("intercept", 0.0) + sum(model.get(f, 0.0) * signals[f] for f in FEATURES), 9)
