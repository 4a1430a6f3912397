"""Does a cited abstract support an answer sentence? The rules scorer: one score, one reason, one
piece of evidence.

A sentence embedding alone can't tell "an MAE of 7.8%" from "an MAE of 12.4%", nor GPT-4 from
GPT-4o: the vectors are nearly identical. So the score blends meaning (max cosine to the cited
abstracts' sentences and adjacent pairs) with wording (share of content words found), and hard
evidence checks then veto it: every number and named entity in the sentence must occur in a cited
abstract, and a comparison between named things must not run the other way round. Verbatim quotes
take a fast path with no embedding at all, because extractive answers are checked on every request.

The hard checks (:func:`hard_check`) are public: the learned verifier (rag/verify/learned.py) keeps
them as a veto and as features. :class:`SupportScorer` is the ``rules`` verifier's engine
(rag/verify/rules.py); its numbers (threshold, weights) are settings, section ``support``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rag.embedders import Embedder
from rag.settings import SupportSettings
from rag.text import (
    NameIndex,
    content_terms,
    names_in,
    numbers_in,
    position,
    split_sentences,
    strip_markers,
    unescape_latex,
    values_in,
)
from rag.vector_cache import VectorCache

if TYPE_CHECKING:
    import numpy as np


#: "Smith et al. (2023)": author names and years come from the paper's metadata, not its abstract
AUTHOR_CITE = re.compile(r"\b[A-Z][\w'’-]+(?:,? (?:and|&) [A-Z][\w'’-]+)? et al\.?(?:,? \(?\d{4}[a-z]?\)?)?")
_COMPARATIVES = re.compile(
    r"\b(than|outperform|better|higher|lower|worse|beat|exceed|surpass|superior|inferior)"
)
_INVERTS_ORDER = re.compile(
    r"\b(\w+(ed|en) by|compared (to|with)|relative to|versus|vs\b|whereas|while|unlike)"
)


@dataclass
class Support:
    score: float  # 0..1
    supported: bool
    reason: str  # empty when supported; else a short reason for a human
    evidence: str  # the best-matching sentence of the cited abstract(s)
    evidence_index: int  # which of the given abstracts it came from (-1 if none)
    vetoed: bool = False  # a hard check failed (a number or name not cited, a reversed comparison)


@dataclass(frozen=True)
class PreparedAbstract:
    """What the checks need from one abstract, computed once per abstract text."""

    text: str
    sentences: tuple[str, ...]
    names: NameIndex
    values: frozenset[float]
    words: frozenset[str]


@lru_cache(maxsize=512)
def prepare(abstract: str) -> PreparedAbstract:
    """An abstract (title included, if the caller put it in) ready for the checks; cached by text."""
    text = " ".join(unescape_latex(abstract).split())
    sentences = tuple(s.strip() for s in split_sentences(text) if s.strip())
    return PreparedAbstract(text, sentences, NameIndex.of(text), values_in(text), content_terms(text))


def reversed_pair(
    sentence: str, entities: list[str], abstracts: Sequence[PreparedAbstract]
) -> tuple[str, str] | None:
    """Two names compared in the opposite order to every cited sentence comparing them, if any."""
    cues = set(_COMPARATIVES.findall(sentence.lower()))
    if not cues or len(entities) < 2 or _INVERTS_ORDER.search(sentence.lower()):
        return None
    mine = {e: at for e in entities if (at := position(e, sentence)) is not None}
    reversed_pair, agrees = None, False
    for source in (s for a in abstracts for s in a.sentences):
        low = source.lower()
        if not cues & set(_COMPARATIVES.findall(low)) or _INVERTS_ORDER.search(low):
            continue
        theirs = {e: at for e in mine if (at := position(e, source)) is not None}
        pairs = [(a, b) for a in theirs for b in theirs if mine[a] < mine[b]]
        flipped = [(a, b) for a, b in pairs if theirs[a] > theirs[b]]
        if pairs and len(flipped) * 2 > len(pairs):
            reversed_pair = reversed_pair or flipped[0]
        elif pairs:
            agrees = True
    return None if agrees else reversed_pair


@dataclass(frozen=True)
class HardCheck:
    """The hard evidence checks of one sentence against the abstracts it cites."""

    names: tuple[str, ...]  # the named things the sentence states
    missing_numbers: tuple[str, ...]  # numbers (as written) that no cited abstract holds
    missing_names: tuple[str, ...]  # names no cited abstract mentions
    reversed: tuple[str, str] | None  # two names compared the other way round, if any

    @property
    def failed(self) -> bool:
        return bool(self.missing_numbers or self.missing_names or self.reversed)

    def reason(self, cited: int) -> str:
        """Why the check failed, for a human ("" when it passed); ``cited``: how many abstracts."""
        where = "the cited abstracts" if cited > 1 else "the cited abstract"
        missing = list(self.missing_numbers) + [f"'{n}'" for n in self.missing_names]
        if missing:
            return f"{', '.join(missing[:3])} {'is' if len(missing) == 1 else 'are'} not in {where}"
        if self.reversed:
            return f"{where} compares '{self.reversed[0]}' and '{self.reversed[1]}' the other way round"
        return ""


def hard_check(sentence: str, abstracts: Sequence[PreparedAbstract]) -> HardCheck:
    """Every number and name of ``sentence`` must occur in a cited abstract, and a comparison between
    names must not run the other way round (checked only when nothing is missing)."""
    values = frozenset().union(*(a.values for a in abstracts))
    claim = AUTHOR_CITE.sub(" ", sentence)
    numbers = tuple(text for text, vals in numbers_in(claim) if not vals & values)
    names = names_in(claim)
    missing = tuple(n for n in names if not any(a.names.mentions(n) for a in abstracts))
    flipped = None if numbers or missing else reversed_pair(sentence, names, abstracts)
    return HardCheck(tuple(names), numbers, missing, flipped)


def verbatim(sentence: str, abstracts: Sequence[PreparedAbstract], min_words: int) -> tuple[int, str] | None:
    """(which abstract, the sentence holding it) when ``sentence`` of at least ``min_words`` words is
    found verbatim (case aside) in a cited abstract: supported as it stands, with no model at all."""
    quote = sentence.rstrip(".!? ").lower()
    if len(quote.split()) < min_words:
        return None
    for index, abstract in enumerate(abstracts):
        if quote in abstract.text.lower():
            return index, next((s for s in abstract.sentences if quote in s.lower()), quote)
    return None


class SupportScorer:
    """Scores answer sentences against the abstracts they cite; caches abstract-sentence vectors
    (:class:`~rag.vector_cache.VectorCache`, shared by concurrent requests)."""

    def __init__(
        self,
        embedder: Embedder,
        settings: SupportSettings | None = None,
        *,
        threshold: float | None = None,
    ) -> None:
        self.embedder = embedder
        self.settings = settings or SupportSettings()
        self.threshold = self.settings.threshold if threshold is None else threshold
        self._cache = VectorCache(embedder, self.settings.cache_size)

    def check(self, sentence: str, abstracts: Sequence[str]) -> Support:
        return self.check_many([(sentence, abstracts)])[0]

    def check_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[Support]:
        """Check many sentences with at most two embedding calls, only for texts not already cached.

        The first call embeds the sentences and their abstracts' sentences. Adjacent-sentence
        pairs (a claim may merge two sentences) cost three times as much, and can only raise a
        score, so the second call embeds them just for sentences still short of the threshold.
        """
        prepared = [
            (strip_markers(s), [prepare(a) for a in abstracts if a.strip()]) for s, abstracts in items
        ]
        results = [self._quick(s, abstracts) for s, abstracts in prepared]
        slow = [i for i, result in enumerate(results) if result is None]
        vectors = self._cache.vectors([t for i in slow for t in self._texts(*prepared[i], pairs=False)])
        for i in slow:
            results[i] = self._score(*prepared[i], vectors, pairs=False)
        # pairs can only raise a score, so they can't help a sentence a hard check vetoed
        retry = [i for i in slow if (r := results[i]) is not None and not r.supported and not r.vetoed]
        vectors = self._cache.vectors([t for i in retry for t in self._texts(*prepared[i], pairs=True)])
        for i in retry:
            results[i] = self._score(*prepared[i], vectors, pairs=True)
        return [r for r in results if r is not None]

    @staticmethod
    def _texts(sentence: str, abstracts: list[PreparedAbstract], pairs: bool) -> list[str]:
        """The sentence, then its abstracts' sentences (and adjacent pairs: claims often merge two)."""
        units = [u for a in abstracts for u in a.sentences]
        if pairs:
            units += [
                f"{x} {y}" for a in abstracts for x, y in zip(a.sentences, a.sentences[1:], strict=False)
            ]
        return [sentence, *units]

    def _quick(self, sentence: str, abstracts: list[PreparedAbstract]) -> Support | None:
        """Verdicts needing no embedding: nothing cited, or a verbatim quote of a cited abstract."""
        if not abstracts:
            return Support(0.0, False, "cites no source", "", -1)
        if not sentence:
            return Support(0.0, False, "empty sentence", "", -1)
        found = verbatim(sentence, abstracts, self.settings.min_quote_words)
        return Support(1.0, True, "", found[1], found[0]) if found else None

    def _score(
        self,
        sentence: str,
        abstracts: list[PreparedAbstract],
        vectors: dict[str, np.ndarray],
        pairs: bool,
    ) -> Support:
        """Best blend of meaning and wording over the cited units; missing numbers or names veto it."""
        weight = self.settings.semantic_weight
        vector = vectors[sentence]
        words = content_terms(sentence)
        covered = len(words & frozenset().union(*(a.words for a in abstracts))) / len(words) if words else 1.0
        score, index, evidence = 0.0, -1, ""
        for i, abstract in enumerate(abstracts):
            for unit in self._texts(sentence, [abstract], pairs)[1:]:
                in_unit = len(words & content_terms(unit)) / len(words) if words else 1.0
                blend = weight * float(vector @ vectors[unit])
                blend += (1 - weight) * (covered + in_unit) / 2
                if blend > score or index < 0:
                    score, index, evidence = blend, i, unit
        score = round(min(1.0, max(0.0, score)), 4)
        hard = hard_check(sentence, abstracts)
        reason = hard.reason(len(abstracts))
        if not reason and score < self.threshold:
            reason = (
                f"little overlap with {'the cited abstracts' if len(abstracts) > 1 else 'the cited abstract'}"
            )
        if hard.failed:  # below any sensible threshold; unsupported whatever the threshold
            score = round(score * self.settings.hard_fail_cap, 4)
        return Support(score, not reason, reason, evidence, index, hard.failed)
