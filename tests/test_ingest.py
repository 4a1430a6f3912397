"""Ingest into a real index (bundled MiniLM + Chroma, embedded and server): counts,
incremental re-ingest, updates, pruning, dedup across formats, collection naming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from rag.index.chunk_ids import paper_of
from rag.index.store import IndexStore
from tests.conftest import SAMPLE
from tests.test_sources import ABSTRACT, arxiv_record, write_jsonl


def open_store(settings, embedder) -> IndexStore:  # type: ignore[no-untyped-def]
    return IndexStore.open(settings, embedder=embedder)


def test_sample_ingests_320_papers_and_reingest_embeds_nothing(make_settings, embedder) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    store = open_store(settings, embedder)
    first = ingest(settings, [SAMPLE], store=store, progress=False)
    assert (first.papers_seen, first.new, first.unchanged, first.skipped) == (320, 320, 0, [])
    papers, chunks = store.manifest.counts()
    assert papers == 320
    assert first.chunks_embedded == chunks == store.vectors.count()
    assert chunks > 320  # abstracts longer than one chunk are split

    # No chunk is longer than the embedding model's window (nothing silently truncated),
    # and every chunk starts with its paper's title.
    titles = {p.id: p.title for p in store.manifest.papers()}
    chunks_stored = list(store.manifest.chunks())
    assert max(embedder.count_tokens([c.text for c in chunks_stored])) <= embedder.max_tokens
    for chunk in chunks_stored:
        assert chunk.text.startswith(titles[chunk.paper_id] + "\n")

    second = ingest(settings, [SAMPLE], store=store, progress=False)
    assert (second.new, second.updated, second.unchanged, second.chunks_embedded) == (0, 0, 320, 0)

    # the index answers a query: the CloudFormer paper is the top dense hit for its own topic
    hits = store.vectors.query(embedder.embed_batch(["VM performance prediction in public clouds"])[0], k=3)
    assert titles[paper_of(hits[0].chunk_id)].startswith("CloudFormer")


def test_changed_abstract_replaces_its_chunks_and_prune_removes(
    make_settings, embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    store = open_store(settings, embedder)
    long_abstract = " ".join(
        f"Sentence number {i} says something about sparse attention kernels." for i in range(40)
    )
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"id": "p1", "title": "Paper one", "abstract": long_abstract},
            {"id": "p2", "title": "Paper two", "abstract": ABSTRACT},
        ],
    )
    first = ingest(settings, [path], store=store, progress=False)
    assert first.new == 2
    old_chunks = store.vectors.count()
    assert old_chunks >= 3

    write_jsonl(
        path,
        [
            {
                "id": "p1",
                "title": "Paper one",
                "abstract": "Now a short abstract about graph neural networks.",
            },
            {"id": "p2", "title": "Paper two", "abstract": ABSTRACT},
        ],
    )
    second = ingest(settings, [path], store=store, progress=False)
    assert (second.new, second.updated, second.unchanged, second.chunks_embedded) == (0, 1, 1, 1)
    assert store.vectors.count() == store.manifest.counts()[1] == 2  # the old p1 chunks are gone

    write_jsonl(path, [{"id": "p2", "title": "Paper two", "abstract": ABSTRACT}])
    kept = ingest(settings, [path], store=store, progress=False)
    assert kept.removed == 0 and store.manifest.counts()[0] == 2  # without --prune nothing is removed
    pruned = ingest(settings, [path], store=store, progress=False, prune=True)
    assert pruned.removed == 1
    assert [p.id for p in store.manifest.papers()] == ["p2"]
    assert store.vectors.count() == 1
    assert [paper_of(c) for c in store.bm25().chunk_ids] == ["p2"]


def test_duplicates_across_formats_merge_metadata(make_settings, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    store = open_store(settings, embedder)
    arxiv = write_jsonl(tmp_path / "snapshot.json", [arxiv_record("2101.00001", "Shared Paper: A Study")])
    csv_path = tmp_path / "list.csv"
    csv_path.write_text(
        f'title,abstract,tags\nshared paper - a study!,"{ABSTRACT}",physics.optics\n', encoding="utf-8"
    )
    hf = tmp_path / "page.txt"
    hf.write_text(
        "Get trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
        f"Shared Paper: A Study\n\n{ABSTRACT} More text makes this a proper abstract paragraph.\n\n"
        "  • 2 authors\n·\nJan 5, 2021\n\n"
        f"Another Paper Entirely\n\n{ABSTRACT} Yet another abstract that is long enough here.\n",
        encoding="utf-8",
    )
    summary = ingest(
        settings, [hf, csv_path, arxiv], store=store, progress=False, field_map={"categories": "tags"}
    )
    assert summary.papers_seen == 2
    assert summary.duplicates_merged == 2
    merged = next(p for p in store.manifest.papers() if p.norm_title == "shared paper a study")
    assert merged.id == "2101.00001"  # the source's own id wins over a title hash
    assert merged.url == "https://arxiv.org/abs/2101.00001"
    assert merged.authors == ["Ada Lovelace", "Alan Turing"]
    assert set(merged.categories) == {"physics.optics", "cs.CL", "cs.LG"}
    assert set(merged.source.split(",")) == {"arxiv", "csv", "hf_daily"}


def test_collection_name_follows_what_shapes_the_vectors(make_settings) -> None:  # type: ignore[no-untyped-def]
    base = make_settings()
    assert make_settings().collection_name == base.collection_name
    assert make_settings(chunking={"chunk_size": 300}).collection_name != base.collection_name
    assert make_settings(chunking={"chunk_overlap": 0}).collection_name != base.collection_name
    assert make_settings(embedding={"model": "/models/other"}).collection_name != base.collection_name
    assert make_settings(embedding={"batch_size": 8}).collection_name == base.collection_name  # speed only
    assert make_settings(chunking={"chunk_size": 300}).index_dir != base.index_dir


@pytest.mark.parametrize("chroma_backend", ["embedded"], indirect=True)
def test_chunk_setting_change_builds_a_separate_collection(make_settings, embedder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_jsonl(tmp_path / "a.jsonl", [{"id": "p1", "title": "T", "abstract": ABSTRACT}])
    small = make_settings(chunking={"chunk_size": 64, "chunk_overlap": 8})
    ingest(small, [path], store=open_store(small, embedder), progress=False)
    large = make_settings(chunking={"chunk_size": 256, "chunk_overlap": 8})
    again = ingest(large, [path], store=open_store(large, embedder), progress=False)
    assert again.new == 1  # nothing reused from the other collection's vectors
    names = {c.name for c in open_store(large, embedder).vectors.client.list_collections()}  # type: ignore[attr-defined]
    assert {small.collection_name, large.collection_name} <= names


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rag.settings import Settings

    monkeypatch.setenv("ASKPAPERS_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("ASKPAPERS_CHUNKING__CHUNK_SIZE", "99")
    settings = Settings()
    assert settings.home == tmp_path / "h"
    assert settings.chunking.chunk_size == 99
    assert json.loads(json.dumps(settings.vector_shape()))["chunk_size"] == 99


def test_ingest_writes_through_any_index_parts(index_parts, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The ingest only talks to the store's interfaces: on in-memory parts and on real ones (with a
    stand-in embedder, no model) it writes, re-ingests nothing and prunes alike."""
    settings = index_parts.settings
    store = index_parts.writer()
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [{"id": f"p{i}", "title": f"Paper {i}", "abstract": ABSTRACT, "year": 2020 + i} for i in range(3)],
    )
    first = ingest(settings, [path], store=store, progress=False)
    assert (first.new, first.chunks_embedded) == (3, store.vectors.count())
    assert store.vectors.ids() == {c.id for c in store.manifest.chunks()} == set(store.bm25().chunk_ids)
    assert ingest(settings, [path], store=store, progress=False).chunks_embedded == 0
    write_jsonl(path, [{"id": "p1", "title": "Paper 1", "abstract": ABSTRACT, "year": 2021}])
    assert ingest(settings, [path], store=store, progress=False, prune=True).removed == 2
    assert [paper_of(c) for c in store.bm25().chunk_ids] == ["p1"] and store.vectors.count() == 1


