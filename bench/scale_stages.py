"""The scale bench's stages, each in its own process so its peak RSS is its own (bench/scale.py runs them).

``python -m bench.scale_stages STAGE --home H --work W …`` prints one JSON line of figures:

- ``build --mode real``: the papers written as JSONL (one file per source: the generic parser takes a
  file's source from its suffix) and indexed by the real ``ingest()``; the vectors it stored are read
  back from Chroma into the vector pool the larger sizes reuse;
- ``build --mode stored``: no embedding. Papers are chunked by the index's real chunker and written
  through ``IndexStore.store_embedded`` in batches, then ``publish_bm25``; a chunk the pool holds (the
  real-ingest prefix) gets its real vector, every other one a pool vector cycled, with seeded Gaussian
  noise, normalised. Without a pool, the first chunks are embedded for real to make one;
- ``search``: the real ``Retriever`` (hybrid) over the index, with query vectors computed up front by
  the real embedder, so only the search is timed;
- ``add``: one new paper through the real ``ingest()`` in this fresh process (model load included), then
  a second one with the model loaded.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.scale_data import SOURCES, PaperStream, filter_kinds, load_parts, passes, record
from ingest.chunking import Chunker
from ingest.pipeline import ingest
from rag.embedders import Embedder, make_embedder
from rag.index.chroma_owner import run_dir
from rag.index.filtering import FilterFields
from rag.index.store import EmbeddedBatch, IndexStore
from rag.index.vectors import chroma_client
from rag.records import Paper
from rag.retrieval import Retriever
from rag.settings import ChromaSettings, Settings

if TYPE_CHECKING:
    import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: Papers per store_embedded call on the stored-vector path (the test above writes 5,000; the ingest 64).
STORE_BATCH = 1_000
#: Per-dimension σ of the noise added to a cycled pool vector (unit vectors of 384 dims: cosine ≈ 0.98).
NOISE = 0.01
#: Chunks embedded for real to make a pool when there is none (--no-real).
SAMPLE_POOL = 256
#: The Chroma owner stays up between stages (each a few seconds apart); bench.scale stops it after a size.
OWNER_IDLE_S = 20.0


def bench_settings(home: Path) -> Settings:
    return Settings(home=home, chroma=ChromaSettings(owner_idle_s=OWNER_IDLE_S))


def max_rss_mb() -> float:
    """This process's peak resident set (getrusage RUSAGE_SELF; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def owner_peak_mb(settings: Settings) -> float | None:
    """Peak RSS of the Chroma owner process (VmHWM in /proc; it holds the HNSW index), if it is up."""
    try:
        pid = int((run_dir(settings.chroma_path.resolve()) / "owner.pid").read_text())
        status = Path(f"/proc/{pid}/status").read_text()
    except (OSError, ValueError):
        return None
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def chroma_bytes(settings: Settings) -> int:
    """Bytes of the embedded Chroma directory: the part of ``IndexStore.disk_bytes`` that is vectors."""
    root = settings.chroma_path
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.exists() else 0


def _finish(settings: Settings, figures: dict[str, Any]) -> dict[str, Any]:
    return figures | {"max_rss_mb": max_rss_mb(), "owner_peak_mb": owner_peak_mb(settings)}


