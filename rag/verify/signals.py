"""Explicit signals a sentence embedding can't see, for one (claim, evidence sentence) pair.

Two sentences that differ only by "not", "increases"/"decreases", "all"/"some" or "12%"/"21%" get
nearly the same MiniLM vector, yet one supports the claim and the other contradicts it. Each signal
here is a small, named number (counts, mismatch flags, shares found), so the classifier can weigh
it and a human can read why a verdict came out as it did. Tokens, stems, numbers and names are
rag.text's; the word lists are the verifier's own (:mod:`rag.verify.lexicon`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag.text import NameIndex, content_terms, names_in, numbers_in, tokens
from rag.verify import lexicon

#: Texts whose parse is kept (abstract sentences recur across a chat's answers; ~2 kB each).
PARSE_CACHE = 8192


@dataclass(frozen=True)
class Lexical:
    """What the signals need from one text, computed once per text."""

    n_words: int
    stems: frozenset[str]
    negated: frozenset[str]  # content stems inside a negation's scope
    negations: int
    null_result: bool
    up: int
    down: int
    good: int
    bad: int
    comparatives: int
    universal: int
    partial: int
    hedges: int
    numbers: tuple[frozenset[float], ...]  # the values each stated number may stand for
    percents: frozenset[float]
    names: tuple[str, ...]
    index: NameIndex  # for "does this text mention that name?"


def _words(text: str) -> list[str]:
    """rag.text tokens, with "up-"/"down-" joined to a following "regulat…" (upregulated)."""
    out: list[str] = []
    for token in tokens(text):
        if out and out[-1] in lexicon.DIRECTION_PREFIXES and token.startswith("regulat"):
            out[-1] += token
        else:
            out.append(token)
    return out


def _negation_at(words: Sequence[str]) -> tuple[int, list[bool]]:
    """How many negation cues, and for each word whether a cue before it governs it."""
    negated = [False] * len(words)
    cues = 0
    for i, word in enumerate(words):
        if word in lexicon.NEGATIONS or (word == "t" and i and words[i - 1] in lexicon.CONTRACTED):
            cues += 1
            for j in range(i + 1, min(len(words), i + 1 + lexicon.SCOPE)):
                negated[j] = True
    return cues, negated


def _count(
    words: Sequence[str], negated: Sequence[bool], prefixes: tuple[str, ...], exact: frozenset[str]
) -> tuple[int, int]:
    """(plain, negated) occurrences of words starting with one of ``prefixes`` or in ``exact``."""
    plain = flipped = 0
    for word, inside in zip(words, negated, strict=True):
        if word in exact or word.startswith(prefixes):
            if inside:
                flipped += 1
            else:
                plain += 1
    return plain, flipped


@lru_cache(maxsize=PARSE_CACHE)
def lexical(text: str) -> Lexical:
    low = text.lower()
    words = _words(text)
    negations, negated_at = _negation_at(words)
    negated = content_terms(" ".join(w for w, n in zip(words, negated_at, strict=True) if n))
    up, up_neg = _count(words, negated_at, lexicon.UP, lexicon.UP_WORDS)
    down, down_neg = _count(words, negated_at, lexicon.DOWN, lexicon.DOWN_WORDS)
    good, good_neg = _count(words, negated_at, lexicon.GOOD, frozenset())
    bad, bad_neg = _count(words, negated_at, lexicon.BAD, frozenset())
    numbers = numbers_in(text)
    percents = frozenset(v for t, vals in numbers if "%" in t or "percent" in t for v in vals)
    return Lexical(
        n_words=len(words),
        stems=content_terms(text),
        negated=negated,
        negations=negations,
        null_result=bool(lexicon.NULL_RESULT.search(low)),
        # a negated "increase" reads as no increase: count it with the other direction
        up=up + down_neg,
        down=down + up_neg,
        good=good + bad_neg,
        bad=bad + good_neg,
        comparatives=len(lexicon.COMPARATIVE.findall(low)),
        universal=sum(w in lexicon.UNIVERSAL for w in words),
        partial=sum(w in lexicon.PARTIAL for w in words),
        hedges=sum(w in lexicon.HEDGES for w in words),
        numbers=tuple(frozenset(vals) for _, vals in numbers),
        percents=percents,
        names=tuple(names_in(text)),
        index=NameIndex.of(text),
    )


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


SIGNAL_NAMES: tuple[str, ...] = (
    "overlap_claim",  # share of the claim's content stems in the sentence
    "overlap_jaccard",
    "neg_claim",
    "neg_sent",
    "neg_parity_mismatch",  # one negates an odd number of times, the other an even number
    "neg_scope_mismatch",  # shared content words negated in one but not the other (share of shared)
    "null_claim",
    "null_sent",
    "null_mismatch",  # sentence reports no effect, claim asserts one (or vice versa)
    "dir_claim",
    "dir_sent",
    "dir_agree",  # both point the same way (increase/increase)
    "dir_conflict",  # opposite ways (increase/decrease, or increase/not increase)
    "val_agree",
    "val_conflict",  # improves vs worsens
    "comp_claim",
    "comp_sent",
    "univ_mismatch",  # universal quantifier on one side only
    "partial_mismatch",
    "hedge_sent",
    "num_claim",  # the claim states a number
    "num_found_sent",  # share of the claim's numbers in the sentence
    "num_found_abstract",  # ... in the whole abstract
    "pct_conflict",  # both give percentages and none of the claim's appears in the sentence
    "ent_claim",
    "ent_found_sent",
    "ent_found_abstract",
    "len_ratio",
)


@dataclass(frozen=True)
class AbstractContext:
    """What the abstract-wide signals need: its names and every number value in it."""

    index: NameIndex
    values: frozenset[float]


@lru_cache(maxsize=1024)
def abstract_context(sentences: tuple[str, ...]) -> AbstractContext:
    text = " ".join(sentences)
    return AbstractContext(NameIndex.of(text), frozenset(v for _, vals in numbers_in(text) for v in vals))


def signals(claim: str, sentence: str, abstract: AbstractContext) -> list[float]:
    """The signals of ``SIGNAL_NAMES`` for a claim against one sentence of an abstract."""
    c, s = lexical(claim), lexical(sentence)
    shared = c.stems & s.stems
    overlap = len(shared) / len(c.stems) if c.stems else 0.0
    jaccard = len(shared) / len(c.stems | s.stems) if c.stems | s.stems else 0.0
    scope = len((c.negated ^ s.negated) & shared) / len(shared) if shared else 0.0
    dir_c, dir_s = _sign(c.up - c.down), _sign(s.up - s.down)
    val_c, val_s = _sign(c.good - c.bad), _sign(s.good - s.bad)
    sent_values = frozenset().union(*s.numbers)
    n_claim = len(c.numbers)
    found_sent = sum(bool(v & sent_values) for v in c.numbers) / n_claim if n_claim else 1.0
    found_abs = sum(bool(v & abstract.values) for v in c.numbers) / n_claim if n_claim else 1.0
    pct_conflict = float(bool(c.percents and s.percents and not c.percents & s.percents))
    n_names = len(c.names)
    names_sent = sum(s.index.mentions(n) for n in c.names) / n_names if n_names else 1.0
    names_abs = sum(abstract.index.mentions(n) for n in c.names) / n_names if n_names else 1.0
    return [
        overlap,
        jaccard,
        min(c.negations, 3),
        min(s.negations, 3),
        float(c.negations % 2 != s.negations % 2),
        scope,
        float(c.null_result),
        float(s.null_result),
        float(c.null_result != s.null_result),
        dir_c,
        dir_s,
        float(dir_c * dir_s > 0),
        float(dir_c * dir_s < 0),
        float(val_c * val_s > 0),
        float(val_c * val_s < 0),
        min(c.comparatives, 3),
        min(s.comparatives, 3),
        float((c.universal > 0) != (s.universal > 0)),
        float((c.partial > 0) != (s.partial > 0)),
        min(s.hedges, 3),
        float(n_claim > 0),
        found_sent,
        found_abs,
        pct_conflict,
        float(n_names > 0),
        names_sent,
        names_abs,
        min(s.n_words / max(c.n_words, 1), 5.0),
    ]


def coverage(claim: str, texts: Sequence[str]) -> float:
    """Share of the claim's content stems found anywhere in ``texts`` (an abstract's units)."""
    stems = lexical(claim).stems
    found = frozenset().union(*(lexical(t).stems for t in texts))
    return len(stems & found) / len(stems) if stems else 1.0
