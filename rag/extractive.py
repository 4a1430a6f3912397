"""Extractive answers: quote the abstract sentences that best answer the question.

No generative model, so nothing can be invented: every sentence is a verbatim quote
with its citation (the engine keeps the citation beside the quote, never inside it: see
``rag.citations.answer_text``). Sentences are scored without embedding them (that would cost ~2.5 ms
a sentence on this CPU): IDF-weighted overlap with the question's content words, a
bonus for sitting in the paper's best-matching chunk (which the dense retriever already
scored), and the paper's rank. It answers in milliseconds after retrieval. Its weights are settings
(``answer.quote_*``, :class:`rag.settings.AnswerSettings`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.text import content_terms, split_sentences
from rag.types import Hit

if TYPE_CHECKING:
    from rag.settings import AnswerSettings

INTRO = "From the indexed abstracts (quoted verbatim):"
#: A sentence is "in the best chunk" when its opening characters are: chunking may cut its end off.
_CHUNK_MATCH_CHARS = 60


@dataclass(frozen=True)
class Quote:
    text: str
    source: int  # 1-based source number
    score: float


def select_quotes(question: str, hits: Sequence[Hit], settings: AnswerSettings) -> list[Quote]:
    """The abstract sentences that best answer ``question``, in reading order (at most
    ``settings.max_sentences``); none when there is nothing to quote or the question has no content
    word."""
    asked = content_terms(question, question=True)
    candidates: list[tuple[float, int, int, str, frozenset[str]]] = []
    for rank, hit in enumerate(hits):
        for position, sentence in enumerate(split_sentences(hit.abstract)):
            sentence = sentence.strip()
            if len(sentence) > settings.quote_min_chars:
                candidates.append((0.0, rank, position, sentence, content_terms(sentence)))
    if not candidates or not asked:
        return []
    df: dict[str, int] = {}
    for *_, stems in candidates:
        for s in sorted(stems & asked):
            df[s] = df.get(s, 0) + 1
    idf = {s: math.log(1 + len(candidates) / n) for s, n in df.items()}
    # Sums in sorted order, scores rounded: set order varies between processes (hash seeds), and
    # float sums in another order differ in the last bit, which would break ties differently per run.
    total = sum(idf[s] for s in sorted(idf)) or 1.0
    scored = []
    for _, rank, position, sentence, stems in candidates:
        overlap = sum(idf.get(s, 0.0) for s in sorted(stems & asked)) / total
        in_chunk = sentence[:_CHUNK_MATCH_CHARS] in hits[rank].chunk
        in_best_chunk = settings.quote_chunk_bonus if in_chunk else 0.0
        rank_bonus = settings.quote_rank_weight / (1 + rank)
        scored.append((round(overlap + in_best_chunk + rank_bonus, 9), rank, position, sentence, stems))
    scored.sort(key=lambda c: (-c[0], c[1], c[2]))
    best = scored[0][0]
    chosen: list[tuple[float, int, int, str, frozenset[str]]] = []
    for cand in scored:
        if len(chosen) >= settings.max_sentences or cand[0] < settings.quote_min_relative_score * best:
            break
        if any(len(cand[4] & c[4]) > settings.quote_max_shared_words * max(len(cand[4]), 1) for c in chosen):
            continue  # near-duplicate of a chosen sentence (papers repeat their claims)
        chosen.append(cand)
    chosen.sort(key=lambda c: (c[1], c[2]))  # reading order: source, then position in its abstract
    return [Quote(text=c[3], source=c[1] + 1, score=c[0]) for c in chosen]
