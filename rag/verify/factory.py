"""The configured verifier (``settings.verify.method``): learned, llm or rules."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag.embedders import BUNDLED_MODEL, Embedder, make_embedder
from rag.errors import ConfigError
from rag.llm import make_llm
from rag.settings_index import EmbeddingSettings
from rag.support import SupportScorer
from rag.vector_cache import VectorCache
from rag.verify import Verifier
from rag.verify.learned import LearnedVerifier
from rag.verify.llm import LLMVerifier
from rag.verify.model import SHIPPED, Decision, load
from rag.verify.rules import RulesVerifier

if TYPE_CHECKING:
    from rag.settings import Settings


class _BundledEmbedder:
    """The bundled MiniLM (ONNX int8), loaded on the first sentence it embeds."""

    name, max_tokens = BUNDLED_MODEL, 256

    def __init__(self, settings: Settings) -> None:
        self._settings = settings.model_copy(
            update={"embedding": EmbeddingSettings(cache_dir=settings.embedding.cache_dir)}
        )
        self._inner: Embedder | None = None
        self._lock = threading.Lock()

    def _model(self) -> Embedder:
        with self._lock:
            if self._inner is None:
                self._inner = make_embedder(self._settings)
            return self._inner

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return self._model().embed_batch(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._model().count_tokens(texts)


def needs_index_embedder(settings: Settings) -> bool:
    """Whether the configured verifier uses the index's embedder: the rules scorer always does, the
    learned model when the index embeds with the bundled MiniLM on ONNX int8, as it was trained."""
    emb, method = settings.embedding, settings.verify.method
    bundled = (emb.backend, emb.model, emb.runtime) == ("local", BUNDLED_MODEL, "onnx-int8")
    return method == "rules" or (method == "learned" and bundled)


def verifier_embedder(settings: Settings, embedder: Embedder | None) -> Embedder:
    """The embedder the learned model was trained with: the bundled MiniLM on ONNX int8. The index's
    own embedder when it is that one (shared, loaded once), else a second one, loaded when first used."""
    if embedder is not None and embedder.name == BUNDLED_MODEL and needs_index_embedder(settings):
        return embedder
    return _BundledEmbedder(settings)


def learned(
    settings: Settings, embedder: Embedder | None, cache: VectorCache | None = None
) -> LearnedVerifier:
    cfg = settings.verify
    path = (cfg.model_path or SHIPPED).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"verifier model {path} not found; set ASKPAPERS_VERIFY__MODEL_PATH to a model file"
        )
    model = load(path)
    if model.id != cfg.model_id:
        raise ConfigError(
            f"the verifier's decision (rag/calibration.json, ASKPAPERS_VERIFY__*) was fitted for model "
            f"{cfg.model_id[:16]}, not for {path} ({model.id[:16]}); run python -m evals.train_verifier "
            "--write, or set ASKPAPERS_VERIFY__MODEL_ID with thresholds fitted for this model"
        )
    return LearnedVerifier(
        model,
        verifier_embedder(settings, embedder),
        Decision(cfg.temperature, cfg.support_threshold, cfg.contradict_share),
        hard_veto=cfg.hard_veto,
        evidence_count=cfg.evidence_count,
        cache_size=cfg.cache_size,
        min_quote_words=settings.support.min_quote_words,
        cache=cache,
    )


def llm(settings: Settings) -> LLMVerifier:
    cfg = settings.verify
    if cfg.llm_endpoint == "openai" and cfg.llm_model:
        settings = settings.model_copy(
            update={"llm": settings.llm.model_copy(update={"model": cfg.llm_model})}
        )
    return LLMVerifier(
        make_llm(settings, cfg.llm_endpoint),
        contradiction=cfg.llm_contradiction,
        max_tokens=cfg.llm_max_tokens,
        min_quote_words=settings.support.min_quote_words,
        slack_tokens=settings.answer.prompt_slack_tokens,
    )


def make_verifier(
    settings: Settings,
    embedder: Embedder | None = None,
    *,
    scorer: SupportScorer | None = None,
    cache: VectorCache | None = None,
) -> Verifier:
    """The verifier ``settings.verify.method`` names. ``embedder``: the index's (shared when the learned
    model can use it); ``scorer``: a rules scorer to share (the engine's); ``cache``: sentence vectors
    to share (the engine's, used when its embedder is the one the learned model reads with)."""
    method = settings.verify.method
    if method == "learned":
        return learned(settings, embedder, cache)
    if method == "llm":
        return llm(settings)
    if scorer is None:
        if embedder is None:
            raise ConfigError("the rules verifier needs an embedder")
        scorer = SupportScorer(embedder, settings.support)
    return RulesVerifier(scorer)
