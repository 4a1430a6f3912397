"""Named things — acronyms, CamelCase, letter+digit names, capitalised words mid-sentence — and
whether a text mentions one.

One rule serves both callers: the refusal gate (names a question asks about that no retrieved
abstract mentions) and the support check (names a sentence asserts that no cited abstract
mentions). Both read a short text someone wrote about papers and look the names up in abstracts,
so neither needs a variant of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.text.sentences import split_sentences
from rag.text.stopwords import STOPWORDS
from rag.text.terms import tokens

# What separates name tokens: whitespace, brackets, quotes and a few operators (hyphens and dots stay
# inside names: GPT-4o, Llama-3.1-8B).
_SEPARATOR = r"\s/=<>()\[\]{};:\"“”"
_NAME_TOKEN = re.compile(rf"[^{_SEPARATOR}]+")
#: A token starting with a letter: digits inside it belong to a name ("GPT-3.5", "CIFAR-10").
NAME_SHAPED = re.compile(rf"(?<![^{_SEPARATOR}])[A-Za-z][^{_SEPARATOR}]*")
# Latin letters, digits and other letters (Greek) are separate atoms: "RORγ" = "ROR-γ", "GPT4o" = "GPT-4o"
_ATOM = re.compile(r"[a-z]+|\d+|[^\W\da-z_]+")
_POSSESSIVE = re.compile(r"['’]s$")
_PLURAL = re.compile(r"(?<=[A-Z])s$")  # LLMs -> LLM
#: The field's own vocabulary in capitals: naming one of these doesn't name a particular thing.
_GENERIC = "AI ML NLP LLM LM VLM MLLM RL DL CV GPU GPUs CPU API QA SOTA NN DNN CNN RNN LSTM GNN MLP SFT RLHF"
GENERIC_NAMES = frozenset(_GENERIC.split())


def is_generic(name: str) -> bool:
    """Is ``name`` the field's vocabulary ("LLM", "LLMs", "VLM's"), not a particular thing?"""
    return _PLURAL.sub("", _POSSESSIVE.sub("", name)) in GENERIC_NAMES


def _name_tokens(text: str) -> list[tuple[str, bool]]:
    """Tokens with their punctuation trimmed, each flagged when it starts a sentence or clause."""
    out: list[tuple[str, bool]] = []
    for sentence in split_sentences(text):
        start = len(out)
        for m in _NAME_TOKEN.finditer(sentence):
            token = m.group(0).strip(",.!?'’")
            if token:
                out.append((token, len(out) == start or sentence[: m.start()].rstrip()[-1:] in ":—"))
    return out


def _is_name(word: str, first: bool) -> bool:
    if len(word) < 2 or not word[0].isalpha():
        return False
    return (
        any(c.isdigit() for c in word)  # GPT-4o, CASP14
        or sum(c.isupper() for c in word) >= 2  # MMLU, SQuAD, LogicGuide
        or (word[0].islower() and any(c.isupper() for c in word))  # kWh, iPhone
        or (word[0].isupper() and not first and word.lower() not in STOPWORDS)  # Elo, Avalon
    )


def names_in(text: str) -> list[str]:
    """Names in ``text`` as written, in order, without repeats. Hyphenated lower-case parts are
    trimmed ("LLM-generated" → LLM, "non-LLM" → LLM); a capitalised word counts only where it does
    not start a sentence or clause."""
    out: list[str] = []
    for token, first in _name_tokens(text):
        parts = _POSSESSIVE.sub("", token).split("-")
        while len(parts) > 1 and parts[-1].isalpha() and parts[-1].islower():
            parts.pop()  # LLM-generated -> LLM, Brain-only -> Brain
        while len(parts) > 1 and parts[0].isalpha() and parts[0].islower():
            parts.pop(0)  # non-LLM -> LLM
        word = "-".join(parts)
        if _is_name(word, first):
            out.append(word)
    return list(dict.fromkeys(out))


@lru_cache(maxsize=4096)
def _name_pattern(name: str) -> re.Pattern[str]:
    """Matches the name in canonical text, with or without punctuation: GPT-4o = GPT4o, but not GPT-4."""
    atoms = _ATOM.findall(_PLURAL.sub("", name).lower())
    return re.compile(r"(?<![^\W_])" + " ?".join(map(re.escape, atoms)) + r"s?(?![^\W_])")


def canonical(text: str) -> str:
    """The text as name lookups see it: lower-case tokens joined by single spaces."""
    return " ".join(tokens(text))


@dataclass(frozen=True)
class NameIndex:
    """A text prepared for name lookups (computed once per text)."""

    canonical: str
    initials: str  # first letters of its words, so "LLM" is found as "large language models"

    @classmethod
    def of(cls, text: str) -> NameIndex:
        flat = canonical(text)
        return cls(flat, "".join(w[0] for w in flat.split()))

    def mentions(self, name: str) -> bool:
        if _name_pattern(name).search(self.canonical):
            return True
        bare = _PLURAL.sub("", name)
        return bare.isalpha() and bare.isupper() and len(bare) >= 3 and bare.lower() in self.initials


def position(name: str, text: str) -> int | None:
    """Where ``name`` first occurs in ``canonical(text)``, or None."""
    match = _name_pattern(name).search(canonical(text))
    return match.start() if match else None


#: A paper's title as a resolved follow-up writes it into the question: “Title” (rag/followup.py).
_QUOTED_TITLE = re.compile(r"“[^”]*”")


def quote_title(title: str) -> str:
    """``title`` as a resolved follow-up names a paper: “Title”."""
    return f"“{title}”"


def without_titles(text: str) -> str:
    """``text`` without the titles :func:`quote_title` wrote into it: what is asked of those papers."""
    return _QUOTED_TITLE.sub(" ", text)
