"""One contract for the index parts, run on the real ones (SQLite, Chroma through its owner, BM25
builds on disk) and the in-memory ones: writes, ranking, every filter alone and combined, the write
protocol's cleanup, and readers picking up a new lexical build. Plus a year filter on a collection
where listing the allowed ids (the old way) exceeded SQLite's variable limit inside Chroma."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rag.errors import IndexWriteError
from rag.index.chunk_ids import chunk_id, paper_of
from rag.index.filtering import Conditions, FilterFields, name_words
from rag.index.lexical import BM25Index
from rag.index.manifest import SQLiteManifest
from rag.index.memory import MemoryManifest
from rag.index.store import EmbeddedBatch, IndexStore
from rag.records import Chunk, Paper
from rag.retrieval import Retriever
from rag.settings import Settings
from rag.types import Filters
from tests.index_fixtures import IndexParts, WordHashEmbedder, chunks_of, real_settings


def paper(
    pid: str, year: int | None, authors: list[str], categories: list[str], source: str, text: str
) -> Paper:
    return Paper(
        title=f"Paper {pid}",
        abstract=text,
        id=pid,
        year=year,
        authors=authors,
        categories=categories,
        source=source,
    )


# Every abstract says "retrieval", so a query for it reaches every paper and only filters narrow it.
CORPUS = [
    paper("a", 2019, ["Ada Lovelace"], ["cs.CL"], "arxiv", "Sparse retrieval with learned term weights."),
    paper("b", 2021, ["Alan Turing", "Grace Hopper"], ["cs.LG"], "arxiv,csv", "Dense retrieval of proofs."),
    paper("c", 2023, ["Anna van der Berg"], ["cs.CL", "stat.ML"], "hf_daily", "Retrieval for tables."),
    paper("d", None, ["Jöns Müller"], [], "csv", "Retrieval of old letters without a date."),
    paper("e", 2024, [], ["stat.ML"], "arxiv", "Retrieval of sensor streams, anonymously."),
]
# "c" has two chunks: filters hold for every chunk of a passing paper, in both retrievers.
CHUNKS = {
    p.id: chunks_of(p, "Retrieval for tables.", "Column retrieval and row retrieval.")
    if p.id == "c"
    else chunks_of(p)
    for p in CORPUS
}

FILTER_CASES = [
    (Filters(year_from=2021), "bce"),
    (Filters(year_to=2021), "ab"),  # a paper without a year never passes a year condition
    (Filters(year_from=2020, year_to=2023), "bc"),
    (Filters(year_from=2022, year_to=2020), ""),
    (Filters(category="cs.CL"), "ac"),
    (Filters(category="STAT.ML"), "ce"),
    (Filters(category="cs"), ""),  # a whole category, not a prefix
    (Filters(source="csv"), "bd"),
    (Filters(source="ArXiv"), "abe"),
    (Filters(author="hopper"), "b"),
    (Filters(author="Grace Hopper"), "b"),
    (Filters(author="van der berg"), "c"),
    (Filters(author="Berg, van"), "c"),  # words in any order, punctuation ignored
    (Filters(author="muller"), "d"),  # accents ignored both ways
    (Filters(author="MÜLLER"), "d"),
    (Filters(author="lovelac"), ""),  # whole words only
    (Filters(author="ada turing"), ""),  # every word must be an author word of the same paper
    (Filters(author="nobody"), ""),
    (Filters(category="cs.CL", year_from=2020), "c"),
    (Filters(source="arxiv", author="turing", year_to=2021, category="cs.lg"), "b"),
    (Filters(source="arxiv", category="stat.ml", year_from=2024, year_to=2024), "e"),
    (Filters(author="   "), "abcde"),  # no word: no condition
]
FILTER_IDS = [repr({k: v for k, v in vars(f).items() if v is not None}) for f, _ in FILTER_CASES]


def store_papers(store: IndexStore, papers: list[Paper], chunks: list[Chunk] | None = None) -> None:
    chunks = chunks if chunks is not None else [c for p in papers for c in CHUNKS[p.id]]
    store.store_embedded(EmbeddedBatch(papers, chunks, store.embedder.embed_batch([c.text for c in chunks])))


def papers_of(chunk_ids: list[str]) -> str:
    return "".join(sorted({paper_of(c) for c in chunk_ids}))


# --- one filled index of each kind, shared by the read-only tests ------------------------------
@pytest.fixture(scope="module", params=["real", "memory"])
def filled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexStore]:
    parts = IndexParts(request.param, real_settings(tmp_path_factory.mktemp("filled")), WordHashEmbedder())
    store = parts.writer()
    store_papers(store, CORPUS)
    store.publish_bm25()
    try:
        yield parts.reader()
    finally:
        parts.close()


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES, ids=FILTER_IDS)
def test_every_filter_means_the_same_in_every_store(
    filled: IndexStore, filters: Filters, expected: str
) -> None:
    query = filled.embedder.embed_batch(["retrieval"])[0]
    assert papers_of([h.chunk_id for h in filled.vectors.query(query, 50, filters)]) == expected
    assert papers_of([cid for cid, _ in filled.bm25().search("retrieval", 50, filters)]) == expected
    lexical = filled.bm25()
    assert isinstance(lexical, BM25Index) and lexical.has_vectors  # the ingest kept float16 vectors
    if Conditions.of(filters) is not None:  # filtered dense search, scored locally: Chroma's ranking
        local = lexical.dense(query, 50, filters)
        store = [(h.chunk_id, h.score) for h in filled.vectors.query(query, 50, filters)]
        assert [c for c, _ in local] == [c for c, _ in store]
        assert [s for _, s in local] == pytest.approx([s for _, s in store], abs=2e-3)  # float16
    retriever = Retriever(filled, filled.settings.retrieval)
    for method in ("hybrid", "dense", "bm25"):
        hits = retriever.search("retrieval", 10, filters, method=method)
        assert "".join(sorted(h.paper_id for h in hits)) == expected, method


def test_dense_and_lexical_ranking(filled: IndexStore) -> None:
    query = filled.embedder.embed_batch(["Paper d\nRetrieval of old letters without a date."])[0]
    hits = filled.vectors.query(query, 3)
    assert paper_of(hits[0].chunk_id) == "d" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(hits) == 3
    lexical = filled.bm25().search("column row tables", 5)
    assert lexical and paper_of(lexical[0][0]) == "c"
    assert all(score > 0 for _, score in lexical)
    assert filled.bm25().search("zebra", 5) == []  # no positive score, no hit
    found = Retriever(filled, filled.settings.retrieval).search("sensor streams", 2)
    assert found[0].paper_id == "e" and found[0].year == 2024 and found[0].chunk.startswith("Paper e\n")


# --- writes and the write protocol, on a fresh index of each kind --------------------------------
def test_upsert_replace_and_delete(index_parts: IndexParts) -> None:
    store = index_parts.writer()
    store_papers(store, CORPUS[:2])
    listed = {c.id for c in store.manifest.chunks()}
    assert store.vectors.ids() == listed and store.vectors.count() == 2

    # a changed abstract: new chunk ids; the old vector goes once the manifest commits the new one
    changed = replace(CORPUS[0], abstract="Now about graph retrieval.")
    store_papers(store, [changed], chunks_of(changed))
    assert (
        store.vectors.ids()
        == {c.id for c in store.manifest.chunks()}
        == {
            chunks_of(changed)[0].id,
            CHUNKS["b"][0].id,
        }
    )
    # changed metadata, same text: same chunk id, its filter fields replaced (none may linger)
    moved = replace(CORPUS[1], categories=[], year=None, authors=["Someone Else"], source="csv")
    store_papers(store, [moved], CHUNKS["b"])
    query = store.embedder.embed_batch(["retrieval"])[0]
    for gone in (Filters(category="cs.LG"), Filters(year_from=2020), Filters(author="turing")):
        assert store.vectors.query(query, 10, gone) == []
    assert papers_of([h.chunk_id for h in store.vectors.query(query, 10, Filters(author="else"))]) == "b"

    store.remove_papers(["b"])
    assert store.vectors.ids() == {chunks_of(changed)[0].id} and store.vectors.count() == 1
    store.vectors.delete(
        [chunks_of(changed)[0].id, chunk_id("never-written", 0, "x")]
    )  # unknown ids are no error
    assert store.vectors.count() == 0 and store.vectors.query(query, 5) == []


def test_an_interrupted_batch_leaves_only_orphans_the_next_run_deletes(
    index_parts: IndexParts, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = index_parts.writer()
    store_papers(store, CORPUS[:1])
    store.publish_bm25()

    def stopped(*args: object) -> list[str]:
        raise KeyboardInterrupt  # the run stops after the vectors, before the manifest commit

    with monkeypatch.context() as patched:
        patched.setattr(store.manifest, "commit_papers", stopped)
        with pytest.raises(KeyboardInterrupt):
            store_papers(store, CORPUS[1:3])
    written = {c.id for p in CORPUS[1:3] for c in CHUNKS[p.id]}
    assert written <= store.vectors.ids()  # in the vector store, listed nowhere
    reader = index_parts.reader()
    assert [h.paper_id for h in Retriever(reader, reader.settings.retrieval).search("retrieval", 10)] == ["a"]

    # a replaced chunk whose vector could not be deleted stays listed as garbage
    changed = replace(CORPUS[0], abstract="A new abstract about retrieval.")
    with monkeypatch.context() as patched:
        patched.setattr(store.vectors, "delete", lambda ids: (_ for _ in ()).throw(OSError(28, "full")))
        with pytest.raises(IndexWriteError):
            store_papers(store, [changed], chunks_of(changed))
    assert CHUNKS["a"][0].id in store.vectors.ids()

    assert store.clean_orphans() == len(written) + 1
    assert store.vectors.ids() == {c.id for c in store.manifest.chunks()} == {chunks_of(changed)[0].id}
    assert store.clean_orphans() == 0


def test_a_reader_picks_up_a_new_lexical_build(index_parts: IndexParts) -> None:
    writer = index_parts.writer()
    store_papers(writer, CORPUS[:1])
    first = writer.publish_bm25()
    assert first is not None and first.version == writer.manifest.version
    assert writer.publish_bm25() is None  # already current
    reader = index_parts.reader()
    assert reader.bm25().version == first.version
    assert papers_of([c for c, _ in reader.bm25().search("retrieval", 10)]) == "a"

    store_papers(writer, CORPUS[1:])
    assert reader.bm25().version == first.version  # nothing published yet: the old build answers
    writer.publish_bm25()
    assert reader.bm25().version == writer.manifest.version
    assert papers_of([c for c, _ in reader.bm25().search("retrieval", 10)]) == "abcde"
    assert papers_of([c for c, _ in reader.bm25().search("retrieval", 10, Filters(source="csv"))]) == "bd"
    assert sorted(reader.bm25().chunk_ids) == sorted(c.id for c in writer.manifest.chunks())


def test_an_empty_index_answers_nothing(index_parts: IndexParts) -> None:
    store = index_parts.writer()
    assert store.bm25().version is None and store.bm25().search("retrieval", 5) == []
    assert store.vectors.query(store.embedder.embed_batch(["x"])[0], 5, Filters(author="x")) == []
    assert Retriever(store, store.settings.retrieval).search("retrieval", 5) == []
    store.publish_bm25()  # a published empty build
    assert index_parts.reader().bm25().search("retrieval", 5, Filters(year_from=2000)) == []


# --- the manifest alone -------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "memory"])
def manifest(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteManifest | MemoryManifest]:
    made = SQLiteManifest(tmp_path / "manifest.sqlite") if request.param == "sqlite" else MemoryManifest()
    yield made
    made.close()


def test_manifest_bookkeeping(manifest: SQLiteManifest | MemoryManifest) -> None:
    a, b, c = CORPUS[:3]
    assert manifest.version == 0 and manifest.counts() == (0, 0)
    manifest.mark_pending(ch.id for p in (a, b) for ch in CHUNKS[p.id])
    assert set(manifest.orphans()) == {CHUNKS["a"][0].id, CHUNKS["b"][0].id}
    assert manifest.commit_papers([a, b], CHUNKS["a"] + CHUNKS["b"]) == []
    assert manifest.orphans() == [] and manifest.version == 1
    assert manifest.hashes() == {"a": a.content_hash(), "b": b.content_hash()}
    assert [p.id for p in manifest.papers(["b", "zzz", "a"])] == ["b", "a"]
    assert manifest.id_for_title(a.norm_title) == "a" and manifest.id_for_title("nothing") is None
    assert manifest.sources() == {"arxiv": 2, "csv": 1}
    assert manifest.listed_chunks([CHUNKS["a"][0].id, chunk_id("x", 0, "y")]) == {CHUNKS["a"][0].id}

    changed = replace(a, abstract="Something else entirely.", categories=["cs.IR"])
    new = chunks_of(changed)
    assert manifest.commit_papers([changed, c], new + CHUNKS["c"]) == [CHUNKS["a"][0].id]
    assert manifest.orphans() == [CHUNKS["a"][0].id]  # garbage until its vector is deleted
    manifest.forget_orphans([CHUNKS["a"][0].id])
    assert manifest.orphans() == []
    assert [p.id for p in manifest.papers()] == ["b", "a", "c"]  # in commit order
    assert manifest.counts() == (3, 4)
    assert manifest.chunk_texts([new[0].id]) == {new[0].id: new[0].text}
    rows = list(manifest.lexical_rows())
    assert (
        [ch for ch, _ in rows]
        == list(manifest.chunks())
        == sorted(new + CHUNKS["b"] + CHUNKS["c"], key=lambda ch: (ch.paper_id, ch.idx))
    )
    assert dict((ch.paper_id, f) for ch, f in rows)["a"] == FilterFields.of(changed)

    assert sorted(manifest.remove_papers(["c", "nope"])) == sorted(ch.id for ch in CHUNKS["c"])
    assert sorted(manifest.orphans()) == sorted(ch.id for ch in CHUNKS["c"])
    assert manifest.counts() == (2, 2) and manifest.version == 3


def test_references_find_papers_by_doi_and_arxiv_id(manifest: SQLiteManifest | MemoryManifest) -> None:
    from rag.records import external_keys

    arxiv = replace(CORPUS[0], id="2101.00001", url="https://arxiv.org/abs/2101.00001v2")
    doi = replace(CORPUS[1], doi="10.1145/3292500.3330701")
    manifest.commit_papers([arxiv, doi], chunks_of(arxiv) + chunks_of(doi))
    entry = "A. Lovelace. Sparse retrieval. arXiv:2101.00001, 2021."
    assert [manifest.find(k) for k in external_keys(entry)] == ["2101.00001"]
    assert manifest.find(external_keys("https://doi.org/10.1145/3292500.3330701")[0]) == "b"
    assert manifest.find("doi:10.9999/nothing") is None
    manifest.remove_papers(["b"])
    assert manifest.find("doi:10.1145/3292500.3330701") is None  # a removed paper's ids go with it


def test_filter_fields_and_conditions_normalise_both_sides() -> None:
    assert name_words("Jöns-Åke van der BERG") == ["jons", "ake", "van", "der", "berg"]
    fields = FilterFields.of(
        paper("x", 2020, ["Ada Lovelace", "ADA"], [" cs.CL ", "cs.cl"], "arxiv,CSV", "t")
    )
    assert fields == FilterFields(2020, ("cs.cl",), ("arxiv", "csv"), ("ada", "lovelace"))
    assert FilterFields.from_json(fields.to_json()) == fields
    assert Conditions.of(Filters()) is None and Conditions.of(Filters(author="--")) is None
    assert Conditions.of(Filters(category=" CS.CL ", author="Van der Berg")) == Conditions(
        category="cs.cl", author_words=("van", "der", "berg")
    )


# --- scale: the filter that used to fail ---------------------------------------------------------
@pytest.mark.slow
def test_a_year_filter_where_listing_allowed_ids_overflowed_sqlite(tmp_path: Path) -> None:
    """40,000 one-chunk papers, 37,333 of them in the year range: the old retriever sent all their
    ids as ``paper_id $in [...]``, beyond SQLite's 32,766 variables, and Chroma failed with 'too many
    SQL variables' (checked against chromadb 1.5.9). Random vectors, written straight through the store."""
    dim, n, batch = 16, 40_000, 5_000
    settings = Settings(home=tmp_path / "home", chroma={"owner_idle_s": 3, "add_batch_size": batch})
    embedder = WordHashEmbedder(dim)
    store = IndexStore.open(settings, embedder=embedder)
    rng = random.Random(7)
    started = time.perf_counter()
    for start in range(0, n, batch):
        papers = [
            paper(
                f"p{i}", 1990 + i % 30, [f"Author{i % 97} Smith"], ["cs.CL"], "arxiv", f"retrieval study {i}"
            )
            for i in range(start, start + batch)
        ]
        chunks = [c for p in papers for c in chunks_of(p)]
        vectors = [[rng.gauss(0, 1) for _ in range(dim)] for _ in chunks]
        store.store_embedded(EmbeddedBatch(papers, chunks, vectors))
    store.publish_bm25()
    written = time.perf_counter() - started
    assert store.vectors.count() == n

    in_range = Filters(year_from=1991, year_to=2018)
    assert sum(1 <= i % 30 <= 28 for i in range(n)) > 32_766  # more ids than SQLite takes
    retriever = Retriever(store, settings.retrieval)
    for method in ("hybrid", "dense", "bm25"):
        hits = retriever.search("retrieval study", 20, in_range, method=method)
        assert len(hits) == 20 and all(1991 <= (h.year or 0) <= 2018 for h in hits), method
    narrow = retriever.search("retrieval study", 20, Filters(year_to=1990, author="author5 smith"))
    assert narrow and all(h.year == 1990 and h.authors == ["Author5 Smith"] for h in narrow)
    assert written < 60, f"writing took {written:.0f} s"
    store.close()
