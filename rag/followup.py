"""Follow-up questions made to stand alone before retrieval (the pipeline's first stage).

"What datasets do they evaluate on?" finds nothing by itself. References are resolved against the
conversation — the papers the previous answer cited (in cited order: titles, ids, the hits
themselves when the history holds :class:`~rag.types.Answer` objects, else the titles heading a
paper-by-paper answer's lines) and the names the previous question used:

- "the second paper", "the first one", "the last study", "paper [2]" → that paper's title, and the
  follow-up is answered from that paper alone. The count runs over the last answer's papers, or,
  when that answer cited one paper, over the latest answer that listed several ("How does it compare
  with the first one?" after a follow-up about one paper of a list: "it" is that paper);
- "they", "them", "these papers/methods" → the previous answer's papers (their short titles), and
  the follow-up is answered from those papers;
- "it", "its", "that method", "this model" → the one thing the previous question named
  ("CausaLM"; else the one the previous answer named), else the previous answer's first paper;
- "What about BAH?" after "How many participants were in the MDPE dataset?" → the previous
  question with its one named thing replaced ("How many participants were in the BAH dataset?").

The previous question is read as it was searched (a follow-up's standalone question), so a chain of
follow-ups keeps its subject.

:func:`resolve` does this without a model, in every answer mode. Two rewriters make the searched
question for what it leaves (an elliptical "and BLEU?"):

- :class:`RuleRewriter` (no model): the resolution, else prepends the previous question when this one
  is a few words, opens with "and …", "what about …", or leans on a reference it could not resolve;
- :class:`LLMRewriter`: asks the answer mode's model, and falls back to another rewriter (the
  rule) when the model fails, so a failed rewrite never fails the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag import prompt
from rag.records import normalise_title
from rag.text import is_generic, names_in, quote_title, without_titles
from rag.types import Answer, History, Hit

if TYPE_CHECKING:
    from rag.llm import LLM
    from rag.settings import AnswerSettings
    from rag.stages import Rewriter

#: A follow-up that continues the previous question without naming anything ("and BLEU?").
_ELLIPSIS = re.compile(r"^(and|but|also|what about|how about|why|how so|then)\b", re.IGNORECASE)
_NOUNS = r"(?:paper|one|study|work|article|method|approach|model|framework|result|source|reference)"
_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3}
_ORDINALS |= {"fifth": 4, "5th": 4, "last": -1, "final": -1}
_ORDINAL = re.compile(
    rf"\b(?:the\s+)?(?P<ord>{'|'.join(_ORDINALS)})\s+{_NOUNS}\b|"
    rf"\b(?:{_NOUNS}\s+)\[?(?P<num>\d{{1,2}})\]?(?!\w)|(?<!\w)\[(?P<cite>\d{{1,2}})\]",
    re.IGNORECASE,
)
_PLURAL = re.compile(
    r"\b(?:(?:these|those|the)\s+(?:papers|studies|works|methods|approaches|models|frameworks|articles)|"
    r"they|them|their|theirs)\b",
    re.IGNORECASE,
)
_SINGULAR = re.compile(
    r"\b(?:(?:this|that|the)\s+(?:paper|study|work|method|approach|model|framework|technique|system)|"
    r"it|its)\b",
    re.IGNORECASE,
)
#: A title's short form: what precedes its colon ("LoFiT: Localized Fine-tuning…" → "LoFiT").
_SHORT_TITLE_MIN = 3
#: The titles heading a paper-by-paper answer's lines ("Title: “quote” [1]").
_HEADED_LINE = re.compile(r"^(?P<title>.+?): “", re.MULTILINE)
#: "What about X?", "And X?", "How about the X dataset?": the previous question, asked of X instead.
_WHAT_ABOUT = re.compile(
    r"^\s*(?:and\s+(?:(?:what|how)\s+about\s+)?|(?:what|how)\s+about\s+)(?:the\s+)?"
    r"(?P<thing>[^?\s][^?]*?)\s*\?\s*$",
    re.IGNORECASE,
)
#: Most words of the X in "What about X?" (a longer one is a question of its own).
_WHAT_ABOUT_MAX_WORDS = 5
#: An X that opens like a question ("and how many authors?") is asked, not substituted.
_ASKING = re.compile(
    r"^(?:what|which|who|whom|whose|why|when|where|how|is|are|was|were|do|does|did|can|could|has|have|will|would|should)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PaperRef:
    """A paper of the previous answer: its title, and its id and hit when the history had them."""

    title: str
    paper_id: str = ""
    hit: Hit | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Resolved:
    """A follow-up with its references resolved: the question as searched, and the papers it is
    about (empty: search the whole index)."""

    question: str
    papers: tuple[PaperRef, ...] = ()


def turns(history: History | None) -> list[tuple[str, str]]:
    """The history as (role, content) pairs, whichever of its shapes it came in."""
    out: list[tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, Answer):
            out += [("user", item.question), ("assistant", item.text)]
        elif isinstance(item, dict):
            out.append((str(item.get("role", "")), str(item.get("content", ""))))
        elif item:
            out.append(("user", str(item[0])))
            if len(item) > 1 and item[1]:
                out.append(("assistant", str(item[1])))
    return out


def user_questions(history: History | None) -> list[str]:
    """The earlier questions, oldest first."""
    return [content for role, content in turns(history) if role == "user" and content]


def previous_question(history: History | None) -> str:
    """The last question as it was searched (its standalone form, when the history kept it)."""
    items = list(history or [])
    if items and isinstance(items[-1], Answer):
        return items[-1].standalone_question or items[-1].question
    asked = user_questions(history)
    return asked[-1] if asked else ""


def answered_papers(history: History | None) -> list[list[PaperRef]]:
    """The papers each earlier answer cited, in the order it cited them (a refusal: the closest
    papers it listed), oldest answer first."""
    out: list[list[PaperRef]] = []
    for item in history or []:
        if isinstance(item, Answer):
            order = [n for s in item.sentences for n in s.cites if 1 <= n <= len(item.sources)]
            cited = [item.sources[n - 1] for n in dict.fromkeys(order)] or item.sources
            out.append([PaperRef(h.title, h.paper_id, h) for h in cited])
        elif isinstance(item, dict):
            if item.get("role") == "assistant":
                out.append(_headed(str(item.get("content", ""))))
        elif item and len(item) > 1:
            out.append(_headed(str(item[1])))
    return out


def _headed(text: str) -> list[PaperRef]:
    """The titles heading a paper-by-paper answer's lines."""
    titles = [m.group("title").strip() for m in _HEADED_LINE.finditer(text)]
    return [PaperRef(t) for t in dict.fromkeys(titles) if t]


