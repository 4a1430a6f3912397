"""Word-level helpers shared by extractive answering, refusal and support checks."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-\.%]*[A-Za-z0-9%]|[A-Za-z0-9]")
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "also",
        "may",
        "might",
        "must",
        "shall",
        "using",
        "used",
        "use",
        "via",
        "per",
        "versus",
        "vs",
        "et",
        "al",
        "e.g",
        "i.e",
        "paper",
        "papers",
        "study",
        "studies",
        "work",
        "works",
        "find",
        "found",
        "show",
        "shown",
        "shows",
        "report",
        "reported",
        "reports",
        "propose",
        "proposed",
        "approach",
        "method",
        "methods",
        "model",
        "models",
        "result",
        "results",
        "research",
        "researchers",
        "author",
        "authors",
    ]
)
#: question words that carry no topic ("how accurately", "what is the effect")
QUESTION_WORDS = frozenset(
    [
        "accurately",
        "accuracy",
        "much",
        "many",
        "often",
        "large",
        "high",
        "low",
        "kind",
        "kinds",
        "way",
        "ways",
        "effect",
    ]
)
_ENTITY = re.compile(
    r"^(?:[A-Z]{2,}[A-Za-z0-9\-]*"  # acronyms: MMLU, ADHD-200
    r"|[A-Za-z]+[0-9][A-Za-z0-9\-\.]*"  # digit-bearing names: GPT-4o, CASP14
    r"|[A-Za-z]*[a-z][A-Z][A-Za-z0-9\-]*)$"  # inner capitals: CloudFormer, kWh, MedQA
)


def stem(word: str) -> str:
    """A light stemmer: enough to match 'models'/'model', 'trained'/'training'."""
    w = word.lower().strip(".-")
    for suffix in ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
    return w


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def content_stems(text: str, *, drop_question_words: bool = False) -> set[str]:
    out = set()
    for word in words(text):
        low = word.lower()
        if low in STOPWORDS or (drop_question_words and low in QUESTION_WORDS) or len(low) < 2:
            continue
        out.add(stem(low))
    return out


def entities(text: str, *, capitalised: bool = False) -> set[str]:
    """Acronyms, CamelCase and digit-bearing names ('MoTE', 'GPT-4o', 'ADHD-200', 'kWh'), as written;
    with ``capitalised``, also capitalised words that don't start a sentence ('Elo', 'Avalon')."""
    found = {w for w in words(text) if _ENTITY.match(w) and not w.isdigit()}
    if capitalised:
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            tokens = words(sentence)
            found |= {w for w in tokens[1:] if w[:1].isupper() and w[1:].islower() and len(w) > 2}
    return found
