"""Ingest throughput: askpapers vs the plain llama-index path, on the same papers, in one run.

Each path runs in its own child process (so peak RSS is its own), after its model is
loaded (set-up — model load, Chroma client — is reported separately, not counted in papers/s):

- plain: ``VectorStoreIndex.from_documents`` with ``HuggingFaceEmbedding`` defaults
  (the bundled all-MiniLM-L6-v2 directory as model_name) and a ``ChromaVectorStore``,
  one Document per paper (title + abstract);
- askpapers: ``ingest.pipeline.ingest`` on the sample files (parse, dedup, chunk,
  embed, Chroma, manifest, BM25), then a second, no-change run;
- int8: what this CPU can do for the int8 model — FLOPs per word piece counted from the
  bundled model's config.json at the measured mean chunk length, over a measured int8
  matmul rate (ONNX Runtime's MatMulInteger on the model's FFN shape, run from as many
  threads as our embedder uses) — and our measured share of that ceiling.

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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ingest.chunking import Chunker
from ingest.dedup import PaperStage
from ingest.pipeline import ingest
from ingest.sources import read_inputs
from rag.embedders import Embedder, bundled_model_dir, make_embedder
from rag.index.store import IndexStore
from rag.records import Paper
from rag.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_info() -> dict[str, object]:
    """The CPU model and the flags that decide which int8 kernels ONNX Runtime can use."""
    model, flags = "unknown", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model == "unknown":
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count(),
        "flags": {f: f in flags for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")},
    }


def flops_per_token(config: dict[str, int], seq: float) -> dict[str, float]:
    """Multiply-adds per word piece of a BERT encoder (x2 = FLOPs), counted per layer:
    Q, K and V projections (3·h·h), attention output (h·h), FFN up and down (2·h·i), and the
    attention score and value products at sequence length ``seq`` (seq·h each, all heads).
    Not counted (under 1 %): embedding lookups, layer norms, GELU, softmax, biases, pooling."""
    h, i, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    macs = {
        "qkv": 3 * h * h,
        "attention_output": h * h,
        "ffn": 2 * h * i,
        "attention_scores_values": 2 * seq * h,
    }
    per_token = {name: 2.0 * layers * value for name, value in macs.items()}
    per_token["total"] = sum(per_token.values())
    return per_token


def int8_matmul_ops_per_s(threads: int, rows: int, k: int, n: int, seconds: float = 2.0) -> float:
    """Measured int8 ops/s (2 per multiply-add) of ONNX Runtime's MatMulInteger (uint8 activations ×
    int8 weights, as the quantised model's) on [rows, k] × [k, n], one single-threaded session run
    from ``threads`` threads at once — the way rag/onnx_embedder.py runs the model."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.integers(-128, 128, (k, n), dtype=np.int8), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "W"], ["Y"])],
        "int8_matmul",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, ["rows", k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, ["rows", n])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    a = rng.integers(0, 256, (rows, k), dtype=np.uint8)
    session.run(None, {"A": a})

    def loop(_: int) -> int:
        calls, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            session.run(None, {"A": a})
            calls += 1
        return calls

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        calls = sum(pool.map(loop, range(threads)))
    return 2.0 * rows * k * n * calls / (time.perf_counter() - t0)


def run_int8(threads: int, rows: int) -> dict[str, float]:
    config = json.loads((bundled_model_dir() / "config.json").read_text())
    k, n = config["hidden_size"], config["intermediate_size"]
    rates = {f"rows_{m}": int8_matmul_ops_per_s(threads, m, k, n) for m in (rows, 1024)}
    return {**rates, "threads": threads, "ops_per_s": max(rates.values())}


def embedder_alone(corpus: Path, settings: Settings, embedder: Embedder) -> dict[str, float]:
    """The chunks our ingest embeds, their model word pieces (special tokens included), and the
    seconds the embedder alone takes for them (no parsing, chunking or writes): how much of the gap
    to the ceiling is the model's and how much the rest of the pipeline's."""
    texts = [c.text for c in Chunker.for_index(settings, embedder).chunk_many(unique_papers(corpus))]
    pieces = embedder.count_tokens(texts)
    t0 = time.perf_counter()
    embedder.embed_batch(texts)
    return {
        "word_pieces": sum(pieces),
        "mean_chunk_word_pieces": sum(pieces) / max(len(pieces), 1),
        "embed_only_seconds": time.perf_counter() - t0,
    }


