"""Follow-up questions rewritten to stand alone before retrieval (the pipeline's first stage).

"How large were its accuracy gains?" finds nothing by itself; both retrievers need the topic
words of the earlier question. Two rewriters:

- :class:`RuleRewriter` (no model): prepends the previous question when this one leans on it —
  a pronoun, "and …", or only a few words;
- :class:`LLMRewriter`: asks the answer mode's model, and falls back to another rewriter (the
  rule) when the model fails, so a failed rewrite never fails the question.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rag import prompt
from rag.types import History

if TYPE_CHECKING:
    from rag.llm import LLM
    from rag.settings import AnswerSettings
    from rag.stages import Rewriter

_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|why|how so|then)\b|\b(it|its|they|them|their|this|that|these|those|"
    r"he|she|his|her|the paper|the method|the model|the authors)\b",
    re.IGNORECASE,
)


def turns(history: History | None) -> list[tuple[str, str]]:
    """The history as (role, content) pairs, whichever of its two shapes it came in."""
    out: list[tuple[str, str]] = []
    for item in history or []:
        if isinstance(item, dict):
            out.append((str(item.get("role", "")), str(item.get("content", ""))))
        elif item:
            out.append(("user", str(item[0])))
    return out


def user_questions(history: History | None) -> list[str]:
    """The earlier questions, oldest first."""
    return [content for role, content in turns(history) if role == "user" and content]


class RuleRewriter:
    """Prepends the previous question to a follow-up that leans on it."""

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def rewrite(self, question: str, history: History | None) -> str:
        previous = user_questions(history)
        if not previous:
            return question
        if _FOLLOW_UP.search(question) or len(question.split()) <= self.settings.follow_up_max_words:
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
