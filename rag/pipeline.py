"""One question through the stages, and the :class:`~rag.types.Answer` assembled once at the end.

    rewrite → retrieve → gate → answer → verify → assemble

A :class:`Pipeline` is a value made for one request from the engine's shared, thread-safe parts
and the answer mode's answerer; everything a request produces (timings, the draft, the checks)
lives in local variables, never on the parts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from rag import citations, followup, prompt
from rag.errors import ConfigError
from rag.stages import Answerer, Gate, Rewriter, Searcher, SentenceChecker
from rag.text import content_terms, without_titles
from rag.types import Answer, Citation, Draft, Filters, History, SentenceCheck


@dataclass(frozen=True)
class Pipeline:
    mode: str  # the answer mode's name, recorded on the Answer
    rewriter: Rewriter
    searcher: Searcher
    gate: Gate
    answerer: Answerer
    verifier: SentenceChecker

    def run(
        self, question: str, *, k: int, filters: Filters | None = None, history: History | None = None
    ) -> Iterator[str | Answer]:
        """Yield answer text as it is produced, then the final :class:`Answer`.

        An answerer that streams (an LLM) yields its text as it comes; otherwise the answer's text
        is yielded once, before the (slower) verification."""
        question = question.strip()
        if not question:
            raise ConfigError("the question is empty")
        started = time.perf_counter()
        # references to the previous answer ("the second paper", "they") are resolved in every mode;
        # what that leaves is the mode's rewriter's (a model's, or the rule's)
        resolved = followup.resolve(question, history)
        if resolved.question != question:
            standalone = resolved.question
        else:
            standalone = self.rewriter.rewrite(question, history)
        retrieval = self.searcher.retrieve(standalone, k, filters)
        timings = dict(retrieval.timings)
        hits = list(retrieval.hits)
        asked = standalone
        if resolved.papers:  # a follow-up about named papers is answered from those papers
            hits = followup.find_papers(resolved.papers, hits) or hits
            # and the gate weighs what is asked of them (their titles are no words of the question),
            # unless nothing is ("What does “X” find?": the titles are all there is to weigh)
            topic = without_titles(standalone)
            asked = topic if content_terms(topic, question=True) else standalone
        evidence = self.gate.assess(asked, hits)
        t_answer = time.perf_counter()
        streamed = False
        if evidence.weak:
            draft = Draft.refusal(hits, evidence.reason)
        else:
            found: Draft | None = None
            for item in self.answerer.answer(standalone, hits):
                if isinstance(item, Draft):
                    found = item
                else:
                    streamed = True
                    yield item
            if found is None:
                raise RuntimeError(f"the {self.mode} answerer ended without a draft")
            draft = found
        text = draft_text(draft)
        if not streamed:
            yield text
        timings["answer_ms"] = (time.perf_counter() - t_answer) * 1000
        checks: list[SentenceCheck] = []
        if not draft.refused:
            t_verify = time.perf_counter()
            checks = self.verifier.verify(draft.claims, draft.sources)
            timings["support_ms"] = (time.perf_counter() - t_verify) * 1000
        timings["total_ms"] = (time.perf_counter() - started) * 1000
        yield assemble(question, standalone, self.mode, draft, text, checks, timings)


def draft_text(draft: Draft) -> str:
    """``Answer.text`` for a draft: the refusal, or its claims with our markers (from ``cites`` only)."""
    if draft.refused:
        return refusal_text(draft.refusal_reason)
    if not draft.claims:
        return draft.text
    return citations.answer_text(draft.claims, intro=draft.intro)


def refusal_text(reason: str = "") -> str:
    """What a refused answer says, in sentences: that the abstracts don't answer it, why (the gate's
    reason, e.g. "None of them says how much participants were paid."), and where to look instead."""
    why = reason.strip()
    if why:
        why = why[0].upper() + why[1:]
        why = f" {why if why[-1] in '.!?' else why + '.'}"
    return f"{prompt.REFUSAL}{why} The closest papers are listed below."


def assemble(
    question: str,
    standalone: str,
    mode: str,
    draft: Draft,
    text: str,
    checks: list[SentenceCheck],
    timings: dict[str, float],
) -> Answer:
    """The Answer, built once: sources as the draft numbered them, a citation for every number cited."""
    sources = draft.sources
    cited = sorted({n for s in checks for n in s.cites if 1 <= n <= len(sources)})
    return Answer(
        question=question,
        text=text,
        citations={
            n: Citation(
                n, sources[n - 1].paper_id, sources[n - 1].title, sources[n - 1].year, sources[n - 1].url
            )
            for n in cited
        },
        sources=sources,
        sentences=checks,
        refused=draft.refused,
        mode=mode,
        timings=timings,
        prompt_tokens=draft.prompt_tokens,
        completion_tokens=draft.completion_tokens,
        standalone_question=standalone if standalone != question else None,
        intro="" if draft.refused or not draft.claims else draft.intro,
    )
