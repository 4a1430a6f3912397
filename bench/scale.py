"""Search, one-paper ingest, memory and disk at 10 k–300 k synthetic papers, extrapolated to 1 M and 2.7 M.

Papers are real SciFact sentences recombined with realistic metadata (bench/scale_data.py). Each size
is built in its own ASKPAPERS_HOME, by stages that each run in their own process (bench/scale_stages.py):

1. build — the smallest size through the real ``ingest()`` (real embedder; papers/s); larger sizes with
   STORED vectors: the real ones of the smallest size reused (cycled, with seeded noise) and written
   through ``IndexStore`` in batches, so storage, BM25 and query costs are real but embedding is not;
2. search — p50/p95 of the real hybrid ``Retriever`` over SciFact train claims, without a filter and with
   one filter of each kind; the claims are embedded once up front, only the search is timed;
3. add — one new paper through the real ``ingest()`` in a fresh process.

Peak memory is each stage process's own max RSS (getrusage RUSAGE_SELF, read at its end; psutil is not
installed) plus the Chroma owner process's (VmHWM in /proc), which holds the vector index.
Results go to OUT/scale.json and OUT/scale.png.

Usage: python -m bench.scale [--sizes 10000,100000,300000] [--out out/bench-scale] [--work DIR] [--keep]
       [--no-real] [--pool FILE] [--queries 50] [--seed 12]
       python -m bench.scale --report OUT/scale.json --out DIR   (re-fit, print and plot saved figures)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.scale_data import SCIFACT, load_parts, load_queries
from bench.scale_report import extrapolate, plot, print_report
from bench.scale_stages import bench_settings, owner_peak_mb
from rag.embedders import make_embedder
from rag.index.chroma_owner import stop_owner

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parent.parent


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 10:
        raise argparse.ArgumentTypeError("sizes are comma-separated paper counts of at least 10")
    return sizes


def run_stage(stage: str, *args: str) -> dict[str, Any]:
    """Run one stage in a child process; its figures (the last line it prints)."""
    argv = [sys.executable, "-m", "bench.scale_stages", stage, *args]
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    print(f"  {stage}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"stage {stage} failed (exit {done.returncode}): {' '.join(argv)}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def embed_queries(questions: list[str], home: Path, path: Path) -> list[float]:
    """Each question's vector from the real embedder, one call each as a search makes it; the ms each took."""
    embedder = make_embedder(bench_settings(home))
    embedder.embed_batch(["warm up"])
    vectors, ms = {}, []
    for q in questions:
        t0 = time.perf_counter()
        vectors[q] = embedder.embed_batch([q])[0]
        ms.append((time.perf_counter() - t0) * 1000)
    path.write_text(json.dumps({"vectors": vectors}), encoding="utf-8")
    return ms