def previous_papers(history: History | None) -> list[PaperRef]:
    """The papers the last answer cited, in the order it cited them (a refusal: the closest papers
    it listed)."""
    lists = answered_papers(history)
    return lists[-1] if lists else []


def short_title(title: str) -> str:
    head = title.split(":")[0].strip()
    return head if len(head) >= _SHORT_TITLE_MIN and head != title else title


def _listing(papers: list[PaperRef]) -> str:
    names = [quote_title(short_title(p.title)) for p in papers]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def resolve(question: str, history: History | None) -> Resolved:
    """``question`` with its references to the conversation replaced by what they name (module
    docstring); unchanged, with no papers, when it makes none or there is no earlier turn."""
    if not user_questions(history):
        return Resolved(question)
    resolved = _references(question, history)
    return _asked_instead(resolved, previous_question(history))


def _references(question: str, history: History | None) -> Resolved:
    lists = answered_papers(history)
    papers = lists[-1] if lists else []
    if lists and (m := _ORDINAL.search(question)):
        index = _ordinal_index(m)
        counted = _counted_in(lists, index)
        if index is not None and counted is not None:
            paper = counted[index]
            text = question[: m.start()] + quote_title(paper.title) + question[m.end() :]
            if counted is not papers and len(papers) == 1 and (it := _SINGULAR.search(text)):
                # "How does it compare with the first one?": "it" is the last answer's one paper
                name = quote_title(short_title(papers[0].title)) + (
                    "’s" if it.group(0).lower() == "its" else ""
                )
                return Resolved(text[: it.start()] + name + text[it.end() :], (papers[0], paper))
            return Resolved(text, (paper,))
    if papers and (m := _PLURAL.search(question)):
        owner = m.group(0).lower() in ("their", "theirs")
        listed = _listing(papers) + ("’" if owner else "")
        return Resolved(_PLURAL.sub(listed, question, count=1), tuple(papers))
    if m := _SINGULAR.search(question):
        names = [n for n in names_in(without_titles(previous_question(history))) if not is_generic(n)]
        answers = [content for role, content in turns(history) if role == "assistant"]
        # ("it" is never "LLMs"); else the one thing the previous answer named ("LogicGuide [1].")
        if not names and answers:
            named = [n for n in names_in(answers[-1]) if not is_generic(n)]
            names = named if len(named) == 1 else []
        titled = [n for n in names if any(n.lower() in p.title.lower() for p in papers)]
        candidates = titled if titled or papers else names
        if len(candidates) == 1:  # the one thing the previous question named (and a cited title names)
            name = candidates[0] + ("’s" if m.group(0).lower() == "its" else "")
            about = [p for p in papers if candidates[0].lower() in p.title.lower()][:1]
            return Resolved(question[: m.start()] + name + question[m.end() :], tuple(about))
        if papers:
            paper = papers[0]
            name = quote_title(short_title(paper.title)) + ("’s" if m.group(0).lower() == "its" else "")
            return Resolved(question[: m.start()] + name + question[m.end() :], (paper,))
    return Resolved(question)


