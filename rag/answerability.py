"""What a question asks for, and whether an abstract sentence holds it (the refusal gate's reading).

A near miss names the right paper but asks for something its abstract doesn't give ("How much were
participants paid…?"); the topic is close, so closeness alone can't refuse it. The gate therefore
reads the question for the *kind of answer* it wants and the words that say what is asked for:

- ``quantity`` — "how many Service agents", "what test-retest accuracy", "by how much did X
  raise Y": a number (not one the question already states, not a year, not a version such as
  "Gemini 1.5") near one of the asked-for words;
- ``entity`` — "which base language model", "which cloud provider": a name the question doesn't
  already mention (and not an acronym of the question's own words, like "LRMs" for "reasoning
  models") near one of the asked-for words;
- ``description`` — "what factorization", "into which categories": no type to check, but the
  asked-for word should occur;
- ``open`` — why/how/does/can questions, answered by a finding or a relation: no slot to check.

:func:`read_question` reads the question once; :func:`read_sentence` reads an abstract sentence once
(cached: the same abstracts come back for many questions); :func:`slot_filled` says whether a
sentence holds an answer of the asked kind near an asked-for word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rag.text import (
    NameIndex,
    content_terms,
    is_generic,
    names_in,
    numbers_in,
    split_sentences,
    stem,
    unescape_latex,
)
from rag.text.stopwords import NLTK_ENGLISH

_DIGITS = "zero one two three four five six seven eight nine ten"
Kind = Literal["quantity", "entity", "description", "open"]


def _set(words: str, stemmed: bool = False) -> frozenset[str]:
    return frozenset(stem(w) for w in words.split()) if stemmed else frozenset(words.split())


_AUX = _set(
    "is are was were be been being does do did can could should would will might may must has have had"
)
_PHRASE_STOP = NLTK_ENGLISH | _AUX
#: Words after "how" that ask for an amount ("how many", "how long", "how well").
_HOW_AMOUNT = _set(
    "many much long often far fast big large small strongly accurately quickly frequently high low well close "
    "old prevalent"
)
_COMPARATIVES = _set("more less better worse faster slower higher lower larger smaller bigger longer shorter")
#: Nouns whose value is a figure: "what accuracy", "what share of", "at which layer".
_MEASURES = _set(
    "accuracy error score rate percentage percent share proportion fraction number amount size speed speedup "
    "speed-up gain improvement reduction drop increase decrease correlation f1 precision recall value cost price "
    "time duration count ratio margin efficiency throughput latency perplexity agreement sensitivity specificity "
    "return reward length step layer epoch iteration bound threshold budget dose",
    stemmed=True,
)
#: Classes of things that have names: "which dataset" wants "bAbI", "which model" wants "GPT-4".
_NAMED_CLASSES = _set(
    "model llm mllm vlm lm dataset benchmark platform company provider language library database country city "
    "journal university game system architecture backbone tool software team organisation organization vendor "
    "corpus licence license website app device robot region method technique algorithm metric network site agent "
    "chatbot assistant",
    stemmed=True,
)
#: "which papers…", "what approaches…": the answer is the papers themselves (no slot to check).
_WORKS = _set("papers works studies articles approaches")
#: "what kind of…", "what role…": the answer is a description even after "what".
_DESCRIBING = _set("kind kinds type types way ways role happens makes causes determines changes extent")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’\-.]*[A-Za-z0-9]|[A-Za-z]|[+\-]?\d[\d.,]*\s?%?")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_COUNT_WORDS = {w: float(i) for i, w in enumerate(_DIGITS.split())} | {
    "eleven": 11.0,
    "twelve": 12.0,
    "twenty": 20.0,
    "thirty": 30.0,
    "hundred": 100.0,
    "dozen": 12.0,
}
_ACRONYM = re.compile(r"\(([A-Z][A-Za-z0-9]*?)s?\)")
_DIGIT_LETTERS = {"2": "t", "4": "f"}  # T2I = text-to-image, B4 = before
#: The people a study counts: "how many participants" is answered by "193 subjects" as well.
_PEOPLE = _set(
    "participant subject patient people person user respondent individual adult child student worker "
    "volunteer annotator rater player clinician physician doctor nurse",
    stemmed=True,
)
#: Who a sample size counts: "how many participants" is answered by "(n=981)" or "N = 1,222".
_SAMPLED = _PEOPLE | _set("case sample", stemmed=True)


@dataclass(frozen=True)
class Ask:
    """What a question asks for."""

    kind: Kind
    anchors: tuple[str, ...]  # the asked-for words as written ("Service", "agents")
    stems: frozenset[str]  # their stems, looked for in sentences
    clause: str  # the asking words, for a refusal's reason: "how many Service agents"
    terms: frozenset[str]  # the question's content terms (rag.text.content_terms, question=True)
    values: frozenset[float]  # numbers the question states ("Which of the 11 models…": 11 is no answer)
    names: NameIndex  # the question as name lookups see it

    @property
    def typed(self) -> bool:
        """Does the answer have a type a sentence can be checked for (a number, a name)?"""
        return self.kind in ("quantity", "entity")


def _words(text: str) -> list[str]:
    return [m.group(0) for m in _WORD.finditer(text)]


def _skip(words: list[str], i: int) -> int:
    while i < len(words) and words[i].lower() in _PHRASE_STOP:
        i += 1
    return i


def _phrase(words: list[str], i: int, most: int) -> tuple[list[str], int]:
    """The words from ``i`` up to the next function word (at most ``most``): a noun phrase, roughly."""
    out: list[str] = []
    while i < len(words) and len(out) < most and words[i].lower().strip("'’") not in _PHRASE_STOP:
        out.append(words[i])
        i += 1
    return out, i


def _measure(word: str, after_what: bool) -> bool:
    """A noun whose value is a figure; after "what", also a metric's name in capitals ("MT-Bench", "mAP")."""
    if stem(word.lower()) in _MEASURES:
        return True
    return after_what and word.replace("-", "").isalpha() and sum(c.isupper() for c in word) >= 2


