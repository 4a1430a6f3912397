"""Extractive answers: quote the abstract sentences that answer the question, in the question's shape.

No generative model, so nothing can be invented: every sentence is a verbatim quote with its
citation (the engine keeps the citation beside the quote, never inside it: see
``rag.citations.answer_text``). Sentences are scored without embedding them of their own (embedding
costs ~2 ms a sentence on this CPU; a paper-by-paper answer uses the vectors the gate and the verifier
embed anyway, below): IDF-weighted overlap with the question's content words, a bonus for
sitting in the paper's best-matching chunk (which the dense retriever already scored), the paper's
rank; except for a fact, a bonus for a contribution ("we propose", "we find") and a penalty for
background ("In recent years", "remains challenging", an abstract's opening sentence).

The question's shape (:mod:`rag.question_shape`) decides the answer's form:

- ``which`` / ``compare``: one line per relevant paper (its best sentences), papers in retrieval order;
  the top paper is relevant, and a paper below it when :mod:`rag.paper_rank`'s fitted model of its
  retrieval score says the question needs it (without that model: when its best sentence scores at
  least ``synthesis_rank_step`` × (rank − 1) of the best paper's), provided its best sentence scores
  above zero (overlap and cues); a paper the question names is always given a line. Given the
  question–sentence cosines (the engine passes them from its shared sentence vectors), a paper's
  sentences are then ordered by :mod:`rag.sentence_rank`'s fitted model, which finds the sentence
  holding the asked-for method or finding more often than the overlap score;
- ``about``: the sentences of the one paper the question is about;
- ``fact``: the best sentences wherever they are (a paper may give several).

Its weights are settings (``answer.quote_*``, ``answer.synthesis_*``, :class:`rag.settings.AnswerSettings`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag import paper_rank, sentence_rank
from rag.question_shape import QuestionShape, read_shape
from rag.sentence_rank import Similarity
from rag.text import NameIndex, content_terms, is_generic, split_sentences, without_titles
from rag.types import Hit

if TYPE_CHECKING:
    from rag.settings import AnswerSettings

INTRO = "From the indexed abstracts (quoted verbatim):"
#: The intro of an answer with one line per paper.
PER_PAPER_INTRO = "From the indexed abstracts, paper by paper (quoted verbatim):"
#: A sentence is "in the best chunk" when its opening characters are: chunking may cut its end off.
_CHUNK_MATCH_CHARS = 60


@dataclass(frozen=True)
class Quote:
    text: str
    source: int  # 1-based source number
    score: float


@dataclass(frozen=True)
class _Candidate:
    score: float  # overlap + cues + chunk bonus (no rank bonus: that is added where papers compete)
    rank: int  # the paper's 0-based rank
    position: int  # the sentence's position in its abstract
    text: str
    stems: frozenset[str]
    overlap: float = 0.0  # the IDF-weighted share of the question's content words alone
    of: int = 0  # how many sentences its abstract has


def select_quotes(
    question: str, hits: Sequence[Hit], settings: AnswerSettings, similarity: Similarity | None = None
) -> list[Quote]:
    """The abstract sentences that answer ``question``, shaped by :func:`read_shape` (module
    docstring); none when there is nothing to quote or the question has no content word.

    Titles in curly quotes (a follow-up resolved to papers: "What does “Title” find?") say which
    papers, not what is asked: they are left out of the scoring, and every paper gets its lines
    (the pipeline gave only those papers). ``similarity`` gives question–sentence cosines: with
    it, a paper-by-paper answer orders each paper's sentences by the fitted model."""
    shape = read_shape(question)
    topic = without_titles(question)
    focused = topic != question
    candidates = _score(topic, hits, settings, cues=shape.shape != "fact", focused=focused)
    if not candidates:
        return []
    if shape.per_paper:
        model = (topic, similarity) if similarity is not None and settings.sentence_model else None
        chosen = _per_paper(shape, candidates, hits, settings, every_paper=focused, model=model)
    elif shape.shape == "about":
        about = _paper_about(shape, candidates, hits)
        chosen = _best(
            [c for c in candidates if c.rank == about], settings, settings.quote_min_relative_score
        )
    else:
        chosen = _best(candidates, settings, settings.quote_min_relative_score)
    chosen.sort(key=lambda c: (c.rank, c.position))  # paper by paper, each in reading order
    return [Quote(text=c.text, source=c.rank + 1, score=c.score) for c in chosen]


