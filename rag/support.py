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
from rag.text import split_sentences
from rag.types import Claim, Hit, SentenceCheck

if TYPE_CHECKING:
    import numpy as np


_MARKER = re.compile(r"\s*\[\d+(?:\s*[,;–-]\s*\d+)*\]")
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
_NAME_TOKEN = re.compile(r"(?<![^\s/=<>()\[\]{};:\"“”])[A-Za-z][^\s/=<>()\[\]{};:\"“”]*")
# "Smith et al. (2023)": author names and years come from the paper's metadata, not its abstract
_AUTHOR_CITE = re.compile(r"\b[A-Z][\w'’-]+(?:,? (?:and|&) [A-Z][\w'’-]+)? et al\.?(?:,? \(?\d{4}[a-z]?\)?)?")
_TOKEN = re.compile(r"[^\s/=<>()\[\]{};:\"“”]+")
_ALNUM = re.compile(r"[a-z0-9]+")
_ATOM = re.compile(r"[a-z]+|[0-9]+")
_COMPARATIVES = re.compile(
    r"\b(than|outperform|better|higher|lower|worse|beat|exceed|surpass|superior|inferior)"
)
_INVERTS_ORDER = re.compile(
    r"\b(\w+(ed|en) by|compared (to|with)|relative to|versus|vs\b|whereas|while|unlike)"
)
_STOPWORD_TEXT = """a about above across after again against all also although am among an and any are as at be because been
    before being below between both but by can could did do does doing down during each either even
    every few for from further had has have having he her here hers him his how however i if in into is
    it its itself just many may might more most much must my no nor not now of off often on once only or
    other our ours out over own per rather same she should so some such than that the their theirs them
    then there these they this those through thus to too under until up upon us very via was we were
    what when where whereas whether which while who whom why will with within without would yet you your
    authors author paper study work show shows shown find finds found"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass
class Support:
    score: float  # 0..1
    supported: bool
    reason: str  # empty when supported; else a short reason for a human
    evidence: str  # the best-matching sentence of the cited abstract(s)
    evidence_index: int  # which of the given abstracts it came from (-1 if none)
    vetoed: bool = False  # a hard check failed (a number or name not cited, a reversed comparison)


def strip_markers(sentence: str) -> str:
    """The sentence without "[1]" / "[2, 3]" citation markers, whitespace collapsed."""
    return " ".join(_MARKER.sub("", sentence).split())


def _stem(word: str) -> str:
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + keep
    return word


@lru_cache(maxsize=8192)
def content_words(text: str) -> frozenset[str]:
    """Lower-cased, lightly stemmed words that carry meaning (no stopwords, no bare numbers)."""
    words = _ALNUM.findall(text.lower())
    return frozenset(_stem(w) for w in words if w not in _STOPWORDS and not w.isdigit() and len(w) > 1)


def _values(match: re.Match[str]) -> set[float]:
    value = float(match.group(1).replace(",", "") + (match.group(2) or ""))
    unit = (match.group(3) or "").strip().lower()
    return {value, value * _SCALE[unit]} if unit in _SCALE else {value}


def _tokens(sentence: str) -> list[tuple[str, bool]]:
    """Tokens with their punctuation trimmed, each flagged when it starts a sentence or clause."""
    out: list[tuple[str, bool]] = []
    for m in _TOKEN.finditer(sentence):
        token = m.group(0).strip(",.!?'’")
        if token:
            out.append((token, not out or sentence[: m.start()].rstrip()[-1:] in ":—"))
    return out


def numbers_in(sentence: str) -> list[tuple[str, set[float]]]:
    """Each number in a sentence as (as written, values it may stand for); digits in names don't count."""
    names = [m.span() for m in _NAME_TOKEN.finditer(sentence)]
    found = [
        (m.group(0).strip(), _values(m))
        for m in _NUMBER.finditer(sentence)
        if not any(start <= m.start() < end for start, end in names)
    ]
    return found + [(w, {_NUMBER_WORDS[w]}) for w in _WORD_NUMBER.findall(sentence.lower())]


