"""The question-answering engine behind the Python API, the CLI, the chat page and evals.

One ``Engine`` per settings object; the index, embedder, support scorer and LLMs are
opened on first use and reused, so a long-lived process (the chat page, a batch run)
pays for them once.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from rag import citations, evidence, extractive, prompt
from rag.errors import ConfigError
from rag.modes import MODES
from rag.types import Answer, Citation, Filters, Hit, SentenceCheck

if TYPE_CHECKING:
    from rag.index.store import IndexStore
    from rag.llm import LLM
    from rag.retrieval import Retriever
    from rag.settings import Settings
    from rag.support import SupportScorer

History = Sequence[dict[str, str]] | Sequence[tuple[str, str]]
_FOLLOW_UP = re.compile(
    r"^(and|but|also|what about|how about|why|how so|then)\b|\b(it|its|they|them|their|this|that|these|those|"
    r"he|she|his|her|the paper|the method|the model|the authors)\b",
    re.IGNORECASE,
)


def _user_turns(history: History | None) -> list[str]:
    turns: list[str] = []
    for item in history or []:
        if isinstance(item, dict):
            if item.get("role") == "user" and item.get("content"):
                turns.append(str(item["content"]))
        elif item and item[0]:
            turns.append(str(item[0]))
    return turns


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._llms: dict[str, LLM] = {}
        self._lock = threading.Lock()

    # --- parts, opened on first use -------------------------------------------
    @cached_property
    def store(self) -> IndexStore:
        from rag.index.store import IndexStore

        return IndexStore.open_reader(self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        from rag.retrieval import Retriever

        return Retriever(self.store, self.settings.retrieval)

    @cached_property
    def scorer(self) -> SupportScorer:
        from rag.support import SupportScorer

        return SupportScorer(self.store.embedder)

    def llm(self, mode: str) -> LLM:
        with self._lock:
            if mode not in self._llms:
                from rag.llm import make_llm

                self._llms[mode] = make_llm(self.settings, mode)
            return self._llms[mode]

    def warm_up(self) -> None:
        """Load the embedder, Chroma and BM25 now rather than on the first question."""
        self.retriever.search("warm up", 1)

    # --- API ------------------------------------------------------------------
    def search(self, question: str, *, k: int = 10, filters: Filters | None = None) -> list[Hit]:
        return self.retriever.search(question, k, filters)

    def ask(self, question: str, **kwargs: Any) -> Answer:
        answer = None
        for item in self.ask_stream(question, **kwargs):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def ask_stream(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        history: History | None = None,
        mode: str | None = None,
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is produced, then the final :class:`Answer`."""
        mode = mode or self.settings.answer_mode
        if mode not in MODES:
            raise ConfigError(f"unknown answer mode {mode!r}; use one of {', '.join(MODES)}")
        question = question.strip()
        if not question:
            raise ConfigError("the question is empty")
        k = k or self.settings.retrieval.k
        started = time.perf_counter()
        standalone = self.standalone_question(question, history, mode)
        hits = self.retriever.search(standalone, k, filters)
        timings = dict(self.retriever.last_timings)
        strength = evidence.assess(standalone, hits)
        answer = Answer(
            question=question,
            text="",
            citations={},
            sources=hits,
            sentences=[],
            refused=False,
            mode=mode,
            timings=timings,
            standalone_question=standalone if standalone != question else None,
        )
        t_answer = time.perf_counter()
        if strength.weak:
            answer.refused = True
            answer.text = f"{prompt.REFUSAL} ({strength.reason}.) The closest papers are listed below."
            yield answer.text
        elif mode == "extractive":
            quotes = extractive.select_quotes(standalone, hits)
            if not quotes:
                answer.refused = True
                answer.text = f"{prompt.REFUSAL} The closest papers are listed below."
            else:
                # the verbatim quote is the sentence; its citation lives in cites, not in the text
                answer.sentences = [SentenceCheck(q.text, [q.source], 0.0, False) for q in quotes]
                answer.text = citations.answer_text(answer.sentences, quoted=True, intro=extractive.INTRO)
            yield answer.text
        else:
            yield from self._generate(answer, standalone, hits, mode)
        timings["answer_ms"] = (time.perf_counter() - t_answer) * 1000
        if not answer.refused:
            t_support = time.perf_counter()
            self._check_support(answer)
            timings["support_ms"] = (time.perf_counter() - t_support) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        yield answer

    # --- steps ----------------------------------------------------------------
    def standalone_question(self, question: str, history: History | None, mode: str) -> str:
        """A follow-up rewritten to stand alone. LLM modes ask the model; extractive prepends the
        previous question when this one leans on it (a pronoun, "and …", or three words or fewer),
        which keeps the topic words that both retrievers need."""
        previous = _user_turns(history)
        if not previous:
            return question
        if mode != "extractive":
            try:
                return self._rewrite_with_llm(question, history or [], mode) or question
            except Exception:  # a failed rewrite must not fail the question: fall back to the rule
                pass
        if _FOLLOW_UP.search(question) or len(question.split()) <= 3:
            return f"{previous[-1]} {question}"
        return question

    def _rewrite_with_llm(self, question: str, history: History, mode: str) -> str:
        turns = []
        for item in history:
            role, content = (
                (item.get("role", ""), item.get("content", ""))
                if isinstance(item, dict)
                else ("user", item[0])
            )
            turns.append(f"{role}: {content}")
        messages = [
            {"role": "system", "content": prompt.REWRITE_SYSTEM},
            {"role": "user", "content": "\n".join(turns[-6:]) + f"\nuser: {question}\nStandalone question:"},
        ]
        text = "".join(t for t in self.llm(mode).execute(messages, max_tokens=64) if isinstance(t, str))
        text = text.strip().splitlines()[0].strip(' "') if text.strip() else ""
        return text if 3 <= len(text) <= 300 else ""

    def _generate(self, answer: Answer, question: str, hits: list[Hit], mode: str) -> Iterator[str]:
        llm = self.llm(mode)
        messages, used = prompt.build_messages(
            question, hits, llm.count_tokens, llm.context_window, self.settings.llm.max_answer_tokens
        )
        answer.sources = used + [h for h in hits if h not in used]
        parts: list[str] = []
        for item in llm.execute(
            messages,
            max_tokens=self.settings.llm.max_answer_tokens,
            temperature=self.settings.llm.temperature,
        ):
            if isinstance(item, str):
                parts.append(item)
                yield item
            else:
                answer.prompt_tokens, answer.completion_tokens = item.prompt_tokens, item.completion_tokens
        raw = "".join(parts).strip()
        if not raw or prompt.says_cannot_answer(raw):
            answer.refused = True
            answer.text = f"{prompt.REFUSAL} The closest papers are listed below."
            return
        cleaned = citations.clean_markers(raw, len(used))
        answer.sentences = [
            SentenceCheck(body, cites, 0.0, False)
            for body, cites in citations.split_cited_sentences(cleaned, len(used))
        ]
        answer.text = citations.answer_text(answer.sentences) if answer.sentences else cleaned

    def _check_support(self, answer: Answer) -> None:
        sources = answer.sources
        scored: list[SentenceCheck] = []
        for s in answer.sentences:
            quoted = [sources[n - 1].abstract for n in s.cites if 1 <= n <= len(sources)]
            if answer.mode == "extractive" and any(s.text in abstract for abstract in quoted):
                # A verbatim quote of an abstract it cites is supported as it stands. It skips the
                # scorer, which strips "[n]" from sentences and so would no longer find a quote that
                # carries the abstract's own bracketed numbers ("… before [1][2][3].").
                s.support, s.supported, s.reason, s.evidence = 1.0, True, "", s.text
            else:
                scored.append(s)
        # the title counts as cited text too: sentences often name the paper by its title words
        items = [
            (s.text, [f"{sources[n - 1].title}.\n{sources[n - 1].abstract}" for n in s.cites]) for s in scored
        ]
        for sentence, result in zip(scored, self.scorer.check_many(items) if items else [], strict=True):
            sentence.support = round(result.score, 3)
            sentence.supported = result.supported
            sentence.reason = result.reason
            sentence.evidence = result.evidence
        cited = sorted({n for s in answer.sentences for n in s.cites})
        answer.citations = {
            n: Citation(
                n, sources[n - 1].paper_id, sources[n - 1].title, sources[n - 1].year, sources[n - 1].url
            )
            for n in cited
        }
