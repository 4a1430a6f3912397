"""Terms: the words that carry a text's topic, as BM25, refusal, extractive answers and support
checking compare them — one tokeniser, one stopword list, one stemmer.

- Tokens are runs of letters and digits, lower-cased ("GPT-4o" → gpt, 4o; "LLM-based" → llm,
  based; "LLMs" → llm); one-character tokens are dropped. Otherwise the rule of bm25s's default
  tokeniser, which BM25 used before.
- Stopwords are NLTK's English list plus research prose that names no topic
  (:mod:`rag.text.stopwords` says where each came from).
- Stems are the Snowball English stemmer's (PyStemmer, the stemmer BM25 already used): "graphs",
  "graphing" → graph; "trained", "training" → train.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from rag.text.stopwords import QUESTION_WORDS, STOPWORDS

_TOKEN = re.compile(r"[^\W_]+")
#: An acronym's plural: "LLMs", "GPUs", "CNNs" (the stemmer leaves "llms" as it is).
ACRONYM_PLURAL = re.compile(r"(?<=[A-Z][A-Z])s\b")

_local = threading.local()


def _stemmer() -> Any:
    """This thread's Snowball stemmer (a PyStemmer object must not be shared between threads)."""
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer("english")
    return stemmer


def tokens(text: str) -> list[str]:
    """Lower-cased runs of letters and digits, in order (one-character ones included); an acronym's
    plural is its singular ("LLMs" → llm)."""
    return _TOKEN.findall(ACRONYM_PLURAL.sub("", text).lower())


def stem(word: str) -> str:
    """The Snowball English stem of a lower-case word."""
    return str(_stemmer().stemWord(word))


def terms(text: str) -> list[str]:
    """The stemmed tokens of ``text`` that are not stopwords, in order, repeats kept: what BM25 indexes."""
    kept = [t for t in tokens(text) if len(t) > 1 and t not in STOPWORDS]
    return list(_stemmer().stemWords(kept))


@lru_cache(maxsize=16384)
def content_terms(text: str, *, question: bool = False) -> frozenset[str]:
    """The distinct terms of ``text`` without bare numbers (numbers are checked as numbers, not
    words: :mod:`rag.text.numbers`). With ``question``, also without :data:`QUESTION_WORDS`, which
    phrase a question but name nothing it is about."""
    kept = [
        t
        for t in tokens(text)
        if len(t) > 1 and t not in STOPWORDS and not t.isdigit() and not (question and t in QUESTION_WORDS)
    ]
    return frozenset(_stemmer().stemWords(kept))
