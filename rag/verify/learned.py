"""The ``learned`` verifier (the default): a small model over frozen MiniLM similarities and explicit
signals, offline and on the CPU.

Per cited abstract, the model (:mod:`rag.verify.model`, trained by ``python -m evals.train_verifier``)
gives three logits; the decision fitted on held-apart data (rag/calibration.json) turns them into
supported / contradicted / not_enough_info. rag/support.py's hard checks stay in front as a veto: a
number or a name the statement states that no cited abstract holds, or a comparison the other way
round, makes "supported" impossible (it then reads contradicted or not_enough_info by the same rule).
A statement is supported when any cited abstract supports it, else contradicted when one contradicts
it, else not_enough_info. A verbatim quote of a cited abstract is supported with no model at all.

Vectors of claims and abstract units are kept in a :class:`~rag.vector_cache.VectorCache`; only
what is missing is embedded, in one call per ``verify``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.embedders import Embedder
from rag.support import PreparedAbstract, hard_check, prepare, verbatim
from rag.text import content_terms, strip_markers
from rag.vector_cache import VectorCache
from rag.verify import LABELS, Evidence, Source, Statement, Verdict
from rag.verify.features import Units, abstract_units, evidence_order, make_block
from rag.verify.model import Decision, PairModel
from rag.verify.reasons import not_said, says_otherwise

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class _PairVerdict:
    """One cited abstract's verdict on a statement."""

    label: int  # 0 supported, 1 contradicted, 2 not_enough_info
    probs: tuple[float, float, float]  # calibrated
    evidence: tuple[Evidence, ...]

    def rank(self) -> tuple[int, float]:
        """Supported beats contradicted beats not-enough-info; within a label, the likelier."""
        return -self.label, self.probs[self.label]


class LearnedVerifier:
    name = "learned"

    def __init__(
        self,
        model: PairModel,
        embedder: Embedder,
        decision: Decision,
        *,
        hard_veto: bool = True,
        evidence_count: int = 2,
        cache_size: int = 4096,
        min_quote_words: int = 4,
        cache: VectorCache | None = None,
    ) -> None:
        self.model = model
        self.decision = decision
        self.hard_veto = hard_veto
        self.evidence_count = evidence_count
        self.min_quote_words = min_quote_words
        # ``cache``: one shared with the refusal gate when both embed with the same model (the engine's)
        self._cache = (
            cache if cache is not None and cache.embedder is embedder else VectorCache(embedder, cache_size)
        )

    def verify(self, statements: Sequence[Statement]) -> list[Verdict]:
        texts = [strip_markers(s.text) for s in statements]
        cited = [[src for src in s.sources if (src.title + src.abstract).strip()] for s in statements]
        prepared = [[prepare(src.text) for src in sources] for sources in cited]
        verdicts: list[Verdict | None] = [
            self._quick(text, sources, abstracts)
            for text, sources, abstracts in zip(texts, cited, prepared, strict=True)
        ]
        pending = [i for i, v in enumerate(verdicts) if v is None]
        units = {i: [abstract_units(src.title, src.abstract) for src in cited[i]] for i in pending}
        vectors = self._cache.vectors(
            [texts[i] for i in pending] + [t for i in pending for u in units[i] for t in u.texts]
        )
        for i in pending:
            verdicts[i] = self._decide(texts[i], cited[i], units[i], prepared[i], vectors)
        return [v for v in verdicts if v is not None]

    def _quick(self, text: str, sources: list[Source], abstracts: list[PreparedAbstract]) -> Verdict | None:
        """Verdicts needing no model: nothing cited, nothing said, or a verbatim quote."""
        if not sources:
            return Verdict("not_enough_info", 0.0, reason="cites no source")
        if not content_terms(text):  # "", "?", "it is": nothing to support
            return Verdict("not_enough_info", 0.0, reason="the sentence states nothing to check")
        found = verbatim(text, abstracts, self.min_quote_words)
        if found:
            index, sentence = found
            return Verdict("supported", 1.0, (Evidence(sentence, sources[index].paper_id, 1.0),))
        return None

    def _decide(
        self,
        text: str,
        sources: list[Source],
        units: list[Units],
        abstracts: list[PreparedAbstract],
        vectors: Mapping[str, np.ndarray],
    ) -> Verdict:
        import numpy as np

        # the veto reads every cited abstract together: a sentence may take one number from each
        hard = hard_check(text, abstracts)
        vetoed = self.hard_veto and hard.failed
        best: _PairVerdict | None = None
        supported = 0.0  # the likeliest support any cited abstract gives
        for source, unit in zip(sources, units, strict=True):
            if not unit.texts:
                continue
            matrix = np.stack([np.asarray(vectors[t], np.float32) for t in unit.texts])
            block = make_block(
                text, np.asarray(vectors[text], np.float32), unit, matrix, embedding=self.model.embedding
            )
            logits, unit_probs = self.model.score(block)
            probs = self.decision.probs(logits)
            order = evidence_order(unit_probs, unit, self.evidence_count)
            verdict = _PairVerdict(
                self.decision.label(probs, supportable=not vetoed),
                (float(probs[0]), float(probs[1]), float(probs[2])),
                tuple(
                    Evidence(unit.texts[k], source.paper_id, round(float(1 - unit_probs[k, 2]), 4))
                    for k in order
                ),
            )
            supported = max(supported, verdict.probs[0])
            if best is None or verdict.rank() > best.rank():
                best = verdict
        if best is None:
            return Verdict("not_enough_info", 0.0, reason="the cited abstracts are empty")
        label = LABELS[best.label]
        reasons = [hard.reason(len(sources))] if vetoed else []
        if label == "contradicted":
            reasons.append(says_otherwise(len(sources), best.evidence[0].sentence if best.evidence else ""))
        elif label == "not_enough_info" and not vetoed:
            reasons.append(not_said(len(sources)))
        # a failed hard check: not supported whatever the model thinks (its precision is ~0.99)
        score = 0.0 if vetoed else round(supported, 4)
        return Verdict(label, score, best.evidence, "; ".join(reasons))
