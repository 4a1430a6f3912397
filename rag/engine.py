"""The question-answering engine behind the Python API, the CLI, the chat page and evals.

One ``Engine`` per settings object holds the parts requests share — the index, the retriever, the
verifier, one model per answer mode — opened on first use (under a lock: the chat page
answers two questions at once) and reused, so a long-lived process pays for them once. Each
question runs through a :class:`~rag.pipeline.Pipeline` made for it from those parts and its
answer mode (:mod:`rag.modes`); nothing a request produces is kept on the engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from rag.evidence import EvidenceGate
from rag.index.store import IndexStore
from rag.modes import get_mode
from rag.pipeline import Pipeline
from rag.retrieval import Retriever
from rag.support import SupportScorer
from rag.types import Answer, Filters, History, Hit
from rag.vector_cache import VectorCache
from rag.verify import Verifier
from rag.verify.factory import make_verifier, needs_index_embedder
from rag.verify.stage import SentenceVerifier

if TYPE_CHECKING:
    from rag.llm import LLM
    from rag.settings import Settings

__all__ = ["Engine", "History"]
T = TypeVar("T")


class Engine:
    def __init__(self, settings: Settings, *, store: IndexStore | None = None) -> None:
        """``store``: the index to answer from (default: the one ``settings`` name, opened read-only
        on first use) — e.g. ``IndexStore.in_memory(...)`` for tests that need no disk or model."""
        self.settings = settings
        self._parts: dict[str, Any] = {} if store is None else {"store": store}
        self._llms: dict[str, LLM] = {}
        self._lock = threading.RLock()  # parts are made under it; making the retriever opens the store

    def _part(self, name: str, make: Callable[[], T]) -> T:
        """The shared part ``name``, made once even when two requests ask for it at the same time."""
        with self._lock:
            if name not in self._parts:
                self._parts[name] = make()
            part: T = self._parts[name]
            return part

    # --- shared parts, opened on first use -------------------------------------
    @property
    def store(self) -> IndexStore:
        return self._part("store", lambda: IndexStore.open_reader(self.settings))

    @property
    def retriever(self) -> Retriever:
        return self._part("retriever", lambda: Retriever(self.store, self.settings.retrieval))

    @property
    def scorer(self) -> SupportScorer:
        return self._part("scorer", lambda: SupportScorer(self.store.embedder, self.settings.support))

    @property
    def verifier(self) -> SentenceVerifier:
        """The verify stage over the configured verifier (settings.verify.method)."""
        return self._part("verifier", lambda: SentenceVerifier(self._make_verifier()))

    @property
    def claim_verifier(self) -> Verifier:
        """The configured verifier itself, the one the verify stage uses (its caches shared): for
        checking claims and drafts against named papers (rag/checker.py)."""
        return self.verifier.verifier

    def _make_verifier(self) -> Verifier:
        embedder = self.store.embedder if needs_index_embedder(self.settings) else None
        rules = self.settings.verify.method == "rules"
        return make_verifier(
            self.settings, embedder, scorer=self.scorer if rules else None, cache=self.sentence_vectors
        )

    @property
    def sentence_vectors(self) -> VectorCache:
        """Abstract-sentence vectors of the index's embedder, shared by the gate and the verifier: both
        read the sentences of the same retrieved abstracts, so each is embedded once per engine."""
        size = max(self.settings.refusal.cache_size, self.settings.verify.cache_size)
        return self._part("sentence_vectors", lambda: VectorCache(self.store.embedder, size))

    @property
    def gate(self) -> EvidenceGate:
        return self._part(
            "gate", lambda: EvidenceGate(self.settings.refusal, self.store.embedder, self.sentence_vectors)
        )

    def llm(self, mode: str) -> LLM:
        """The model answer mode ``mode`` writes with (one per mode, shared by requests)."""
        make = get_mode(mode).llm
        if make is None:
            raise ValueError(f"answer mode {mode!r} writes with no model")
        with self._lock:
            if mode not in self._llms:
                self._llms[mode] = make(self.settings)
            return self._llms[mode]

    def warm_up(self) -> None:
        """Load the embedder, Chroma and BM25 now rather than on the first question."""
        self.retriever.search("warm up", 1)

    def pipeline(self, mode: str | None = None) -> Pipeline:
        """The stages one question in ``mode`` (default: the configured mode) runs through."""
        answer_mode = get_mode(mode or self.settings.answer_mode)
        llm = self.llm(answer_mode.name) if answer_mode.llm is not None else None
        return Pipeline(
            mode=answer_mode.name,
            rewriter=answer_mode.rewriter(self.settings, llm),
            searcher=self.retriever,
            gate=self.gate,
            answerer=answer_mode.answerer(self.settings, llm, self.sentence_vectors.similarity),
            verifier=self.verifier,
        )

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
        pipeline = self.pipeline(mode)
        yield from pipeline.run(question, k=k or self.settings.retrieval.k, filters=filters, history=history)
