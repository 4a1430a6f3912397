"""One typed settings object, passed explicitly to everything that needs it.

Values come from (highest first): constructor arguments, ``ASKPAPERS_*`` environment
variables (nested sections use ``__``, e.g. ``ASKPAPERS_CHUNKING__CHUNK_SIZE=200``),
then the defaults of the sections (rag/settings_index.py, rag/settings_answer.py) — calibrated
ones come from rag/calibration.json (rag/calibration.py). Nothing else reads the environment.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import ConfigError
from rag.settings_answer import AnswerSettings, LLMSettings, ServerSettings
from rag.settings_index import (
    ChromaSettings,
    ChunkingSettings,
    EmbeddingSettings,
    IngestSettings,
    RetrievalSettings,
)
from rag.settings_verify import RefusalSettings, SupportSettings, VerifySettings

__all__ = [
    "CHUNKER_VERSION",
    "AnswerSettings",
    "ChromaSettings",
    "ChunkingSettings",
    "EmbeddingSettings",
    "IngestSettings",
    "LLMSettings",
    "RefusalSettings",
    "RetrievalSettings",
    "ServerSettings",
    "Settings",
    "SupportSettings",
    "VerifySettings",
    "load_settings",
]

#: Bump when the chunk text, the chunk-id layout or the stored metadata changes, so old vectors are
#: never mixed with new ones (a new version names a new collection and index directory).
#: 2: chunk ids carry a hash of their text (rag/index/chunk_ids.py).
#: 3: Chroma metadata holds filter fields (int year; lists of categories, sources, author words) that
#:    filters query directly (rag/index/vectors.py); the manifest keeps them for BM25's filter columns.
#: 4: one text module (rag/text/): BM25 stores rag.text.terms tokens (NLTK + research stopwords, acronym
#:    plurals folded), and sentences also end after a closing quote or bracket ('… shown.) Next').
CHUNKER_VERSION = 4


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
    answer: AnswerSettings = Field(default_factory=AnswerSettings)
    refusal: RefusalSettings = Field(default_factory=RefusalSettings)
    support: SupportSettings = Field(default_factory=SupportSettings)
    verify: VerifySettings = Field(default_factory=VerifySettings)
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
    def answer_settings(self) -> AnswerSettings:
        """The answer section as the retrieval in effect allows: the paper model was fitted on one
        fusion's scores (answer.paper_model_fusion); under another, the score-share rule decides."""
        if self.answer.paper_model and self.answer.paper_model_fusion != self.retrieval.fusion:
            return self.answer.model_copy(update={"paper_model": {}})
        return self.answer

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

    try:
        return Settings(**({"home": home} if home else {}))  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"ASKPAPERS_{'__'.join(str(p).upper() for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