#: Clauses of a question: it starts one, and so does each comma, semicolon or colon.
_CLAUSE_START = re.compile(r"(?:^|[,;:])\s*([A-Za-z]+)(?:\s+([A-Za-z]+))?(?:\s+([A-Za-z]+))?")
_WH_WORDS = _set("how what which who whom whose where when")


def _asks_yes_or_no(question: str) -> bool:
    """A question asks yes or no when one of its clauses opens with an auxiliary ("Does…", "…, could
    measuring how much X help?") and none opens with a wh-word ("In the study of X, how much…")."""
    yes_no = wh = False
    for m in _CLAUSE_START.finditer(question):
        first, *more = [w.lower() for w in m.groups() if w]
        yes_no = yes_no or first in _AUX or first == "if"
        # "how much…", "By how much…", "Up to what…", but not "could measuring how much…"
        lead = [first, *more]
        wh = wh or any(
            w in _WH_WORDS and all(x in NLTK_ENGLISH or x == "up" for x in lead[:n])
            for n, w in enumerate(lead)
        )
    return yes_no and not wh


@lru_cache(maxsize=1024)
def read_question(question: str) -> Ask:
    """The kind of answer ``question`` wants and the words that say what is asked for."""
    words = _words(question)
    kind, anchors, clause = ("open", [], "") if _asks_yes_or_no(question) else _read(words)
    values = frozenset(v for _, vals in numbers_in(question) for v in vals)
    return Ask(
        kind=kind,
        anchors=tuple(anchors),
        stems=frozenset(stem(a.lower().strip("'’")) for a in anchors),
        clause=clause,
        terms=content_terms(question, question=True),
        values=values,
        names=NameIndex.of(question),
    )


def _read(words: list[str]) -> tuple[Kind, list[str], str]:
    low = [w.lower() for w in words]
    for i, w in enumerate(low):
        nxt = low[i + 1] if i + 1 < len(low) else ""
        if w == "how" and nxt in _HOW_AMOUNT:
            return _read_how(words, i)
        after_function_word = i == 0 or low[i - 1] in _PHRASE_STOP | {"after", "over", "under"}
        if w in ("what", "which") and after_function_word:
            return _read_what(words, i)
        if w in ("who", "whom", "whose", "where") and i <= 2:
            return "entity", [], " ".join(words[i : i + 1])
        if w == "when" and i <= 2 and nxt in _AUX:
            return "quantity", ["year"], "when"
    return "open", [], ""


_IRREGULAR = _set(
    "paid spent made taken given done seen run built held found kept left lost set sold told won written drawn grown known shown thrown"
)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _participle(word: str) -> bool:
    low = word.lower()
    return low in _IRREGULAR or (low.endswith("ed") and len(low) > 4)