def entities_in(sentence: str) -> list[str]:
    """Names a source must mention: acronyms, CamelCase, letter+digit tokens, capitals mid-sentence."""
    out: list[str] = []
    for token, first in _tokens(sentence):
        parts = re.sub(r"['’]s$", "", token).split("-")
        while parts and parts[-1].isalpha() and parts[-1].islower() and len(parts) > 1:
            parts.pop()  # LLM-generated -> LLM, Brain-only -> Brain
        while parts and parts[0].isalpha() and parts[0].islower() and len(parts) > 1:
            parts.pop(0)  # non-LLM -> LLM
        word = "-".join(parts)
        if len(word) < 2 or not word[0].isalpha():
            continue
        if (
            any(c.isdigit() for c in word)
            or sum(c.isupper() for c in word) >= 2
            or (word[0].isupper() and not first and word.lower() not in _STOPWORDS)
        ):
            out.append(word)
    return list(dict.fromkeys(out))


@lru_cache(maxsize=4096)
def _entity_pattern(entity: str) -> re.Pattern[str]:
    """Matches the name in canonical text, with or without punctuation: GPT-4o = GPT4o, but not GPT-4."""
    atoms = _ATOM.findall(re.sub(r"(?<=[A-Z])s$", "", entity).lower())  # LLMs -> LLM(s)
    return re.compile(r"(?<![a-z0-9])" + " ?".join(atoms) + r"s?(?![a-z0-9])")


def _canonical(text: str) -> str:
    return " ".join(_ALNUM.findall(text.lower()))


@dataclass(frozen=True)
class _Abstract:
    """What the checks need from one abstract, computed once per abstract text."""

    text: str
    sentences: tuple[str, ...]
    canonical: str
    initials: str  # first letters of its words, so "LLM" is found as "large language models"
    values: frozenset[float]
    words: frozenset[str]


@lru_cache(maxsize=512)
def _prepare(abstract: str) -> _Abstract:
    text = " ".join(_LATEX.sub(r"\1", abstract).split())  # LaTeX "88\%" reads as "88%"
    values = {v for m in _ANY_NUMBER.finditer(text) for v in _values(m)}
    values |= {_NUMBER_WORDS[w] for w in _ALNUM.findall(text.lower()) if w in _NUMBER_WORDS}
    sentences = tuple(s.strip() for s in split_sentences(text) if s.strip())
    canonical = _canonical(text)
    initials = "".join(w[0] for w in canonical.split())
    return _Abstract(text, sentences, canonical, initials, frozenset(values), content_words(text))


def _has_entity(entity: str, abstract: _Abstract) -> bool:
    if _entity_pattern(entity).search(abstract.canonical):
        return True
    name = re.sub(r"(?<=[A-Z])s$", "", entity)
    return name.isalpha() and name.isupper() and len(name) >= 3 and name.lower() in abstract.initials


def _reversed_pair(sentence: str, entities: list[str], abstracts: list[_Abstract]) -> tuple[str, str] | None:
    """Two names compared in the opposite order to every cited sentence comparing them, if any."""
    cues = set(_COMPARATIVES.findall(sentence.lower()))
    if not cues or len(entities) < 2 or _INVERTS_ORDER.search(sentence.lower()):
        return None
    mine = {e: m.start() for e in entities if (m := _entity_pattern(e).search(_canonical(sentence)))}
    reversed_pair, agrees = None, False
    for source in (s for a in abstracts for s in a.sentences):
        low = source.lower()
        if not cues & set(_COMPARATIVES.findall(low)) or _INVERTS_ORDER.search(low):
            continue
        theirs = {e: m.start() for e in mine if (m := _entity_pattern(e).search(_canonical(source)))}
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
        words = content_words(sentence)
        covered = len(words & frozenset().union(*(a.words for a in abstracts))) / len(words) if words else 1.0
        score, index, evidence = 0.0, -1, ""
        for i, abstract in enumerate(abstracts):
            for unit in self._texts(sentence, [abstract], pairs)[1:]:
                in_unit = len(words & content_words(unit)) / len(words) if words else 1.0
                blend = weight * float(vector @ vectors[unit])
                blend += (1 - weight) * (covered + in_unit) / 2
                if blend > score or index < 0:
                    score, index, evidence = blend, i, unit
        score = round(min(1.0, max(0.0, score)), 4)
        values = frozenset().union(*(a.values for a in abstracts))
        claim = _AUTHOR_CITE.sub(" ", sentence)
        missing = [text for text, vals in numbers_in(claim) if not vals & values]
        entities = entities_in(claim)
        missing += [f"'{e}'" for e in entities if not any(_has_entity(e, a) for a in abstracts)]
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
