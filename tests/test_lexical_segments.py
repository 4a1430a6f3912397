"""The segmented lexical index (rag/index/lexical.py): a fresh build scores as bm25s does, an index
grown by small segments scores exactly as a full rebuild of the same papers (idf and average length
kept corpus-wide), an ingest of a few papers writes one segment and doesn't rebuild, and the merge
policy folds segments back into one."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rag.index.bm25_segment import Segment
from rag.index.filtering import FilterFields
from rag.index.lexical import BM25Builds, BM25Index, MergePolicy
from rag.index.manifest import SQLiteManifest
from rag.records import Chunk, Paper
from rag.text import terms
from rag.types import Filters
from tests.index_fixtures import chunks_of

WORDS = [
    "retrieval",
    "augmented",
    "generation",
    "language",
    "model",
    "benchmark",
    "protein",
    "folding",
    "graph",
    "neural",
    "network",
    "attention",
    "transformer",
    "sparse",
    "dense",
    "vector",
    "index",
    "latency",
    "throughput",
    "memory",
    "cache",
    "quantization",
    "hallucination",
    "citation",
    "abstract",
    "dataset",
    "evaluation",
    "reasoning",
    "agent",
    "tool",
    "planning",
]


def corpus(n: int, seed: int = 3) -> list[Paper]:
    rng = random.Random(seed)
    return [
        Paper(
            title=f"Paper {i}",
            abstract=" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 40))) + ".",
            id=f"p{i}",
            year=2000 + i % 25,
            categories=["cs.CL" if i % 3 else "cs.IR"],
            source="test",
        )
        for i in range(n)
    ]


def commit(manifest: SQLiteManifest, papers: list[Paper]) -> None:
    manifest.commit_papers(papers, [c for p in papers for c in chunks_of(p)])


QUERIES = ["retrieval augmented generation", "protein graph network", "memory cache cache", "agent tool"]


@pytest.mark.parametrize("k1, b", [(1.5, 0.75), (0.7, 0.4), (1.2, 0.0)])
def test_a_fresh_build_scores_as_bm25s(k1: float, b: float) -> None:
    """With bm25s's defaults and with other (k1, b): the fitted ones are passed at query time."""
    bm25s = pytest.importorskip("bm25s")
    papers = corpus(200)
    rows = [(c, FilterFields.of(p)) for p in papers for c in chunks_of(p)]
    ours = BM25Index.build(rows, version=1)
    theirs = bm25s.BM25(k1=k1, b=b)
    theirs.index([terms(c.text) for c, _ in rows], show_progress=False)
    for query in QUERIES:
        expected = theirs.get_scores(terms(query))
        got = dict(ours.search(query, len(rows), k1=k1, b=b))
        for i, (chunk, _) in enumerate(rows):
            assert got.get(chunk.id, 0.0) == pytest.approx(float(expected[i]), rel=1e-5, abs=1e-6), query


def test_segments_score_exactly_as_a_full_rebuild(tmp_path: Path) -> None:
    manifest = SQLiteManifest(tmp_path / "manifest.sqlite")
    builds = BM25Builds(tmp_path / "bm25", MergePolicy(max_segments=8, merge_share=0.5))
    papers = corpus(300)
    commit(manifest, papers[:200])
    first = builds.publish(manifest, manifest.version)
    assert len(first.segments) == 1
    commit(manifest, papers[200:220])  # new papers
    edited = [Paper(**{**vars(p), "abstract": "retrieval cache " + p.abstract}) for p in papers[:5]]
    commit(manifest, edited)  # changed papers: their old rows must stop counting
    manifest.remove_papers(["p7", "p8"])
    grown = builds.publish(manifest, manifest.version)
    assert len(grown.segments) == 2, "a few changed papers add one segment, not a rebuild"
    assert grown.segments[0][0] == first.segments[0][0]
    assert len(grown.segments[1][1]) == sum(len(chunks_of(p)) for p in papers[200:220] + edited)

    rebuilt = BM25Index.build(manifest.lexical_rows(), version=manifest.version)
    assert sorted(grown.chunk_ids) == sorted(rebuilt.chunk_ids)
    assert not any(c.startswith(("p7#", "p8#")) for c in grown.chunk_ids)
    for query in QUERIES:
        for filters in (None, Filters(year_from=2010), Filters(category="cs.IR")):
            a, b = grown.search(query, 15, filters), rebuilt.search(query, 15, filters)
            assert [c for c, _ in a] == [c for c, _ in b], (query, filters)
            assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-5)

    reader = BM25Builds(tmp_path / "bm25")  # a reader loads the segments memory-mapped
    loaded = reader.current()
    assert loaded.name == grown.name and len(loaded.segments) == 2
    assert loaded.search("retrieval cache", 10) == grown.search("retrieval cache", 10)
    manifest.close()