def run_size(size: int, real: bool, work: Path, common: list[str], queries: Path, k: int) -> dict[str, Any]:
    folder = work / f"n{size}"
    home = folder / "home"
    folder.mkdir(parents=True, exist_ok=True)
    where = ["--home", str(home), "--work", str(folder), *common]
    row: dict[str, Any] = {"papers": size}
    row["build"] = run_stage("build", *where, "--size", str(size), "--mode", "real" if real else "stored")
    row["search"] = run_stage("search", *where, "--queries", str(queries), "--k", str(k))
    t0 = time.perf_counter()
    row["add"] = run_stage("add", *where)
    row["add"]["process_s"] = time.perf_counter() - t0
    settings = bench_settings(home)
    row["owner_peak_mb"] = owner_peak_mb(settings)
    stop_owner(settings.chroma_path)  # the owner these stages started; it would leave after its idle time
    return row


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 300_000], help="comma-separated")
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-scale")
    parser.add_argument("--work", type=Path, help="scratch directory (default: a new one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the indexes and scratch files")
    parser.add_argument(
        "--no-real",
        action="store_true",
        help="no real ingest: every size STORED (a pool of 256 real vectors)",
    )
    parser.add_argument(
        "--pool", type=Path, help="vector pool file: written by the real ingest, reused by --no-real runs"
    )
    parser.add_argument("--queries", type=int, default=50, help="SciFact train claims searched per size")
    parser.add_argument("--k", type=int, default=10, help="papers per search")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--report", type=Path, help="measure nothing: fit, print and plot a saved scale.json")
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, argv: Sequence[str] | None) -> dict[str, Any]:
    """Build, search and add at each size; the report's figures."""
    work = args.work or Path(tempfile.mkdtemp(prefix="askpapers-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    parts = work / "scifact-parts.json"
    load_parts(cache=parts)
    pool = args.pool or work / "vector-pool.npz"
    if args.pool is None or not args.no_real:
        pool.unlink(missing_ok=True)  # made afresh by the first size
    questions = load_queries(args.queries, args.seed)
    query_file = work / "queries.json"
    embed_ms = embed_queries(questions, work / "query-home", query_file)
    common = ["--seed", str(args.seed), "--parts", str(parts), "--pool", str(pool)]

    rows = []
    for i, size in enumerate(args.sizes):
        real = i == 0 and not args.no_real
        t0 = time.perf_counter()
        print(
            f"{size:,} papers ({'real ingest' if real else 'stored vectors'}) …", file=sys.stderr, flush=True
        )
        rows.append(run_size(size, real, work, common, query_file, args.k))
        print(f"  done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        if not args.keep:
            shutil.rmtree(work / f"n{size}", ignore_errors=True)

    first = rows[0]["build"]
    report: dict[str, Any] = {
        "command": "python -m bench.scale " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"cpus": os.cpu_count(), "load": " ".join(f"{v:.1f}" for v in os.getloadavg())},
        "seed": args.seed,
        "queries": len(questions),
        "query_embed_p50_ms": sorted(embed_ms)[len(embed_ms) // 2],
        "sizes": rows,
        "notes": {
            "vectors": (
                f"{rows[0]['papers']:,} papers: real ingest() with the real embedder"
                if first["mode"] == "real"
                else "no real ingest (--no-real): every size STORED, from a pool of real vectors of the first chunks"
            )
            + "; larger sizes: vectors STORED, not computed (the real ones reused, cycled with noise), written "
            f"through IndexStore; papers/s there is the write rate without embedding. Query embedding (not in "
            f"the search figures): p50 {sorted(embed_ms)[len(embed_ms) // 2]:.1f} ms per question.",
            "memory": "memory: each stage process's max RSS (getrusage RUSAGE_SELF at its end; psutil is not "
            "installed), plus the Chroma owner process's VmHWM (/proc), which holds the vector index; at STORED "
            "sizes the build process is the stored-vector writer (chunker, IndexStore, BM25 build), not ingest()",
        },
    }
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return report


def publish(report: dict[str, Any], out: Path) -> None:
    """Fit, print, and write OUT/scale.json and OUT/scale.png."""
    rows = report["sizes"]
    report["notes"]["fit"] = (
        "power law y = a·N^b, least squares on log–log over the measured sizes "
        + ", ".join(f"{r['papers']:,}" for r in rows)
        + "; a negative exponent (noise) is floored at 0"
    )
    report["extrapolated"] = extrapolate(rows) if len(rows) > 1 else {}
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_report(report)
    if len(rows) > 1:
        plot(report, out / "scale.png")
    print(f"\nwrote {out / 'scale.json'}" + (f" and {out / 'scale.png'}" if len(rows) > 1 else ""))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.report:
        publish(json.loads(args.report.read_text(encoding="utf-8")), args.out)
        return
    if not (SCIFACT / "corpus.jsonl").exists():
        raise SystemExit(f"SciFact is missing: expected {SCIFACT}/corpus.jsonl and queries.jsonl")
    publish(measure(args, argv), args.out)


if __name__ == "__main__":
    main()
