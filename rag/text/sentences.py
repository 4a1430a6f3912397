"""Sentence splitting: where one sentence of an abstract (or of an answer) ends and the next begins."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (a closing quote or bracket may follow) before space and a capital, a
# digit, an opening bracket or a quote; "e.g. X", "et al. X", "Fig. 2", "No. 5" are not ends. Used
# instead of llama-index's default (nltk punkt): importing nltk alone cost 2.4 s of a 13 s sample
# ingest, and abstracts are tidy prose.
_NOT_AN_END = "".join(
    rf"(?<!\b{re.escape(a)})"
    for a in (
        "e.g.",
        "i.e.",
        "et al.",
        "Fig.",
        "Figs.",
        "Eq.",
        "Eqs.",
        "vs.",
        "cf.",
        "Dr.",
        "St.",
        "No.",
        "Ref.",
        "Sec.",
    )
)
_SENTENCE_END = re.compile(rf"(?:{_NOT_AN_END}(?<=[.!?])|(?<=[.!?][\"'”’)\]]))\s+(?=[A-Z0-9(\[\"'“])")


def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract, each keeping its trailing space (SentenceSplitter joins them back)."""
    parts = _SENTENCE_END.split(text)
    return [p + " " for p in parts[:-1]] + parts[-1:]


def sentence_ends(text: str) -> int:
    """How many sentence ends ``text`` has before its last sentence (0 for a single sentence)."""
    return len(_SENTENCE_END.findall(text))