def _score(
    question: str, hits: Sequence[Hit], settings: AnswerSettings, cues: bool, focused: bool = False
) -> list[_Candidate]:
    """Every quotable sentence, scored; ``cues``: with the contribution bonus and background penalty
    (not for a fact, whose figure may sit in any sentence: there they cost fact coverage); ``focused``:
    the papers are given, so a question without content words ("What does “X” find?") still scores."""
    asked = content_terms(question, question=True)
    raw: list[tuple[int, int, str, frozenset[str], int]] = []
    for rank, hit in enumerate(hits):
        sentences = split_sentences(hit.abstract)
        for position, sentence in enumerate(sentences):
            sentence = sentence.strip()
            if len(sentence) > settings.quote_min_chars:
                raw.append((rank, position, sentence, content_terms(sentence), len(sentences)))
    if not raw or (not asked and not focused):
        return []
    df: dict[str, int] = {}
    for *_, stems, _ in raw:
        for s in sorted(stems & asked):
            df[s] = df.get(s, 0) + 1
    idf = {s: math.log(1 + len(raw) / n) for s, n in df.items()}
    # Sums in sorted order, scores rounded: set order varies between processes (hash seeds), and
    # float sums in another order differ in the last bit, which would break ties differently per run.
    total = sum(idf[s] for s in sorted(idf)) or 1.0
    background = [c.lower() for c in settings.quote_background_cues] if cues else []
    contribution = [c.lower() for c in settings.quote_answer_cues] if cues else []
    out = []
    for rank, position, sentence, stems, of in raw:
        overlap = sum(idf.get(s, 0.0) for s in sorted(stems & asked)) / total
        low = sentence.lower()
        bonus = settings.quote_chunk_bonus if sentence[:_CHUNK_MATCH_CHARS] in hits[rank].chunk else 0.0
        if any(c in low for c in contribution):
            bonus += settings.quote_answer_bonus
        if any(c in low for c in background):
            bonus -= settings.quote_background_penalty
        if position == 0 and cues:
            bonus -= settings.quote_background_penalty / 2
        out.append(
            _Candidate(round(overlap + bonus, 9), rank, position, sentence, stems, round(overlap, 9), of)
        )
    return out


def _with_rank(c: _Candidate, settings: AnswerSettings) -> float:
    return round(c.score + settings.quote_rank_weight / (1 + c.rank), 9)


def _best(candidates: list[_Candidate], settings: AnswerSettings, min_share: float) -> list[_Candidate]:
    """The best sentences over all papers (a paper may give several), near-duplicates skipped."""
    scored = sorted(candidates, key=lambda c: (-_with_rank(c, settings), c.rank, c.position))
    if not scored:
        return []
    best = _with_rank(scored[0], settings)
    chosen: list[_Candidate] = []
    for cand in scored:
        if len(chosen) >= settings.max_sentences or _with_rank(cand, settings) < min_share * best:
            break
        if not _near_duplicate(cand, chosen, settings):
            chosen.append(cand)
    return chosen


def _near_duplicate(cand: _Candidate, chosen: list[_Candidate], settings: AnswerSettings) -> bool:
    """Shares most of its content words with a chosen sentence (papers repeat their claims)."""
    limit = settings.quote_max_shared_words * max(len(cand.stems), 1)
    return any(len(cand.stems & c.stems) > limit for c in chosen)


def _per_paper(
    shape: QuestionShape,
    candidates: list[_Candidate],
    hits: Sequence[Hit],
    settings: AnswerSettings,
    every_paper: bool = False,
    model: tuple[str, Similarity] | None = None,
) -> list[_Candidate]:
    """Each relevant paper's best sentences (every paper's, with ``every_paper``), the papers the
    question names first. With ``model`` (the question as scored, and its cosines), a paper's
    sentences are its top ones by the fitted model; otherwise its best and those scoring nearly as well."""
    best: dict[int, _Candidate] = {}
    for c in sorted(candidates, key=lambda c: (-c.score, c.rank, c.position)):
        best.setdefault(c.rank, c)
    top = max(c.score for c in best.values())
    named = _named_papers(shape, hits)

    def relevant(c: _Candidate) -> bool:
        if every_paper:
            return True
        if top <= 0 or c.score <= 0:
            return False
        if settings.paper_model:
            return paper_rank.needed(hits, c.rank, settings.paper_model, settings.paper_threshold)
        return c.score >= settings.synthesis_rank_step * (c.rank - 1) * top

    keep = [c for c in sorted(best.values(), key=lambda c: c.rank) if c.rank in named or relevant(c)]
    keep.sort(key=lambda c: (c.rank not in named, -c.score, c.rank))
    keep = keep[: settings.synthesis_max_papers]
    if model is not None:
        return _ranked_within_papers(model[0], [c.rank for c in keep], candidates, settings, model[1])
    more: list[_Candidate] = []
    for first in keep:  # a paper's next sentences that score nearly as well (its finding after its method)
        own = [first]
        for c in sorted(candidates, key=lambda c: (-c.score, c.position)):
            if len(own) >= settings.synthesis_sentences_per_paper:
                break
            if (
                c.rank == first.rank
                and c is not first
                and c.score >= settings.synthesis_next_share * first.score
            ) and not _near_duplicate(c, own, settings):
                own.append(c)
        more += own[1:]
    return keep + more