class VectorPool:
    """Real chunk vectors to reuse: exactly for the same chunk (its id hashes paper, position and text),
    a pool vector cycled with noise for any other."""

    def __init__(self, chunk_ids: Sequence[str], vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.chunk_ids = list(chunk_ids)
        self.row = {cid: i for i, cid in enumerate(self.chunk_ids)}

    @classmethod
    def load(cls, path: Path) -> VectorPool:
        import numpy as np

        with np.load(path) as data:
            return cls([str(c) for c in data["chunk_ids"]], data["vectors"].astype(np.float32))

    def save(self, path: Path) -> None:
        import numpy as np

        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:  # a file object: np.savez would add ".npz" to the name
            np.savez(handle, chunk_ids=np.array(self.chunk_ids, dtype=str), vectors=self.vectors)

    def vectors_for(
        self, chunk_ids: Sequence[str], first: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, int]:
        """Vectors for the chunks numbered ``first``, ``first+1``, … with these ids; and how many were real."""
        import numpy as np

        n, dim = len(self.vectors), self.vectors.shape[1]
        count = len(chunk_ids)
        out = self.vectors[(first + np.arange(count)) % n] + rng.normal(0, NOISE, (count, dim))
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        exact = [(j, self.row[cid]) for j, cid in enumerate(chunk_ids) if cid in self.row]
        for j, i in exact:
            out[j] = self.vectors[i]
        return out.astype(np.float32), len(exact)


def read_back(settings: Settings) -> VectorPool:
    """Every vector the ingest stored, from Chroma (in chunk-id order)."""
    import numpy as np

    collection = chroma_client(settings).get_collection(settings.collection_name)
    rows: list[tuple[str, Any]] = []
    page = 2_000
    for offset in itertools.count(0, page):
        got = collection.get(include=["embeddings"], limit=page, offset=offset)
        rows += zip(got["ids"], got["embeddings"], strict=True)
        if len(got["ids"]) < page:
            break
    rows.sort(key=lambda row: row[0])
    return VectorPool([r[0] for r in rows], np.asarray([r[1] for r in rows], dtype=np.float32))


def _papers(args: argparse.Namespace) -> tuple[PaperStream, dict[str, Any]]:
    stream = PaperStream(args.seed, load_parts(cache=args.parts))
    return stream, {"filters": {k: str(v) for k, v in filter_kinds(args.seed).items()}}


def _count(shares: Counter[str], papers: Iterable[Paper], seed: int) -> Iterable[Paper]:
    """Pass papers through, counting how many meet each filter kind."""
    kinds = filter_kinds(seed)
    for paper in papers:
        fields = FilterFields.of(paper)
        shares.update(kind for kind, f in kinds.items() if passes(fields, f))
        yield paper


def _write_new_papers(stream: PaperStream, work: Path) -> None:
    """The papers after the last one, one per file, for the ``add`` stage."""
    for j in range(2):
        (work / f"new-{j}.jsonl").write_text(record(stream.next()), encoding="utf-8")


def build_real(args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(args.home)
    stream, figures = _papers(args)
    shares: Counter[str] = Counter()
    started = time.perf_counter()
    folder = args.work / "papers"
    folder.mkdir(parents=True, exist_ok=True)
    files = {src: (folder / f"papers.{src}").open("w", encoding="utf-8") for src in SOURCES}
    for paper in _count(shares, stream.take(args.size), args.seed):
        files[paper.source].write(record(paper))
    for handle in files.values():
        handle.close()
    for src in SOURCES:  # an empty file would be reported as skipped
        if (folder / f"papers.{src}").stat().st_size == 0:
            (folder / f"papers.{src}").unlink()
    _write_new_papers(stream, args.work)
    generated = time.perf_counter()
    embedder = make_embedder(settings)
    store = IndexStore.open(settings, embedder=embedder)
    store.vectors, Chunker.for_index(settings, embedder)  # noqa: B018 - set up Chroma and the splitter untimed, as bench.ingest does
    ready = time.perf_counter()
    summary = ingest(settings, [folder], store=store, progress=False)
    seconds = time.perf_counter() - ready
    if summary.new != args.size:
        raise SystemExit(f"the ingest indexed {summary.new} new papers of {args.size}: {summary.as_text()}")
    pool = read_back(settings)
    pool.save(args.pool)
    return _finish(
        settings,
        figures
        | {
            "mode": "real",
            "papers": args.size,
            "chunks": summary.chunks_embedded,
            "seconds": seconds,
            "papers_per_s": args.size / seconds,
            "generate_s": generated - started,
            "setup_s": ready - generated,
            "disk_bytes": store.disk_bytes(),
            "chroma_bytes": chroma_bytes(settings),
            "shares": {k: v / args.size for k, v in shares.items()},
        },
    )


def build_stored(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    settings = bench_settings(args.home)
    stream, figures = _papers(args)
    shares: Counter[str] = Counter()
    embedder = make_embedder(settings)  # its tokenizer sizes the chunks; it embeds only a missing pool
    chunker = Chunker.for_index(settings, embedder)
    pool = VectorPool.load(args.pool) if args.pool.exists() else None
    store = IndexStore.open(settings, embedder=embedder)
    store.vectors  # noqa: B018 - start Chroma's owner untimed
    rng = np.random.default_rng(args.seed)
    times = dict.fromkeys(("chunk_s", "vectors_s", "store_s"), 0.0)
    chunks_done = real_vectors = 0
    papers = _count(shares, stream.take(args.size), args.seed)
    while batch := list(itertools.islice(papers, STORE_BATCH)):
        t0 = time.perf_counter()
        chunks = chunker.chunk_many(batch)
        t1 = time.perf_counter()
        if pool is None:  # --no-real: a small pool of real vectors from the first chunks
            sample = chunks[:SAMPLE_POOL]
            sampled = np.asarray(embedder.embed_batch([c.text for c in sample]), dtype=np.float32)
            pool = VectorPool([c.id for c in sample], sampled)
            pool.save(args.pool)
        t2 = time.perf_counter()
        vectors, exact = pool.vectors_for([c.id for c in chunks], chunks_done, rng)
        t3 = time.perf_counter()
        store.store_embedded(EmbeddedBatch(batch, chunks, vectors.tolist()))
        t4 = time.perf_counter()
        times["chunk_s"] += t1 - t0
        times["vectors_s"] += t3 - t2
        times["store_s"] += t4 - t3
        chunks_done += len(chunks)
        real_vectors += exact
    t0 = time.perf_counter()
    store.publish_bm25()
    times["bm25_s"] = time.perf_counter() - t0
    _write_new_papers(stream, args.work)
    seconds = times["chunk_s"] + times["store_s"] + times["bm25_s"]
    return _finish(
        settings,
        figures
        | times
        | {
            "mode": "stored",
            "papers": args.size,
            "chunks": chunks_done,
            "chunks_with_real_vector": real_vectors,
            "pool_vectors": len(pool.vectors) if pool else 0,
            "seconds": seconds,
            "papers_per_s": args.size / seconds,
            "disk_bytes": store.disk_bytes(),
            "chroma_bytes": chroma_bytes(settings),
            "shares": {k: v / args.size for k, v in shares.items()},
        },
    )


class QueryVectors:
    """Stands in for the embedder at search time: the queries' vectors, computed up front by the real one."""

    name = "precomputed"
    max_tokens = 256

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vectors[t] for t in texts]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


def search(args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(args.home)
    queries: dict[str, list[float]] = json.loads(args.queries.read_text(encoding="utf-8"))["vectors"]
    embedder: Embedder = QueryVectors(queries)
    store = IndexStore.open_reader(settings, embedder=embedder)
    retriever = Retriever(store, settings.retrieval)
    kinds = filter_kinds(args.seed)
    for filters in kinds.values():  # warm up: Chroma connection, HNSW and BM25 loaded
        retriever.search(next(iter(queries)), args.k, filters)
    timings: dict[str, dict[str, list[float]]] = {kind: {"ms": [], "dense": [], "bm25": []} for kind in kinds}
    hits: Counter[str] = Counter()
    wrong: Counter[str] = Counter()
    for question in queries:
        for kind, filters in kinds.items():  # interleaved: drift in machine load hits every kind alike
            t0 = time.perf_counter()
            result = retriever.retrieve(question, args.k, filters)
            timings[kind]["ms"].append((time.perf_counter() - t0) * 1000)
            timings[kind]["dense"].append(result.timings["dense_ms"])
            timings[kind]["bm25"].append(result.timings["bm25_ms"])
            hits[kind] += len(result.hits)
            wrong[kind] += sum(not passes(_fields(h), filters) for h in result.hits)
    store.close()
    return _finish(
        settings,
        {
            "queries": len(queries),
            "k": args.k,
            "kinds": {
                kind: {
                    "p50_ms": pct(t["ms"], 0.5),
                    "p95_ms": pct(t["ms"], 0.95),
                    "dense_p50_ms": pct(t["dense"], 0.5),
                    "bm25_p50_ms": pct(t["bm25"], 0.5),
                    "mean_hits": hits[kind] / len(queries),
                    "hits_failing_filter": wrong[kind],
                }
                for kind, t in timings.items()
            },
        },
    )


def _fields(hit: Any) -> FilterFields:
    return FilterFields.of(
        Paper(
            title=hit.title,
            abstract="-",
            id=hit.paper_id,
            year=hit.year,
            authors=hit.authors,
            categories=hit.categories,
            source=hit.source,
        )
    )


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def add(args: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(args.home)
    t0 = time.perf_counter()
    first = ingest(settings, [args.work / "new-0.jsonl"], progress=False)
    cold = time.perf_counter() - t0
    store = IndexStore.open(settings, embedder=make_embedder(settings))
    store.vectors  # noqa: B018 - connected, as a long-running ingest would be
    t0 = time.perf_counter()
    second = ingest(settings, [args.work / "new-1.jsonl"], store=store, progress=False)
    warm = time.perf_counter() - t0
    if (first.new, second.new) != (1, 1):
        raise SystemExit(f"expected one new paper per ingest, got {first.new} and {second.new}")
    return _finish(settings, {"cold_s": cold, "warm_s": warm})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_stages", description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=("build", "search", "add"))
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True, help="this size's scratch directory")
    parser.add_argument("--mode", choices=("real", "stored"), default="stored")
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--parts", type=Path, help="cache of SciFact's title parts and sentences")
    parser.add_argument("--pool", type=Path, default=Path("vector-pool.npz"))
    parser.add_argument("--queries", type=Path, help="JSON {'vectors': {question: vector}}")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args(argv)
    if args.stage == "build":
        figures = build_real(args) if args.mode == "real" else build_stored(args)
    else:
        figures = search(args) if args.stage == "search" else add(args)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
