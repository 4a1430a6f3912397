"""The ``llm`` verifier: any OpenAI-compatible model asked, in MiniCheck's format, whether a cited
abstract supports a statement.

MiniCheck (Tang et al., EMNLP 2024) and Bespoke-MiniCheck-7B take "Document: {document}\\nClaim:
{claim}" under a fixed system prompt and answer Yes or No; ``bespoke-minicheck`` served by Ollama
or vLLM is therefore a drop-in choice, and any instruction-following model can be asked the same.
Each statement is asked against each abstract it cites (title and abstract; when that doesn't fit the
model's window, the sentences sharing most words with the statement, in their order), through the
project's one LLM code path (rag/llm.py: same retries, same errors).

A Yes/No model can't say "contradicted" unless asked. With ``contradiction`` on (the default), a
statement no cited abstract supports is asked a second question in the same format — does the
document contradict the claim? — and a Yes makes it contradicted; otherwise it is not_enough_info.
MiniCheck models are trained for the first question only: turn it off for them (every No then reads
not_enough_info). The model gives no probability (Ollama returns the word only), so the score is 1.0
for supported and 0.0 otherwise; the evidence named is the sentence sharing most words with the
statement, since the model points at none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.llm import LLM, Message, Usage
from rag.support import PreparedAbstract, prepare, verbatim
from rag.text import content_terms, strip_markers
from rag.verify import Evidence, Source, Statement, Verdict
from rag.verify.reasons import not_said, quote, says_otherwise

#: MiniCheck's system prompt (as Bespoke-MiniCheck's Ollama model and the MiniCheck code use it).
SUPPORT_SYSTEM = (
    "Determine whether the provided claim is consistent with the corresponding document. Consistency in "
    "this context implies that all information presented in the claim is substantiated by the document. "
    "If not, it should be considered inconsistent. Please assess the claim's consistency with the "
    'document by responding with either "Yes" or "No".'
)
#: The second question, in the same shape.
CONTRADICTION_SYSTEM = (
    "Determine whether the provided claim contradicts the corresponding document. A contradiction means "
    "the document states something incompatible with the claim, such as the opposite finding, a "
    "different number or the reverse comparison; a claim the document simply does not mention is not "
    'contradicted. Please assess by responding with either "Yes" or "No".'
)
_ANSWER = re.compile(r"^\W*(yes|no)\b", re.IGNORECASE)


def user_prompt(document: str, claim: str) -> str:
    return f"Document: {document}\nClaim: {claim}"


def read_answer(reply: str) -> bool | None:
    """True for Yes, False for No, None for anything else (the reply's first word decides)."""
    match = _ANSWER.match(reply)
    return None if match is None else match.group(1).lower() == "yes"


def closest_sentence(claim: str, abstract: PreparedAbstract) -> str:
    """The abstract sentence sharing most content terms with the claim (the first, on ties)."""
    words = content_terms(claim)
    return max(abstract.sentences, key=lambda s: len(words & content_terms(s)), default="")


class LLMVerifier:
    name = "llm"

    def __init__(
        self,
        llm: LLM,
        *,
        contradiction: bool = True,
        max_tokens: int = 8,
        min_quote_words: int = 4,
        slack_tokens: int = 64,
    ) -> None:
        self.llm = llm
        self.contradiction = contradiction
        self.max_tokens = max_tokens
        self.min_quote_words = min_quote_words
        self.slack_tokens = slack_tokens

    def verify(self, statements: Sequence[Statement]) -> list[Verdict]:
        return [self._verify(s) for s in statements]

    def _verify(self, statement: Statement) -> Verdict:
        claim = strip_markers(statement.text)
        sources = [s for s in statement.sources if (s.title + s.abstract).strip()]
        if not sources:
            return Verdict("not_enough_info", 0.0, reason="cites no source")
        if not content_terms(claim):  # "", "?", "it is": nothing to support
            return Verdict("not_enough_info", 0.0, reason="the sentence states nothing to check")
        abstracts = [prepare(s.text) for s in sources]
        found = verbatim(claim, abstracts, self.min_quote_words)
        if found:
            return Verdict("supported", 1.0, (Evidence(found[1], sources[found[0]].paper_id, 1.0),))
        unclear: list[str] = []
        for source, abstract in zip(sources, abstracts, strict=True):
            answer, reply = self._ask(SUPPORT_SYSTEM, abstract, claim)
            if answer:
                return Verdict("supported", 1.0, self._evidence(claim, source, abstract))
            if answer is None:
                unclear.append(reply)
        if self.contradiction:
            for source, abstract in zip(sources, abstracts, strict=True):
                answer, reply = self._ask(CONTRADICTION_SYSTEM, abstract, claim)
                if answer:
                    evidence = self._evidence(claim, source, abstract)
                    against = evidence[0].sentence if evidence else ""
                    return Verdict("contradicted", 0.0, evidence, says_otherwise(len(sources), against))
                if answer is None:
                    unclear.append(reply)
        reason = not_said(len(sources))
        if unclear:
            reason += f" (the verifying model answered neither Yes nor No: {quote(unclear[0].strip())})"
        best = max(
            zip(sources, abstracts, strict=True), key=lambda sa: len(content_terms(claim) & sa[1].words)
        )
        return Verdict("not_enough_info", 0.0, self._evidence(claim, *best), reason)

    def _evidence(self, claim: str, source: Source, abstract: PreparedAbstract) -> tuple[Evidence, ...]:
        sentence = closest_sentence(claim, abstract)
        return (Evidence(sentence, source.paper_id, 0.0),) if sentence else ()

    def _ask(self, system: str, abstract: PreparedAbstract, claim: str) -> tuple[bool | None, str]:
        messages: list[Message] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user_prompt(self._fit(system, abstract, claim), claim)},
        ]
        reply = "".join(
            part
            for part in self.llm.execute(messages, max_tokens=self.max_tokens, temperature=0.0)
            if not isinstance(part, Usage)
        )
        return read_answer(reply), reply

    def _fit(self, system: str, abstract: PreparedAbstract, claim: str) -> str:
        """The abstract, or when it doesn't fit the window its sentences sharing most words with the
        claim (kept in their order), as many as fit."""
        budget = self.llm.context_window - self.max_tokens - self.slack_tokens
        count = self.llm.count_tokens
        fixed = count(system) + count(user_prompt("", claim))
        if fixed + count(abstract.text) <= budget:
            return abstract.text
        words = content_terms(claim)
        ranked = sorted(
            range(len(abstract.sentences)), key=lambda i: -len(words & content_terms(abstract.sentences[i]))
        )
        kept: list[int] = ranked[:1]  # the best sentence at least: too long, the endpoint says so clearly
        used = fixed + sum(count(abstract.sentences[i]) + 1 for i in kept)
        for i in ranked[1:]:
            cost = count(abstract.sentences[i]) + 1
            if used + cost <= budget:
                kept.append(i)
                used += cost
        return " ".join(abstract.sentences[i] for i in sorted(kept))