def _read_how(words: list[str], i: int) -> tuple[Kind, list[str], str]:
    """ "how many X", "how much X", or a verb's amount: "how much were participants paid"."""
    low = [w.lower() for w in words]
    j = i + 2
    if low[i + 1] in ("many", "much") and j < len(low) and low[j] not in _PHRASE_STOP:
        noun, _ = _phrase(words, j, 3)
        noun = noun[: next((n for n, w in enumerate(noun) if n and w.lower().endswith("ing")), len(noun))]
        return "quantity", noun, _lower_first(" ".join(words[i:j] + noun))
    if j < len(low) and (low[j] in _COMPARATIVES or (low[j].endswith("er") and low[j] not in _PHRASE_STOP)):
        j += 1  # "how much lower is…"
    aux = ""
    if j < len(low) and low[j] in _AUX:
        aux, j = low[j], j + 1
    start = _skip(words, j)
    subject, j = _phrase(words, start, 3)
    cut = next((n for n, w in enumerate(subject) if n and _participle(w)), len(subject))
    if cut < len(subject):  # "how much were [participants] [paid]"
        subject, j = subject[:cut], start + cut
    predicate, _ = _phrase(words, _skip(words, j), 2)
    # as an indirect question: "how much participants were paid" ("did" drops: "how much it cost")
    lead = " ".join(words[i:start]).split()
    lead = [w for w in lead if w.lower() != aux]
    middle = [aux] if aux and aux not in ("do", "does", "did") else []
    clause = " ".join([*lead, *words[start:j], *middle, *predicate])
    return "quantity", subject + predicate, _lower_first(clause)


def _read_what(words: list[str], i: int) -> tuple[Kind, list[str], str]:
    """ "what/which X…": a figure (a measure), a name (a named class) or a description."""
    low = [w.lower() for w in words]
    which = low[i] == "which"
    nxt = low[i + 1] if i + 1 < len(low) else ""
    if nxt == "of":  # "which of the eight LLMs…"
        noun, _ = _phrase(words, _skip(words, i + 1), 3)
        return "entity", noun, " ".join([words[i], *noun])
    if nxt in _AUX or nxt in _DESCRIBING:
        return ("entity" if which else "open"), [], ""
    if nxt in _WORKS:
        return "open", [], ""
    noun, j = _phrase(words, i + 1, 4)
    cut = next(
        (n for n, w in enumerate(noun) if n and (_participle(w) or w.lower().endswith("ing"))), len(noun)
    )
    noun, j = noun[:cut], i + 1 + cut
    if not noun:
        return ("entity" if which else "open"), [], ""
    clause = _lower_first(" ".join(words[i:j]))
    if any(_measure(w, after_what=not which) for w in noun):
        if j < len(low) and low[j] == "of":  # "what share of the medical questions"
            of, _ = _phrase(words, _skip(words, j + 1), 3)
            noun = noun + of
        return "quantity", noun, clause
    if any(stem(w.lower()) in _NAMED_CLASSES or any(c.isupper() for c in w) for w in noun):
        return "entity", noun, clause
    return "description", noun, clause


@dataclass(frozen=True)
class Sentence:
    """An abstract sentence as the gate reads it (computed once per sentence)."""

    text: str
    terms: frozenset[str]
    stems: tuple[str, ...]  # one per word, in order
    numbers: tuple[tuple[int, frozenset[float]], ...]  # (word position, values) of each possible answer
    names: tuple[tuple[int, str], ...]  # (word position, name)
    acronyms: tuple[tuple[str, tuple[str, ...]], ...]  # ("LRM", ("Large", "reasoning", "models"))


def _numbers(words: list[str], text: str, spans: list[tuple[int, int]]) -> list[tuple[int, frozenset[float]]]:
    """Numbers that could answer "how many/much": not years, enumerations ("1)") or versions ("Claude 3")."""
    out = []
    for i, word in enumerate(words):
        lw = word.lower()
        if lw in _COUNT_WORDS and text[spans[i][1] : spans[i][1] + 1] != "-":  # "two", not "two-sided"
            out.append((i, frozenset({_COUNT_WORDS[lw]})))
            continue
        core = word.lstrip("+-").rstrip(".,")
        if not core[:1].isdigit():
            continue
        if _YEAR.match(core) or (text[spans[i][1] : spans[i][1] + 1] == ")" and len(core) <= 2):
            continue
        before = words[i - 1] if i else ""
        if i > 1 and before[:1].isupper() and before.isalpha() and len(before) > 1:
            continue  # a version: "Gemini 1.5", "Opus 4" ("N = 308" has "=" between)
        values = frozenset(v for _, vals in numbers_in(core if "%" not in word else word) for v in vals)
        if values:
            out.append((i, values))
    return out


