"""The scale bench (bench/scale.py) at a tiny size: it builds a real index, searches it with every filter
kind, ingests one paper, and writes sane figures; plus its own logic (synthetic papers, vector reuse,
the power-law fit) on small inputs. SciFact stays outside the repository; without it, skipped."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.scale_data import SCIFACT, PaperStream, filter_kinds, load_parts, passes, record
from bench.scale_report import EXTRAPOLATE_TO, extrapolate, metrics, plot, power_fit
from bench.scale_stages import VectorPool
from ingest.sources import read_inputs
from rag.index.filtering import FilterFields
from rag.records import Paper

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").exists(), reason=f"SciFact not at {SCIFACT}")


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    """One run of the bench: 300 papers, stored vectors (a pool of real ones), 5 questions."""
    root = tmp_path_factory.mktemp("scale")
    argv = [
        "--sizes",
        "300",
        "--no-real",
        "--queries",
        "5",
        "--out",
        str(root / "out"),
        "--work",
        str(root / "w"),
    ]
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", *argv], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((root / "out" / "scale.json").read_text()), done.stdout, root / "w"


@pytest.mark.slow
def test_the_bench_measures_a_tiny_index(bench_run: tuple[dict[str, Any], str, Path]) -> None:
    report, stdout, work = bench_run
    (row,) = report["sizes"]
    build, search, added = row["build"], row["search"], row["add"]
    assert build["mode"] == "stored" and build["papers"] == 300 and build["chunks"] >= 300
    assert 0 < build["chunks_with_real_vector"] <= 256 and build["papers_per_s"] > 0
    assert build["disk_bytes"] > 100_000 and build["max_rss_mb"] > 50 and build["owner_peak_mb"] > 10
    assert set(search["kinds"]) == set(filter_kinds(report["seed"]))
    for kind, figures in search["kinds"].items():
        assert 0 < figures["p50_ms"] <= figures["p95_ms"], kind
        assert figures["hits_failing_filter"] == 0, kind  # every hit meets its filter
        assert 0 < figures["mean_hits"] <= min(10, 300 * build["shares"][kind] + 1e-9), kind
    assert search["kinds"]["none"]["mean_hits"] == 10
    assert 0 < added["warm_s"] < added["cold_s"] < added["process_s"]
    assert 0.08 <= build["shares"]["year_from"] <= 0.25
    m = metrics(row)
    assert m["peak_ingest_mb"] > m["owner_peak_mb"] > 0
    for label in (
        "STORED",
        "search p50/p95 ms, author",
        "one-paper ingest",
        "issue 12 targets",
        "extrapolated to",
    ):
        assert label in stdout, label
    assert not (work / "n300").exists()  # cleaned up without --keep


@pytest.mark.slow
def test_synthetic_papers_are_the_same_prefix_at_any_size_and_parse_back(
    bench_run: tuple[dict[str, Any], str, Path], tmp_path: Path
) -> None:
    parts = load_parts(cache=bench_run[2] / "scifact-parts.json")
    small = list(PaperStream(12, parts).take(50))
    large = list(PaperStream(12, parts).take(400))
    assert [p.content_hash() for p in small] == [p.content_hash() for p in large[:50]]
    assert len({p.norm_title for p in large}) == 400 and len({p.abstract for p in large}) == 400
    for source in {p.source for p in small}:  # the generic JSONL parser takes the source from the suffix
        (tmp_path / f"papers.{source}").write_text("".join(record(p) for p in small if p.source == source))
    parsed = {p.id: p for p in read_inputs([tmp_path]) if isinstance(p, Paper)}
    assert {p.id: p.content_hash() for p in small} == {pid: p.content_hash() for pid, p in parsed.items()}
    no_year = sum(p.year is None for p in large) / len(large)
    assert 0.12 < no_year < 0.28
    fields = [FilterFields.of(p) for p in large]
    for kind, filters in filter_kinds(12).items():
        assert 0 < sum(passes(f, filters) for f in fields) <= len(large), kind


def test_the_vector_pool_reuses_real_vectors_exactly_and_cycles_the_rest_with_noise() -> None:
    rng = np.random.default_rng(0)
    real = rng.normal(size=(3, 8)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    pool = VectorPool(["a#0", "b#0", "c#0"], real)
    vectors, exact = pool.vectors_for(["x#0", "b#0", "y#0", "z#0"], 3, np.random.default_rng(1))
    assert exact == 1 and np.array_equal(vectors[1], real[1])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert 0.9 < float(vectors[0] @ real[0]) < 1  # chunk 3 → pool row 0, moved by the noise
    assert 0.9 < float(vectors[3] @ real[0]) < 1  # chunk 6 → pool row 0 again


@pytest.mark.slow
def test_the_power_law_fit_and_the_plot(bench_run: tuple[dict[str, Any], str, Path], tmp_path: Path) -> None:
    a, b = power_fit([1e4, 1e5, 3e5], [2 * 1e4**0.5, 2 * 1e5**0.5, 2 * 3e5**0.5]) or (0, 0)
    assert b == pytest.approx(0.5) and math.exp(a) == pytest.approx(2)
    assert power_fit([1e4, 1e4], [1.0, 2.0]) is None
    report = bench_run[0]
    (row,) = report["sizes"]
    bigger = copy.deepcopy(row) | {"papers": 3000}
    bigger["build"]["disk_bytes"] *= 10
    bigger["add"]["cold_s"] /= 4  # noise: a cost that shrinks is extrapolated flat, at the geometric mean
    fitted = extrapolate([row, bigger])
    assert fitted["disk_mb"]["exponent"] == pytest.approx(1)
    assert fitted["add_cold_s"]["exponent"] == 0
    assert fitted["add_cold_s"]["1000000"] == pytest.approx(row["add"]["cold_s"] / 2)
    assert fitted["disk_mb"][str(EXTRAPOLATE_TO[-1])] == pytest.approx(metrics(row)["disk_mb"] * 9000)
    plot(report | {"sizes": [row, bigger], "extrapolated": fitted}, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").stat().st_size > 10_000