def test_the_merge_policy_folds_segments_into_one(tmp_path: Path) -> None:
    manifest = SQLiteManifest(tmp_path / "manifest.sqlite")
    builds = BM25Builds(tmp_path / "bm25", MergePolicy(max_segments=2, merge_share=0.5))
    papers = corpus(200)
    commit(manifest, papers[:100])
    builds.publish(manifest, manifest.version)
    counts = []
    for start in range(100, 200, 10):
        commit(manifest, papers[start : start + 10])
        counts.append(len(builds.publish(manifest, manifest.version).segments))
        manifest.trim_log(manifest.version)
    assert counts[:2] == [2, 3] and 1 in counts, counts  # grows, then merges when there would be 4
    on_disk = {p.name for p in (tmp_path / "bm25" / "segments").iterdir()}
    kept = {
        s
        for build in (tmp_path / "bm25").glob("v*")
        for s in json.loads((build / "build.json").read_text())["segments"]
    }
    assert on_disk == kept, "segments no kept build lists are deleted"
    assert len(list((tmp_path / "bm25").glob("v*"))) <= 2
    manifest.close()


def test_a_segment_opens_memory_mapped(tmp_path: Path) -> None:
    import numpy as np

    rows = [(c, FilterFields.of(p)) for p in corpus(50) for c in chunks_of(p)]
    Segment.build(rows).save(tmp_path / "seg")
    loaded = Segment.load(tmp_path / "seg")
    assert isinstance(loaded.docs, np.memmap) and isinstance(loaded.tf, np.memmap)
    assert loaded.chunk_ids == [c.id for c, _ in rows]


def test_an_index_from_before_segments_is_rebuilt_on_the_next_publish(tmp_path: Path) -> None:
    manifest = SQLiteManifest(tmp_path / "manifest.sqlite")
    commit(manifest, corpus(20))
    old = tmp_path / "bm25" / f"v{manifest.version}"
    old.mkdir(parents=True)
    (old / "chunk_ids.json").write_text("[]")  # the bm25s layout had no build.json
    (tmp_path / "bm25" / "CURRENT").write_text(old.name)
    builds = BM25Builds(tmp_path / "bm25")
    assert builds.published_version() is None  # so the store publishes again
    built = builds.publish(manifest, manifest.version)
    assert len(built.chunk_ids) == manifest.counts()[1]
    assert not (tmp_path / "bm25" / "chunk_ids.json").exists()
    manifest.close()


def test_chunks_of_changed_papers_only(tmp_path: Path) -> None:
    manifest = SQLiteManifest(tmp_path / "manifest.sqlite")
    papers = corpus(30)
    commit(manifest, papers[:20])
    since = manifest.version
    commit(manifest, papers[20:])
    manifest.remove_papers(["p1"])
    assert manifest.changed_since(since) == {p.id for p in papers[20:]} | {"p1"}
    rows = list(manifest.lexical_rows(["p25", "p1", "p26"]))
    assert {c.paper_id for c, _ in rows} == {"p25", "p26"}
    assert all(isinstance(c, Chunk) for c, _ in rows)
    manifest.trim_log(manifest.version)
    assert manifest.changed_since(since) is None  # trimmed past it: the next publish rebuilds
    assert manifest.changed_since(manifest.version) == set()
    manifest.close()


def test_a_rebuild_of_a_big_corpus_makes_bounded_segments_that_score_as_one() -> None:
    papers = corpus(120)
    rows = [(c, FilterFields.of(p)) for p in papers for c in chunks_of(p)]
    whole = BM25Index.build(rows, version=1)
    split = BM25Index.build(rows, version=1, segment_chunks=50)
    assert [len(s) for _, s in split.segments] == [50, 50, len(rows) - 100] and split.base == 3
    for query in QUERIES:
        a, b = (
            split.search(query, 20, Filters(category="cs.IR")),
            whole.search(query, 20, Filters(category="cs.IR")),
        )
        assert [c for c, _ in a] == [c for c, _ in b]
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-5)
