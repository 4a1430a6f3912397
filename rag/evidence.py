"""Does some retrieved sentence answer what is asked? (calibrated refusal: the gate stage)

A question is answered only when the retrieved text holds what it asks for, not merely when its
topic is close. The gate reads the question (:mod:`rag.answerability`: a figure, a name, a
description or an open question, and the asked-for words) and the sentences of the top retrieved
abstracts, and measures:

- paper level — ``dense``: exp(best dense cosine − 1); ``coverage``: the largest share of the
  question's terms found in one retrieved paper; ``missing``: the question names something
  ('Elo', 'ADHD-200') no retrieved abstract mentions;
- sentence level, over the sentences of the top ``sentence_papers`` papers — ``cosine``: the
  best question–sentence cosine; ``overlap``: the largest share of the question's terms in one
  sentence; ``relevance``: the best cosine + ``overlap_weight`` × overlap;
- the answer slot (figure and name questions) — ``typed_relevance``: the relevance of the best
  sentence holding a number (a name) at all; ``slot_relevance``: of the best sentence holding one
  next to an asked-for word; ``slot_gap``: how much less relevant the top paper's best
  number-holding sentence is than its best sentence (a near miss's most relevant sentences talk
  about the asked-for thing without giving it); ``slot``: the top paper has a filled slot;
  ``anchors``: the share of asked-for words in the top paper's best sentence for them.

Two logistic models (figure/name questions; open/description questions) turn the signals into the
probability that the question is answerable; below ``answer_threshold`` it is refused. Weights
and threshold are fitted by ``python -m evals.calibrate_refusal`` on a calibration half of the
question sets and stored in rag/calibration.json (settings section ``refusal``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.answerability import (
    Ask,
    anchor_share,
    as_asked,
    has_answer_type,
    read_question,
    read_sentence,
    sentences_of,
    slot_filled,
)
from rag.embedders import Embedder
from rag.text import NameIndex, content_terms, names_in
from rag.types import Hit
from rag.vector_cache import VectorCache

if TYPE_CHECKING:
    import numpy as np

    from rag.settings import RefusalSettings

#: The model each kind of question is judged by, and the signals it reads (besides an intercept).
FEATURES: dict[str, tuple[str, ...]] = {
    "typed": (
        "dense",
        "coverage",
        "cosine",
        "overlap",
        "relevance",
        "typed_relevance",
        "slot_relevance",
        "slot_gap",
        "anchors",
        "slot",
        "missing",
        "quantity",
    ),
    "open": ("dense", "coverage", "cosine", "overlap", "missing", "anchors", "description"),
}

Vectors = Callable[[Sequence[str]], Mapping[str, "np.ndarray"]]


@dataclass(frozen=True)
class Signals:
    """What the gate measures of one question's retrieved papers, before the model weighs it (the
    calibration measures each question once and fits the model on these)."""

    ask: Ask
    values: dict[str, float]  # FEATURES' signals by name
    missing: list[str]  # names the question asks about that no retrieved abstract mentions
    slot_in_top: bool  # the top paper holds a sentence with the asked-for figure or name

    @property
    def group(self) -> str:
        return "typed" if self.ask.typed else "open"


@dataclass(frozen=True)
class Evidence:
    strength: float  # the probability that the question is answerable from the retrieved papers
    coverage: float
    missing: list[str]  # names the question asks about that no retrieved abstract mentions
    weak: bool  # too weak to answer: refuse
    reason: str  # why, as a sentence for a human; '' when it isn't weak
    signals: Signals | None = field(default=None, compare=False)


def measure(
    question: str, hits: Sequence[Hit], vectors: Vectors, settings: RefusalSettings
) -> Signals | None:
    """The gate's signals for ``hits`` (module docstring); None when nothing was retrieved."""
    if not hits:
        return None
    ask = read_question(question)
    coverage = max(
        len(ask.terms & as_asked(content_terms(f"{h.title} {h.abstract}"), ask)) / max(len(ask.terms), 1)
        for h in hits
    )
    dense = math.exp(max((h.dense_score or 0.0) for h in hits) - 1.0)
    retrieved = [NameIndex.of(f"{h.title}. {h.abstract}") for h in hits]
    missing = sorted(e for e in names_in(question) if not any(r.mentions(e) for r in retrieved))

    read = settings.sentence_papers
    units = [
        (rank, i == 0, text)
        for rank, h in enumerate(hits[:read])
        for i, text in enumerate(_sentences(h, settings))
    ]
    vecs = vectors([question, *(text for _, _, text in units)])
    q = vecs[question]
    best = {"cosine": 0.0, "overlap": 0.0, "relevance": 0.0, "typed_relevance": 0.0, "slot_relevance": 0.0}
    top_best = top_typed = top_anchors = 0.0
    slot_in_top = False
    for rank, title, text in units:
        sentence = read_sentence(text)
        cosine = float(q @ vecs[text])
        overlap = len(ask.terms & sentence.terms) / max(len(ask.terms), 1)
        relevance = cosine + settings.overlap_weight * overlap
        typed = has_answer_type(sentence, ask, title)
        slot = slot_filled(sentence, ask, settings.slot_window, title)
        best["cosine"] = max(best["cosine"], cosine)
        best["overlap"] = max(best["overlap"], overlap)
        best["relevance"] = max(best["relevance"], relevance)
        if typed:
            best["typed_relevance"] = max(best["typed_relevance"], relevance)
        if slot:
            best["slot_relevance"] = max(best["slot_relevance"], relevance)
        if rank == 0:
            top_best = max(top_best, relevance)
            top_typed = max(top_typed, relevance) if typed else top_typed
            top_anchors = max(top_anchors, anchor_share(frozenset(sentence.stems), ask))
            slot_in_top = slot_in_top or slot
    values = {
        "dense": dense,
        "coverage": coverage,
        **best,
        "slot_gap": top_best - top_typed,
        "anchors": top_anchors,
        "slot": float(slot_in_top),
        "missing": float(bool(missing)),
        "quantity": float(ask.kind == "quantity"),
        "description": float(ask.kind == "description"),
    }
    return Signals(ask, values, missing, slot_in_top)


