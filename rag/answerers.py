"""The answer stage: from the question and the retrieved papers to a :class:`~rag.types.Draft`.

- :class:`ExtractiveAnswerer` quotes abstract sentences verbatim (no model, nothing invented);
- :class:`LLMAnswerer` asks a model with the numbered sources, streams its text, and parses its
  citation markers into claims (:func:`rag.citations.parse`, replaceable).

Neither checks anything: the verifier does, after. Which answerer a mode uses is decided by the
mode registry (:mod:`rag.modes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from rag import citations, prompt
from rag.extractive import INTRO, PER_PAPER_INTRO, select_quotes
from rag.question_shape import read_shape
from rag.sentence_rank import Similarity
from rag.types import Claim, Draft, Hit

if TYPE_CHECKING:
    from rag.llm import LLM
    from rag.settings import AnswerSettings, LLMSettings

Parser = Callable[[str, int], list[Claim]]


class ExtractiveAnswerer:
    """Quotes the abstract sentences that best answer the question, each citing its paper."""

    def __init__(self, settings: AnswerSettings, similarity: Similarity | None = None) -> None:
        self.settings = settings
        self.similarity = similarity  # question–sentence cosines: a paper's sentences by the fitted model

    def answer(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Draft]:
        quotes = select_quotes(question, hits, self.settings, self.similarity)
        if not quotes:
            yield Draft.refusal(list(hits))
            return
        # the verbatim quote is the claim; its citation lives in cites, never in its text; a
        # paper-by-paper answer heads each line with the paper's title
        per_paper = read_shape(question).per_paper
        claims = []
        for i, q in enumerate(quotes):
            first = per_paper and (i == 0 or quotes[i - 1].source != q.source)  # a paper's first line
            claims.append(
                Claim(q.text, (q.source,), quoted=True, heading=hits[q.source - 1].title if first else "")
            )
        yield Draft(sources=list(hits), claims=claims, intro=PER_PAPER_INTRO if per_paper else INTRO)


class LLMAnswerer:
    """One streamed model call over the sources that fit its context window."""

    def __init__(
        self,
        llm: LLM,
        llm_settings: LLMSettings,
        settings: AnswerSettings,
        parse: Parser = citations.parse,
        similarity: Similarity | None = None,
    ) -> None:
        self.llm = llm
        self.llm_settings = llm_settings
        self.settings = settings
        self.parse = parse
        self.similarity = similarity  # for the per-paper evidence, as the extractive answer picks it

    def answer(self, question: str, hits: Sequence[Hit]) -> Iterator[str | Draft]:
        max_tokens = self.llm_settings.max_answer_tokens
        messages, used = prompt.build_messages(
            question,
            hits,
            self.llm.count_tokens,
            self.llm.context_window,
            max_tokens,
            self.settings,
            similarity=self.similarity,
        )
        # the sources the model saw keep their numbers; the rest follow, for the reader
        sources = used + [h for h in hits if h not in used]
        parts: list[str] = []
        prompt_tokens = completion_tokens = None
        for item in self.llm.execute(
            messages, max_tokens=max_tokens, temperature=self.llm_settings.temperature
        ):
            if isinstance(item, str):
                parts.append(item)
                yield item
            else:
                prompt_tokens, completion_tokens = item.prompt_tokens, item.completion_tokens
        raw = "".join(parts).strip()
        if not raw or prompt.says_cannot_answer(raw, self.settings):
            yield Draft.refusal(sources, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
            return
        yield Draft(
            sources=sources,
            claims=self.parse(raw, len(used)),
            text=citations.clean_markers(raw, len(used)),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
        )
