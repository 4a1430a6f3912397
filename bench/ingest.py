"""Ingest throughput: askpapers vs the plain llama-index path, on the same papers, in one run.

Each path runs in its own child process (so peak RSS is its own), after its model is
loaded (set-up — model load, Chroma client — is reported separately, not counted in papers/s):

- plain: ``VectorStoreIndex.from_documents`` with ``HuggingFaceEmbedding`` defaults
  (the bundled all-MiniLM-L6-v2 directory as model_name) and a ``ChromaVectorStore``,
  one Document per paper (title + abstract);
- askpapers: ``ingest.pipeline.ingest`` on the sample files (parse, dedup, chunk,
  embed, Chroma, manifest, BM25), then a second, no-change run.

Usage: python -m bench.ingest [--corpus data/sample] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(corpus: Path, home: Path) -> dict[str, float]:
    from ingest.chunking import Chunker
    from ingest.pipeline import ingest
    from rag.embedders import make_embedder
    from rag.index.store import IndexStore
    from rag.settings import Settings

    settings = Settings(home=home)
    t0 = time.perf_counter()
    embedder = make_embedder(settings)
    store = IndexStore.open(settings, embedder=embedder)
    store.vectors, Chunker.for_index(settings, store.embedder)  # noqa: B018 - set up Chroma and the splitter, as the plain path does untimed
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = ingest(settings, [corpus], store=store, progress=False)
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = ingest(settings, [corpus], store=IndexStore.open(settings), progress=False)
    noop = time.perf_counter() - t0
    assert again.chunks_embedded == 0
    return {
        "papers": first.papers_seen,
        "chunks": first.chunks_embedded,
        "seconds": full,
        "noop_seconds": noop,
        "model_load_seconds": load,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_plain(corpus: Path, home: Path) -> dict[str, float]:
    import chromadb
    from chromadb.config import Settings as ChromaConfig
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from ingest.dedup import PaperStage
    from ingest.sources import read_inputs
    from rag.embedders import bundled_model_dir
    from rag.records import Paper

    with PaperStage() as stage:  # the same unique papers, parsed outside the timed part
        for item in read_inputs([corpus]):
            if isinstance(item, Paper):
                stage.add(item)
        papers = list(stage)
    t0 = time.perf_counter()
    embed_model = HuggingFaceEmbedding(model_name=str(bundled_model_dir()))
    docs = [
        Document(text=f"{p.title}\n{p.abstract}", metadata={"paper_id": p.id, "title": p.title})
        for p in papers
    ]
    client = chromadb.PersistentClient(
        path=str(home / "chroma"), settings=ChromaConfig(anonymized_telemetry=False)
    )
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("plain"))
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = VectorStoreIndex.from_documents(
        docs, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model
    )
    seconds = time.perf_counter() - t0
    chunks = client.get_collection("plain").count()
    del index
    return {
        "papers": len(papers),
        "chunks": chunks,
        "seconds": seconds,
        "model_load_seconds": load,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "data" / "sample")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median run is reported")
    parser.add_argument("--child", choices=["ours", "plain"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as home:
            runner = run_ours if args.child == "ours" else run_plain
            print(json.dumps(runner(args.corpus, Path(home))))
        return

    runs: dict[str, list[dict[str, float]]] = {"plain": [], "ours": []}
    for _ in range(args.repeat):  # interleaved, so drift in machine speed hits both paths alike
        for name in runs:
            out = subprocess.run(
                [sys.executable, "-m", "bench.ingest", "--child", name, "--corpus", str(args.corpus)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    results = {name: sorted(rows, key=lambda r: r["seconds"])[len(rows) // 2] for name, rows in runs.items()}
    plain, ours = results["plain"], results["ours"]
    report = {
        "plain": plain,
        "askpapers": ours,
        "papers_per_s": {
            "plain": plain["papers"] / plain["seconds"],
            "askpapers": ours["papers"] / ours["seconds"],
        },
        "chunks_per_s": {
            "plain": plain["chunks"] / plain["seconds"],
            "askpapers": ours["chunks"] / ours["seconds"],
        },
    }
    report["speedup_papers_per_s"] = report["papers_per_s"]["askpapers"] / report["papers_per_s"]["plain"]
    report["noop_share_of_full"] = ours["noop_seconds"] / ours["seconds"]
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(
        f"{'path':<12}{'papers':>8}{'chunks':>8}{'seconds':>9}{'papers/s':>10}{'chunks/s':>10}{'peak RSS MB':>13}"
    )
    for label, row in (("plain", plain), ("askpapers", ours)):
        print(
            f"{label:<12}{row['papers']:>8}{row['chunks']:>8}{row['seconds']:>9.2f}"
            f"{row['papers'] / row['seconds']:>10.1f}{row['chunks'] / row['seconds']:>10.1f}{row['peak_rss_mb']:>13.0f}"
        )
    print(f"speed-up (papers/s): {report['speedup_papers_per_s']:.2f}x   (target ≥ 1.5x)")
    print(
        f"no-change re-ingest: {ours['noop_seconds']:.3f} s = {100 * report['noop_share_of_full']:.1f}% "
        "of a full ingest   (target < 5%)"
    )


if __name__ == "__main__":
    main()
