"""Text rules every part of askpapers shares, each in one place.

- :mod:`rag.text.sentences` — where sentences end (chunking, extractive quotes, answers, support);
- :mod:`rag.text.stopwords` — the one stopword list, and where it came from;
- :mod:`rag.text.terms` — tokens, the stemmer, and the terms built from them (BM25 indexes and
  queries them; refusal, extractive answers and support compare them);
- :mod:`rag.text.numbers` — numbers with their units, compared by value;
- :mod:`rag.text.names` — named things and whether a text mentions one (refusal and support), and
  the “Title” a resolved follow-up names a paper by;
- :mod:`rag.text.markers` — citation markers ("[1]", "[1, 3]", "[1-3]", "[1][2]").
"""

from __future__ import annotations

from rag.text.markers import (
    MARKER,
    cited_numbers,
    marker_numbers,
    markers_before_stop,
    rewrite_markers,
    strip_markers,
)
from rag.text.names import NameIndex, canonical, is_generic, names_in, position, quote_title, without_titles
from rag.text.numbers import numbers_in, unescape_latex, values_in
from rag.text.sentences import sentence_ends, split_sentences
from rag.text.stopwords import QUESTION_WORDS, RESEARCH_WORDS, STOPWORDS
from rag.text.terms import content_terms, stem, terms, tokens

__all__ = [
    "MARKER",
    "QUESTION_WORDS",
    "RESEARCH_WORDS",
    "STOPWORDS",
    "NameIndex",
    "canonical",
    "cited_numbers",
    "content_terms",
    "marker_numbers",
    "markers_before_stop",
    "is_generic",
    "names_in",
    "quote_title",
    "without_titles",
    "numbers_in",
    "position",
    "rewrite_markers",
    "sentence_ends",
    "split_sentences",
    "stem",
    "strip_markers",
    "terms",
    "tokens",
    "unescape_latex",
    "values_in",
]
