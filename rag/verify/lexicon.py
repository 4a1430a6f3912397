"""The learned verifier's own word lists: negation, null results, direction, valence, comparison,
quantifiers and hedges in scientific English.

Hand-written from general scientific English (not fitted to SciFact or to the sample corpus). Words
are matched against :func:`rag.text.tokens` (lower-case, apostrophes split: "doesn't" → doesn, t),
direction and valence entries by prefix ("increas" matches increase, increased, increasing) except
the short words of ``*_WORDS``, which must match exactly ("more" must not match "moreover").
Stopwords and stemming are rag.text's; these lists only say what a word *does* in a finding.
"""

from __future__ import annotations

import re


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words that negate what follows them (in token form: "doesn't" is doesn + t).
NEGATIONS = _words(
    """
    not no never none neither nor without cannot lack lacks lacked lacking absence absent unable
    fail fails failed unaffected independent doesn didn isn aren wasn weren hasn haven hadn couldn
    wouldn shouldn mustn needn
    """
)
#: "can't", "won't", "ain't": the token before a split-off "t" that makes it a negation.
CONTRACTED = frozenset(["can", "won", "ain", "don"])
#: Words after a negation cue that it governs.
SCOPE = 6

#: "no significant difference", "did not differ", "unchanged": the study found no effect.
NULL_RESULT = re.compile(
    r"\b(no (?:significant |statistically significant |detectable |measurable )?"
    r"(?:difference|differences|effect|effects|change|changes|association|correlation|relationship|"
    r"benefit|increase|decrease|impact|evidence)"
    r"|not (?:significantly|statistically)|did not (?:differ|change|affect|alter|improve|reduce|increase)"
    r"|(?:was|were|is|are) not associated|not associated"
    r"|unchanged|unaffected|similar (?:in|between|to|across)|comparable|independent of|failed to)\b"
)

UP = (
    "increas", "higher", "elevat", "enhanc", "promot", "induc", "activat", "upregulat", "stimulat",
    "rais", "greater", "augment", "accelerat", "boost", "amplif", "exceed", "expan", "potentiat",
    "facilitat", "longer", "larger", "faster", "overexpress", "accumulat", "strengthen",
)  # fmt: skip
UP_WORDS = frozenset(["more", "rise", "rises", "rising", "rose", "risen", "gain", "gains", "gained"])
DOWN = (
    "decreas", "lower", "reduc", "inhibit", "suppress", "attenuat", "diminish", "downregulat", "declin",
    "fewer", "block", "prevent", "abolish", "smaller", "shorter", "slower", "delay", "deplet", "restrict",
    "repress", "antagoni", "abrogat", "weaken", "impair", "knockdown", "deficien", "silenc", "eliminat",
)  # fmt: skip
DOWN_WORDS = _words(
    "less loss losses lose loses lost drop drops dropped fall falls fell fallen limit limits limited"
)
#: "up-regulated" is two tokens: these join the next token when it starts with "regulat".
DIRECTION_PREFIXES = frozenset(["up", "down"])

GOOD = (
    "improv", "benefi", "protect", "effective", "efficac", "success", "better", "favorabl", "favourabl",
    "safe", "superior", "amelior", "rescu", "restor", "alleviat", "relie", "heal", "surviv",
)  # fmt: skip
BAD = (
    "worse", "harm", "detriment", "advers", "toxic", "ineffective", "inferior", "deleterious", "exacerbat",
    "aggravat", "mortalit", "death", "poor", "risk", "damag", "complicat", "fatal",
)  # fmt: skip

COMPARATIVE = re.compile(r"\b(than|compared|versus|vs|relative to|more|less|fewer|greater|\w+er than)\b")
UNIVERSAL = _words("all every always never none each entire any universally invariably")
PARTIAL = _words(
    """
    some most many few several majority minority often rarely sometimes only frequently occasionally
    partially partly subset certain
    """
)
HEDGES = _words("may might could suggest suggests suggested possibly potentially likely unclear")