def _counted_in(lists: list[list[PaperRef]], index: int | None) -> list[PaperRef] | None:
    """The papers an ordinal counts in: the last answer's, unless it cited one paper and an earlier
    answer listed several ("the first one" of a list, asked after a follow-up about one of them)."""
    if index is None:
        return None
    fits = [papers for papers in lists if -len(papers) <= index < len(papers)]
    if not lists[-1] or len(lists[-1]) == 1:
        listed = [papers for papers in fits if len(papers) > 1]
        if listed:
            return listed[-1]
    return lists[-1] if fits and fits[-1] is lists[-1] else None


def _asked_instead(resolved: Resolved, previous: str) -> Resolved:
    """ "What about BAH?": the previous question asked of BAH instead of the one thing it named
    (module docstring); ``resolved`` unchanged when the previous question names no one thing."""
    if not (m := _WHAT_ABOUT.match(resolved.question)):
        return resolved
    thing = m.group("thing").strip()
    names = [n for n in names_in(without_titles(previous)) if not is_generic(n)]
    if len(thing.split()) > _WHAT_ABOUT_MAX_WORDS or _ASKING.match(thing) or len(names) != 1:
        return resolved
    if any(r.search(thing) for r in (_ORDINAL, _PLURAL, _SINGULAR)):  # a reference left unresolved
        return resolved
    spot = re.search(rf"[\w.-]*{re.escape(names[0])}[\w-]*", previous)
    if spot is None:
        return resolved
    after = previous[spot.end() :].split()
    words = thing.split()
    if len(words) > 1 and after and words[-1].lower() == after[0].strip("?,.;:").lower():
        thing = " ".join(words[:-1])  # "What about the BAH dataset?" → "… in the BAH dataset"
    return Resolved(previous[: spot.start()] + thing + previous[spot.end() :], resolved.papers)


def _ordinal_index(m: re.Match[str]) -> int | None:
    if m.group("ord"):
        return _ORDINALS[m.group("ord").lower()]
    number = m.group("num") or m.group("cite")
    return int(number) - 1 if number and int(number) >= 1 else None


def find_papers(refs: tuple[PaperRef, ...], hits: list[Hit]) -> list[Hit]:
    """The hits of ``refs``: their own when the history kept them, else the retrieved hit whose
    title is theirs (a reference not found is left out)."""
    by_title = {normalise_title(h.title): h for h in hits}
    found = [ref.hit or by_title.get(normalise_title(ref.title)) for ref in refs]
    return [h for h in found if h is not None]


class RuleRewriter:
    """Resolves references (:func:`resolve`); else prepends the previous question to an elliptical
    follow-up ("and BLEU?")."""

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def rewrite(self, question: str, history: History | None) -> str:
        previous = user_questions(history)
        if not previous:
            return question
        resolved = resolve(question, history)
        if resolved.question != question:
            return resolved.question
        leans = _PLURAL.search(question) or _SINGULAR.search(question)  # a reference left unresolved
        if leans or _ELLIPSIS.search(question) or len(question.split()) <= self.settings.follow_up_max_words:
            return f"{previous[-1]} {question}"
        return question


class LLMRewriter:
    """Asks ``llm`` for a standalone question; ``fallback`` answers when the model fails."""

    def __init__(self, llm: LLM, settings: AnswerSettings, fallback: Rewriter) -> None:
        self.llm = llm
        self.settings = settings
        self.fallback = fallback

    def rewrite(self, question: str, history: History | None) -> str:
        if not user_questions(history):
            return question
        try:
            return self._ask_model(question, history) or question
        except Exception:  # a failed rewrite must not fail the question: fall back to the rule
            return self.fallback.rewrite(question, history)

    def _ask_model(self, question: str, history: History | None) -> str:
        recent = [f"{role}: {content}" for role, content in turns(history)]
        recent = recent[-self.settings.rewrite_history_messages :]
        messages = [
            {"role": "system", "content": prompt.REWRITE_SYSTEM},
            {"role": "user", "content": "\n".join(recent) + f"\nuser: {question}\nStandalone question:"},
        ]
        items = self.llm.execute(messages, max_tokens=self.settings.rewrite_max_tokens)
        text = "".join(t for t in items if isinstance(t, str)).strip()
        text = text.splitlines()[0].strip(' "') if text else ""
        fits = self.settings.rewrite_min_chars <= len(text) <= self.settings.rewrite_max_chars
        return text if fits else ""