def _acronyms(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Acronyms the sentence defines, with the words before them: "large reasoning models (LRMs)"."""
    out = []
    for m in _ACRONYM.finditer(text):
        acronym = m.group(1)
        before = tuple(re.findall(r"[A-Za-z][\w-]*", text[: m.start()])[-len(acronym) - 1 :])
        if acronym.lower()[:2] in "".join(w[0] for w in before).lower():
            out.append((acronym, before))
    return out


@lru_cache(maxsize=8192)
def read_sentence(text: str) -> Sentence:
    found = list(_WORD.finditer(text))
    words = [m.group(0) for m in found]
    spans = [m.span() for m in found]
    positions: list[tuple[int, str]] = []
    for name in names_in(text):
        positions += [(i, name) for i, w in enumerate(words) if w.startswith(name)]
    return Sentence(
        text=text,
        terms=content_terms(text),
        stems=tuple(stem(w.lower().strip("'’.")) for w in words),
        numbers=tuple(_numbers(words, text, spans)),
        names=tuple(sorted(set(positions))),
        acronyms=tuple(_acronyms(text)),
    )


@lru_cache(maxsize=2048)
def sentences_of(title: str, abstract: str, min_chars: int) -> tuple[str, ...]:
    """The title, then the abstract's sentences longer than ``min_chars`` (headings and fragments dropped)."""
    text = " ".join(unescape_latex(abstract).split())
    return (title, *(s.strip() for s in split_sentences(text) if len(s.strip()) > min_chars))


def _letters(acronym: str) -> str:
    return "".join(_DIGIT_LETTERS.get(c, c) for c in acronym.lower() if c.isalpha() or c in _DIGIT_LETTERS)


def _answers(sentence: Sentence, ask: Ask, title: bool = False) -> list[int]:
    """Positions of words in ``sentence`` that could be the answer of ``ask``'s kind. A title's words
    are all capitalised, so a title holds no names."""
    if ask.kind == "quantity":
        return [i for i, values in sentence.numbers if not values <= ask.values]
    if ask.kind != "entity" or title:
        return []
    # an acronym's spelled-out words are its name, not another one; an acronym of the question's own
    # words ("large reasoning models (LRMs)" for "which reasoning models") is no answer either
    spelled = {w for _, expansion in sentence.acronyms for w in expansion}
    own = {a for a, _ in sentence.acronyms if len(_letters(a)) >= 2 and _letters(a) in ask.names.initials}
    return [
        i
        for i, name in sentence.names
        if not ask.names.mentions(name)
        and name not in spelled
        and name.rstrip("s") not in own
        and not is_generic(name)
    ]


def slot_filled(sentence: Sentence, ask: Ask, window: int, title: bool = False) -> bool:
    """Does ``sentence`` hold an answer of the asked kind within ``window`` words of an asked-for word?
    Open questions have no slot (always True); a description needs only the asked-for word."""
    if ask.kind == "open":
        return True
    stems = ask.stems or ask.terms
    if ask.kind == "quantity" and stems & _PEOPLE:
        stems = stems | _PEOPLE  # "how many participants": "193 subjects" counts them too
    near = [i for i, s in enumerate(sentence.stems) if s in stems]
    if ask.kind == "description":
        return bool(near)
    if ask.kind == "quantity" and stems & _SAMPLED and _sample_size(sentence, ask):
        return True
    return any(abs(a - n) <= window for a in _answers(sentence, ask, title) for n in near)


def _sample_size(sentence: Sentence, ask: Ask) -> bool:
    """Does ``sentence`` give a sample size ("n=981", "N = 1,222"), the answer to "how many people"?"""
    return any(i and sentence.stems[i - 1] == "n" for i in _answers(sentence, ask))


def has_answer_type(sentence: Sentence, ask: Ask, title: bool = False) -> bool:
    """Does ``sentence`` hold any answer of the asked kind (a number, a new name), wherever it is?"""
    return not ask.typed or bool(_answers(sentence, ask, title))


def anchor_share(sentence_stems: frozenset[str], ask: Ask) -> float:
    """Share of the asked-for words found among ``sentence_stems`` (1 when nothing specific is asked)."""
    if not ask.stems or ask.kind == "open":
        return 1.0
    return len(ask.stems & as_asked(sentence_stems, ask)) / len(ask.stems)


def as_asked(stems: frozenset[str], ask: Ask) -> frozenset[str]:
    """``stems`` (of a sentence or an abstract) with the people a study counts named as the question
    names them: "how many participants" is asked of an abstract that counts "193 subjects"."""
    asked = (ask.stems | ask.terms) & _PEOPLE
    if ask.kind != "quantity" or not asked or not stems & _PEOPLE:
        return stems
    return stems | asked
