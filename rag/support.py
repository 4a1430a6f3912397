"""Does a cited abstract support an answer sentence? One score, one reason, one piece of evidence.

A sentence embedding alone can't tell "an MAE of 7.8%" from "an MAE of 12.4%", nor GPT-4 from
GPT-4o: the vectors are nearly identical. So the score blends meaning (max cosine to the cited
abstracts' sentences and adjacent pairs) with wording (share of content words found), and hard
evidence checks then veto it: every number and named entity in the sentence must occur in a cited
abstract, and a comparison between named things must not run the other way round. Verbatim quotes
take a fast path with no embedding at all, because extractive answers are checked on every request.

:class:`SentenceVerifier` is the pipeline's verify stage built on the scorer; its numbers (threshold,
weights) are settings, section ``support``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
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
from rag.types import Claim, Hit, SentenceCheck

if TYPE_CHECKING:
    import numpy as np


# "Smith et al. (2023)": author names and years come from the paper's metadata, not its abstract
_AUTHOR_CITE = re.compile(r"\b[A-Z][\w'’-]+(?:,? (?:and|&) [A-Z][\w'’-]+)? et al\.?(?:,? \(?\d{4}[a-z]?\)?)?")
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
class _Abstract:
    """What the checks need from one abstract, computed once per abstract text."""

    text: str
    sentences: tuple[str, ...]
    names: NameIndex
    values: frozenset[float]
    words: frozenset[str]


@lru_cache(maxsize=512)
def _prepare(abstract: str) -> _Abstract:
    text = " ".join(unescape_latex(abstract).split())
    sentences = tuple(s.strip() for s in split_sentences(text) if s.strip())
    return _Abstract(text, sentences, NameIndex.of(text), values_in(text), content_terms(text))


def _reversed_pair(sentence: str, entities: list[str], abstracts: list[_Abstract]) -> tuple[str, str] | None:
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


class SupportScorer:
    """Scores answer sentences against the abstracts they cite; caches abstract-sentence vectors (LRU,
    shared by concurrent requests: guarded by a lock, and each call scores from its own snapshot)."""

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
        self.cache_size = self.settings.cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, sentence: str, abstracts: Sequence[str]) -> Support:
        return self.check_many([(sentence, abstracts)])[0]

    def check_many(self, items: Sequence[tuple[str, Sequence[str]]]) -> list[Support]:
        """Check many sentences with at most two embedding calls, only for texts not already cached.

        The first call embeds the sentences and their abstracts' sentences. Adjacent-sentence
        pairs (a claim may merge two sentences) cost three times as much, and can only raise a
        score, so the second call embeds them just for sentences still short of the threshold.
        """
        prepared = [
            (strip_markers(s), [_prepare(a) for a in abstracts if a.strip()]) for s, abstracts in items
        ]
        results = [self._quick(s, abstracts) for s, abstracts in prepared]
        slow = [i for i, result in enumerate(results) if result is None]
        vectors = self._embed([t for i in slow for t in self._texts(*prepared[i], pairs=False)])
        for i in slow:
            results[i] = self._score(*prepared[i], vectors, pairs=False)
        # pairs can only raise a score, so they can't help a sentence a hard check vetoed
        retry = [i for i in slow if (r := results[i]) is not None and not r.supported and not r.vetoed]
        vectors = self._embed([t for i in retry for t in self._texts(*prepared[i], pairs=True)])
        for i in retry:
            results[i] = self._score(*prepared[i], vectors, pairs=True)
        return [r for r in results if r is not None]

    @staticmethod
    def _texts(sentence: str, abstracts: list[_Abstract], pairs: bool) -> list[str]:
        """The sentence, then its abstracts' sentences (and adjacent pairs: claims often merge two)."""
        units = [u for a in abstracts for u in a.sentences]
        if pairs:
            units += [
                f"{x} {y}" for a in abstracts for x, y in zip(a.sentences, a.sentences[1:], strict=False)
            ]
        return [sentence, *units]

    def _quick(self, sentence: str, abstracts: list[_Abstract]) -> Support | None:
        """Verdicts needing no embedding: nothing cited, or a verbatim quote of a cited abstract."""
        if not abstracts:
            return Support(0.0, False, "cites no source", "", -1)
        if not sentence:
            return Support(0.0, False, "empty sentence", "", -1)
        quote = sentence.rstrip(".!? ").lower()
        if len(quote.split()) >= self.settings.min_quote_words:
            for index, abstract in enumerate(abstracts):
                if quote in abstract.text.lower():
                    evidence = next((s for s in abstract.sentences if quote in s.lower()), quote)
                    return Support(1.0, True, "", evidence, index)
        return None

    def _embed(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Every text's vector, embedding the ones not cached in one call (outside the lock, so
        requests don't wait on each other's embedding) and caching them (LRU)."""
        texts = list(dict.fromkeys(texts))
        with self._lock:
            vectors = {t: v for t in texts if (v := self._cache.get(t)) is not None}
        fresh = [t for t in texts if t not in vectors]
        if fresh:
            import numpy as np  # on first use: importing the engine stays cheap

            vectors.update(
                zip(fresh, np.asarray(self.embedder.embed_batch(fresh), dtype=np.float32), strict=True)
            )
        with self._lock:
            for text in texts:
                self._cache[text] = vectors[text]
                self._cache.move_to_end(text)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vectors

    def _score(
        self, sentence: str, abstracts: list[_Abstract], vectors: dict[str, np.ndarray], pairs: bool
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
        values = frozenset().union(*(a.values for a in abstracts))
        claim = _AUTHOR_CITE.sub(" ", sentence)
        missing = [text for text, vals in numbers_in(claim) if not vals & values]
        entities = names_in(claim)
        missing += [f"'{e}'" for e in entities if not any(a.names.mentions(e) for a in abstracts)]
        where = "the cited abstracts" if len(abstracts) > 1 else "the cited abstract"
        flipped = None if missing else _reversed_pair(sentence, entities, abstracts)
        if missing:
            reason = f"{', '.join(missing[:3])} {'is' if len(missing) == 1 else 'are'} not in {where}"
        elif flipped:
            reason = f"{where} compares '{flipped[0]}' and '{flipped[1]}' the other way round"
        else:
            reason = "" if score >= self.threshold else f"little overlap with {where}"
        vetoed = bool(missing or flipped)
        if vetoed:  # below any sensible threshold; unsupported whatever the threshold
            score = round(score * self.settings.hard_fail_cap, 4)
        return Support(score, not reason, reason, evidence, index, vetoed)


class SentenceVerifier:
    """The verify stage: each claim against the title and abstract of every source it cites."""

    def __init__(self, scorer: SupportScorer) -> None:
        self.scorer = scorer

    def verify(self, claims: Sequence[Claim], sources: Sequence[Hit]) -> list[SentenceCheck]:
        def cited(claim: Claim) -> list[Hit]:
            return [sources[n - 1] for n in claim.cites if 1 <= n <= len(sources)]

        checks: list[SentenceCheck | None] = []
        scored: list[int] = []
        for claim in claims:
            if claim.quoted and any(claim.text in h.abstract for h in cited(claim)):
                # A verbatim quote of an abstract it cites is supported as it stands. It skips the
                # scorer, which strips "[n]" from sentences and so would no longer find a quote that
                # carries the abstract's own bracketed numbers ("… before [1][2][3].").
                checks.append(_check(claim, 1.0, True, "", claim.text))
            else:
                scored.append(len(checks))
                checks.append(None)
        # the title counts as cited text too: sentences often name the paper by its title words
        items = [(claims[i].text, [f"{h.title}.\n{h.abstract}" for h in cited(claims[i])]) for i in scored]
        for i, result in zip(scored, self.scorer.check_many(items) if items else [], strict=True):
            checks[i] = _check(
                claims[i], round(result.score, 3), result.supported, result.reason, result.evidence
            )
        return [c for c in checks if c is not None]


def _check(claim: Claim, support: float, supported: bool, reason: str, evidence: str) -> SentenceCheck:
    return SentenceCheck(claim.text, list(claim.cites), support, supported, reason, evidence, claim.quoted)