def _sentences(hit: Hit, settings: RefusalSettings) -> tuple[str, ...]:
    return sentences_of(hit.title, hit.abstract, settings.min_sentence_chars)


def answerable_probability(signals: Signals, settings: RefusalSettings) -> float:
    """The calibrated logistic model of ``signals``' group, applied to its signals."""
    weights = settings.model.get(signals.group, {})
    z = weights.get("intercept", 0.0) + sum(
        weights.get(k, 0.0) * signals.values[k] for k in FEATURES[signals.group]
    )
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def decide(signals: Signals | None, settings: RefusalSettings) -> Evidence:
    """The verdict of ``settings``' model and threshold on measured signals."""
    if signals is None:
        return Evidence(0.0, 0.0, [], True, "No indexed paper matches the question.")
    p = answerable_probability(signals, settings)
    coverage = signals.values["coverage"]
    if p >= settings.answer_threshold:
        return Evidence(p, coverage, signals.missing, False, "", signals)
    return Evidence(p, coverage, signals.missing, True, _reason(signals), signals)


def _reason(signals: Signals) -> str:
    """Why a refused question is refused, as a sentence about the closest abstracts."""
    if signals.missing:
        return f"None of them mentions {_listing(signals.missing)}."
    ask = signals.ask
    if ask.typed and ask.clause and not signals.slot_in_top:
        return f"None of them says {ask.clause}."
    return "None of them is close enough to the question to answer it."


def _listing(items: Sequence[str]) -> str:
    quoted = [f"'{i}'" for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


class EvidenceGate:
    """Decides answerability from the retrieved papers alone, before any answer is written. Sentence
    vectors are cached (thread-safe LRU, shared by concurrent requests)."""

    def __init__(
        self, settings: RefusalSettings, embedder: Embedder, cache: VectorCache | None = None
    ) -> None:
        self.settings = settings
        # ``cache``: the engine's, shared with the verifier (both embed the same abstract sentences)
        self.cache = cache if cache is not None else VectorCache(embedder, settings.cache_size)

    def measure(self, question: str, hits: Sequence[Hit]) -> Signals | None:
        return measure(question, hits, self.cache.vectors, self.settings)

    def assess(self, question: str, hits: Sequence[Hit]) -> Evidence:
        return decide(self.measure(question, hits), self.settings)