def unique_papers(corpus: Path) -> list[Paper]:
    with PaperStage() as stage:
        for item in read_inputs([str(corpus)]):
            if isinstance(item, Paper):
                stage.add(item)
        return list(stage)


def run_ours(corpus: Path, home: Path) -> dict[str, float]:
    settings = Settings(home=home)
    t0 = time.perf_counter()
    embedder = make_embedder(settings)
    store = IndexStore.open(settings, embedder=embedder)
    store.vectors, Chunker.for_index(settings, store.embedder)  # noqa: B018 - set up Chroma and the splitter, as the plain path does untimed
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = ingest(settings, [str(corpus)], store=store, progress=False)
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = ingest(settings, [str(corpus)], store=IndexStore.open(settings), progress=False)
    noop = time.perf_counter() - t0
    assert again.chunks_embedded == 0
    return {
        **embedder_alone(corpus, settings, embedder),  # after the timed runs, on the same chunks
        "embed_threads": getattr(embedder, "workers", 1),
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

    papers = unique_papers(corpus)  # the same unique papers, parsed outside the timed part
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


def _child(name: str, *extra: str) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.ingest", "--child", name, *extra]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def ceiling(ours: dict[str, float], int8_ops_per_s: float) -> dict[str, Any]:
    """What this CPU's int8 matmul rate allows for our chunk mix, and our share of it."""
    config = json.loads((bundled_model_dir() / "config.json").read_text())
    flops = flops_per_token(config, ours["mean_chunk_word_pieces"])
    word_pieces_per_s = int8_ops_per_s / flops["total"]
    word_pieces_per_paper = ours["word_pieces"] / ours["papers"]
    papers_per_s = word_pieces_per_s / word_pieces_per_paper
    return {
        "model_config": {k: config[k] for k in ("num_hidden_layers", "hidden_size", "intermediate_size")}
        | {"num_attention_heads": config["num_attention_heads"]},
        "mean_chunk_word_pieces": ours["mean_chunk_word_pieces"],
        "flops_per_word_piece": flops,
        "int8_ops_per_s": int8_ops_per_s,
        "word_pieces_per_paper": word_pieces_per_paper,
        "word_pieces_per_s": word_pieces_per_s,
        "papers_per_s": papers_per_s,
        "ours_word_pieces_per_s": ours["word_pieces"] / ours["seconds"],
        "ours_share": ours["papers"] / ours["seconds"] / papers_per_s,
        "embedder_alone_word_pieces_per_s": ours["word_pieces"] / ours["embed_only_seconds"],
        "embedder_alone_share": ours["word_pieces"] / ours["embed_only_seconds"] / word_pieces_per_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=REPO / "data" / "sample")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="runs per path; the median run is reported")
    parser.add_argument("--child", choices=["ours", "plain", "int8"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=128, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "int8":
        print(json.dumps(run_int8(args.threads, args.rows)))
        return
    if args.child:
        with tempfile.TemporaryDirectory() as home:
            runner = run_ours if args.child == "ours" else run_plain
            print(json.dumps(runner(args.corpus, Path(home))))
        return

    runs: dict[str, list[dict[str, float]]] = {"plain": [], "ours": [], "int8": []}
    loads: list[float] = []
    for _ in range(args.repeat):  # interleaved, so drift in machine speed hits every path alike
        loads.append(os.getloadavg()[0])
        runs["plain"].append(_child("plain", "--corpus", str(args.corpus)))
        loads.append(os.getloadavg()[0])
        ours_run = _child("ours", "--corpus", str(args.corpus))
        runs["ours"].append(ours_run)
        loads.append(os.getloadavg()[0])
        threads, rows = int(ours_run["embed_threads"]), round(ours_run["mean_chunk_word_pieces"])
        runs["int8"].append(_child("int8", "--threads", str(threads), "--rows", str(rows)))
    loads.append(os.getloadavg()[0])
    plain, ours = (sorted(runs[n], key=lambda r: r["seconds"])[len(runs[n]) // 2] for n in ("plain", "ours"))
    report: dict[str, Any] = {
        "cpu": cpu_info(),
        "load_average_1min": {"min": min(loads), "max": max(loads)},
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
        "int8_matmul": runs["int8"],
        "ceiling": ceiling(ours, _median([r["ops_per_s"] for r in runs["int8"]])),
    }
    report["speedup_papers_per_s"] = report["papers_per_s"]["askpapers"] / report["papers_per_s"]["plain"]
    report["noop_share_of_full"] = ours["noop_seconds"] / ours["seconds"]
    # The share that counts pairs each repeat's run with the int8 rate measured right after it: on a
    # shared machine the median run and the median int8 rate can come from differently loaded moments.
    paired = [ceiling(o, i["ops_per_s"]) for o, i in zip(runs["ours"], runs["int8"], strict=True)]
    for key in ("ours_share", "embedder_alone_share"):
        report[f"{key}_per_repeat"] = [float(c[key]) for c in paired]
        report[f"{key}_paired_median"] = _median(report[f"{key}_per_repeat"])
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print_report(report)


def print_report(report: dict[str, Any]) -> None:
    plain, ours, top, cpu = report["plain"], report["askpapers"], report["ceiling"], report["cpu"]
    flags = " ".join(f"{name}={'yes' if on else 'no'}" for name, on in cpu["flags"].items())
    print(f"CPU: {cpu['model']}, {cpu['cores']} cores; {flags}")
    print(
        f"load average (1 min) during the runs: {report['load_average_1min']['min']:.2f}"
        f"–{report['load_average_1min']['max']:.2f}"
    )
    print(
        f"{'path':<12}{'papers':>8}{'chunks':>8}{'seconds':>9}{'papers/s':>10}{'chunks/s':>10}{'peak RSS MB':>13}"
    )
    for label, row in (("plain", plain), ("askpapers", ours)):
        print(
            f"{label:<12}{row['papers']:>8}{row['chunks']:>8}{row['seconds']:>9.2f}"
            f"{row['papers'] / row['seconds']:>10.1f}{row['chunks'] / row['seconds']:>10.1f}{row['peak_rss_mb']:>13.0f}"
        )
    print(f"speed-up (papers/s): {report['speedup_papers_per_s']:.2f}x   (target ≥ 2x)")
    print(
        f"no-change re-ingest: {ours['noop_seconds']:.3f} s = {100 * report['noop_share_of_full']:.1f}% "
        "of a full ingest   (target < 5%)"
    )
    flops, cfg = top["flops_per_word_piece"], top["model_config"]
    print(
        f"MiniLM-L6 ({cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, intermediate "
        f"{cfg['intermediate_size']}, {cfg['num_attention_heads']} heads): {flops['total'] / 1e6:.1f} MFLOP per word "
        f"piece at the mean chunk length {top['mean_chunk_word_pieces']:.0f} = QKV {flops['qkv'] / 1e6:.1f} + "
        f"attention output {flops['attention_output'] / 1e6:.1f} + FFN {flops['ffn'] / 1e6:.1f} + attention "
        f"scores/values {flops['attention_scores_values'] / 1e6:.1f} (layer norms, GELU, softmax, biases not counted)"
    )
    rates = ", ".join(
        f"[{k.removeprefix('rows_')}, {cfg['hidden_size']}]×[{cfg['hidden_size']}, {cfg['intermediate_size']}] "
        f"{_median([r[k] for r in report['int8_matmul']]) / 1e9:.0f} G"
        for k in report["int8_matmul"][0]
        if k.startswith("rows_")
    )
    print(
        f"int8 matmul (onnxruntime MatMulInteger, {report['int8_matmul'][0]['threads']:.0f} threads as the "
        f"embedder): {rates} ops/s; ceiling uses {top['int8_ops_per_s'] / 1e9:.0f} G ops/s"
    )
    print(
        f"ceiling: {top['word_pieces_per_s']:,.0f} word pieces/s = {top['papers_per_s']:.1f} papers/s at "
        f"{top['word_pieces_per_paper']:.0f} word pieces per paper (median int8 rate)"
    )

    def shares(key: str) -> str:
        each = ", ".join(f"{100 * v:.0f}" for v in report[f"{key}_per_repeat"])
        return f"{100 * report[f'{key}_paired_median']:.0f}% (per repeat, against that repeat's int8 rate: {each})"

    print(
        f"askpapers ingest: {top['ours_word_pieces_per_s']:,.0f} word pieces/s in the median run; share of the "
        f"ceiling {shares('ours_share')}   (target ≥ 50%)"
    )
    print(
        f"embedder alone on the same chunks (no parse, chunk or writes): "
        f"{top['embedder_alone_word_pieces_per_s']:,.0f} word pieces/s in the median run; share "
        f"{shares('embedder_alone_share')}"
    )


if __name__ == "__main__":
    main()