def _ranked_within_papers(
    question: str,
    papers: Sequence[int],
    candidates: list[_Candidate],
    settings: AnswerSettings,
    similarity: Similarity,
) -> list[_Candidate]:
    """Each of ``papers`` (ranks) with its top ``synthesis_sentences_per_paper`` sentences by the fitted
    model (near-duplicates skipped; past the second, only those scoring ``synthesis_extra_min_score``)."""
    out: list[_Candidate] = []
    for own in _signals(question, candidates, settings, similarity, papers).values():
        scored = sorted(
            ((sentence_rank.score(signals, settings.sentence_model), cand) for cand, signals in own),
            key=lambda pair: (-pair[0], pair[1].position),
        )
        picked: list[_Candidate] = []
        for logit, cand in scored:
            if len(picked) >= settings.synthesis_sentences_per_paper:
                break
            if len(picked) >= 2 and logit < settings.synthesis_extra_min_score:
                break  # a third sentence only when it likely holds an answer, not the paper's background
            if not _near_duplicate(cand, picked, settings):
                picked.append(cand)
        out += picked
    return out


def sentence_signals(
    question: str, hits: Sequence[Hit], settings: AnswerSettings, similarity: Similarity
) -> dict[int, list[tuple[sentence_rank.Sentence, float, dict[str, float]]]]:
    """Each paper's (0-based rank) quotable sentences: the sentence, its overlap-and-cues score, and
    its :mod:`rag.sentence_rank` signals — what the model is fitted on (evals/calibrate_quotes.py)."""
    shape = read_shape(question)
    topic = without_titles(question)
    candidates = _score(topic, hits, settings, cues=shape.shape != "fact", focused=topic != question)
    papers = list(dict.fromkeys(c.rank for c in candidates))
    return {
        rank: [
            (sentence_rank.Sentence(c.text, c.position, c.overlap, c.of), c.score, signals)
            for c, signals in own
        ]
        for rank, own in _signals(topic, candidates, settings, similarity, papers).items()
    }


def _signals(
    question: str,
    candidates: list[_Candidate],
    settings: AnswerSettings,
    similarity: Similarity,
    papers: Sequence[int],
) -> dict[int, list[tuple[_Candidate, dict[str, float]]]]:
    own = {rank: [c for c in candidates if c.rank == rank] for rank in papers}
    texts = [c.text for rank in papers for c in own[rank]]
    cosine = dict(zip(texts, similarity(question, texts), strict=True)) if texts else {}
    out = {}
    for rank in papers:
        signals = sentence_rank.features(
            own[rank],
            [cosine[c.text] for c in own[rank]],
            settings.quote_answer_cues,
            settings.quote_background_cues,
        )
        out[rank] = list(zip(own[rank], signals, strict=True))
    return out


def _named_papers(shape: QuestionShape, hits: Sequence[Hit]) -> set[int]:
    """Ranks of papers whose title names something the question names ("LoFiT", "GrAInS"; not the
    field's vocabulary: "LLMs" names no paper)."""
    names = [n for n in shape.names if not is_generic(n)]
    if not names:
        return set()
    titles = [NameIndex.of(h.title) for h in hits]
    return {rank for rank, t in enumerate(titles) if any(t.mentions(n) for n in names)}


def _paper_about(shape: QuestionShape, candidates: list[_Candidate], hits: Sequence[Hit]) -> int:
    """The rank of the paper an about-question is about: the first whose title names what it names,
    else the paper of the best sentence."""
    named = _named_papers(shape, hits)
    if named:
        return min(named)
    return max(candidates, key=lambda c: (c.score + 1.0 / (1 + c.rank), -c.rank)).rank
