"""The shape of a question: what kind of answer a researcher expects, so the answer can take that form.

- ``fact`` — a figure or a fact from one paper ("How many tasks does BIG-bench contain?"): the
  sentences that hold it, wherever they are;
- ``which`` — "which papers / what approaches / which methods do X": one line per relevant paper,
  its title and the sentence that answers (a method, a finding, a figure), not its background;
- ``compare`` — "how do A and B compare", "what do papers find about X": each paper's matching
  sentence side by side;
- ``about`` — "what is X (about)", "what does X do / propose": the sentences that define X, from
  the one paper about it.

The answer's kind (a figure, a name, a description) still comes from
:func:`rag.answerability.read_question`; this module adds only how many papers the answer should
speak for. One reading, cached, shared by the extractive answerer and the LLM prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from rag.answerability import Ask, read_question
from rag.text import names_in

Shape = Literal["fact", "which", "compare", "about"]

#: Plural nouns that stand for papers or their contributions: "which papers", "what approaches".
_WORKS = (
    r"papers?|works?|studies|study|articles?|approach(?:es)?|methods?|techniques?|strategies|ways|"
    r"frameworks?|benchmarks?|datasets?|systems?|tools?|models?|algorithms?|architectures?|research"
)
_WHICH = re.compile(
    rf"\b(?:which|what)\s+(?:\w+\s+)?(?:{_WORKS})\b|\b(?:are there|list|name)\s+(?:any\s+)?(?:{_WORKS})\b",
    re.IGNORECASE,
)
#: "What do (different) papers find/report/conclude about…": a synthesis over several papers.
_PAPERS_SAY = re.compile(
    r"^\s*(?:what|how|which)\b[^?]*?\bdo\s+(?:\w+\s+)?(?:papers|studies|works|authors|researchers)\b",
    re.IGNORECASE,
)
_COMPARE = re.compile(
    r"\b(?:compare|compares|comparison|differ|differences?|contrast|in common|both|each other)\b",
    re.IGNORECASE,
)
#: "What is X", "What is X about", "What does X do/propose", "Describe X".
_ABOUT = re.compile(
    r"^\s*(?:what\s+(?:is|are)\s+(?!the\s+(?:\w+\s+){0,2}(?:of|between)\b)|"
    r"what\s+(?:does|do)\s+.+\s+(?:do|propose|introduce|present|offer|mean|find|report|show|conclude|claim|say)\b|describe\b|explain\b)|"
    r"\babout\s*\??\s*$",
    re.IGNORECASE,
)
#: Two things as the plural subject of a wh-question: "How do LoFiT and GrAInS …", "How large are the
#: MDPE dataset and the BAH dataset …" (no comma between: "…, and how many" joins two questions; not
#: a passive "were covered by A and B", whose subject is one thing).
_TWO_SUBJECTS = re.compile(
    r"^\s*(?:how|what|which)\b[^?,]*?\b(?:do|are|did|were)\s+(?!\w+(?:ed|en)\b)[^?,]+?\s+and\s+[^?,]+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class QuestionShape:
    shape: Shape
    ask: Ask  # the answer's kind and the asked-for words (rag.answerability)
    names: tuple[str, ...]  # things the question names ("LoFiT", "GrAInS"): each should be answered for

    @property
    def per_paper(self) -> bool:
        """Does the answer speak for several papers, one line each?"""
        return self.shape in ("which", "compare")


@lru_cache(maxsize=1024)
def read_shape(question: str) -> QuestionShape:
    """The shape of ``question`` (module docstring)."""
    ask = read_question(question)
    names = tuple(names_in(question))
    return QuestionShape(_shape(question, ask, names), ask, names)


def _shape(question: str, ask: Ask, names: tuple[str, ...]) -> Shape:
    # a follow-up resolved to several papers' titles: "What do “A” and “B” find?"
    if question.count("“") >= 2:
        return "compare"
    if _COMPARE.search(question) or _TWO_SUBJECTS.search(question) or _PAPERS_SAY.search(question):
        return "compare"
    if _WHICH.search(question):
        return "which"
    if _ABOUT.search(question) and ask.kind in ("description", "open"):
        return "about"
    return "fact"