def test_adding_one_paper_writes_one_lexical_segment_not_a_rebuild(
    make_settings, embedder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The sample's BM25 build is extended by one small segment for one new paper: the base segment on
    disk is the same directory, untouched (its files' mtimes), and the new paper is found by BM25."""
    settings = make_settings()
    store = open_store(settings, embedder)
    ingest(settings, [SAMPLE], store=store, progress=False)
    segments = store.bm25_dir / "segments"
    (base,) = list(segments.iterdir())
    stamps = {f.name: f.stat().st_mtime_ns for f in base.iterdir()}
    new = write_jsonl(
        tmp_path / "new.jsonl",
        [{"id": "zz1", "title": "Quokka retrieval", "abstract": "Quokkas index abstracts. " + ABSTRACT}],
    )
    summary = ingest(settings, [SAMPLE, new], store=store, progress=False)
    assert (summary.new, summary.unchanged) == (1, 320)
    build = store.bm25()
    assert [name for name, _ in build.segments][0] == base.name and len(build.segments) == 2  # type: ignore[attr-defined]
    assert {f.name: f.stat().st_mtime_ns for f in base.iterdir()} == stamps  # the base was not rewritten
    assert len(build.segments[1][1]) == len([c for c in store.manifest.chunks() if c.paper_id == "zz1"])  # type: ignore[attr-defined]
    assert paper_of(build.search("quokka", 1)[0][0]) == "zz1"
