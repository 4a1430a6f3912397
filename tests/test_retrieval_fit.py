"""Fusion (rag/fusion.py) on hand-made rankings, the calibration script's pieces that need no index, and
the retriever ordering papers by the configured fusion (in-memory index parts, a word-hash embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.calibrate_retrieval import Fusion, Scores, eligible, held_out
from ingest.pipeline import ingest
from rag.fusion import FUSION_METHODS, FusionMethod, fuse, normalise, ranks, rrf, score_fusion
from rag.index.store import IndexStore
from rag.retrieval import Retriever
from rag.settings import Settings
from tests.index_fixtures import WordHashEmbedder

DENSE = {"a": 0.80, "b": 0.78, "c": 0.40}  # cosine: a and b nearly tied, c far behind
BM25 = {"c": 30.0, "a": 12.0, "d": 11.0}  # c a landslide


def test_ranks_best_first() -> None:
    assert ranks(DENSE) == {"a": 1, "b": 2, "c": 3}
    assert ranks({}) == {}


def test_rrf_by_hand() -> None:
    fused = rrf([(ranks(DENSE), 1.0), (ranks(BM25), 1.0)], k=60)
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d"] == pytest.approx(1 / 63)  # only in one ranking
    assert sorted(fused, key=lambda p: -fused[p]) == ["a", "c", "b", "d"]
    # a heavier dense ranking lets b (dense #2) pass c (BM25 #1 but dense #3)
    heavy = rrf([(ranks(DENSE), 8.0), (ranks(BM25), 1.0)], k=1)  # b 8/3 against c 8/4 + 1/2
    assert heavy["b"] > heavy["c"]


def test_normalise_minmax_and_zscore() -> None:
    assert normalise({"x": 2.0, "y": 4.0, "z": 3.0}, "minmax") == {"x": 0.0, "y": 1.0, "z": 0.5}
    z = normalise({"x": 1.0, "y": 3.0}, "zscore")
    assert z == {"x": pytest.approx(-1.0), "y": pytest.approx(1.0)}
    assert normalise({"x": 5.0, "y": 5.0}, "minmax") == {"x": 1.0, "y": 1.0}
    assert normalise({"x": 5.0}, "zscore") == {"x": 0.0}
    assert normalise({}, "minmax") == {}


def test_score_fusion_sees_margins_rank_fusion_does_not() -> None:
    fused = score_fusion([(DENSE, 1.0), (BM25, 1.0)], "minmax")
    # min-max: dense a=1, b=0.95, c=0; BM25 c=1, a=1/19, d=0; b missing from BM25 takes its floor 0
    assert fused["a"] == pytest.approx(1 + 1 / 19)
    assert fused["b"] == pytest.approx(0.38 / 0.40)
    assert fused["c"] == pytest.approx(1.0)
    assert fused["d"] == pytest.approx(0.0)  # missing from dense: its floor, 0
    assert sorted(fused, key=lambda p: -fused[p]) == ["a", "c", "b", "d"]
    # z-scores: a key missing from a ranking takes that ranking's lowest z-score, not 0
    z = score_fusion([(DENSE, 1.0), (BM25, 0.0)], "zscore")
    assert z["d"] == pytest.approx(min(normalise(DENSE, "zscore").values()))


def test_fuse_dispatches_and_weights() -> None:
    args = {"dense_weight": 1.0, "bm25_weight": 1.0, "rrf_k": 60.0}
    assert fuse(DENSE, BM25, method="rrf", **args) == rrf([(ranks(DENSE), 1.0), (ranks(BM25), 1.0)], 60)
    assert fuse(DENSE, BM25, method="zscore", **args) == score_fusion(
        [(DENSE, 1.0), (BM25, 1.0)], "zscore", missing=(None, 0.0)
    )  # a paper BM25 doesn't list scores BM25 0 there
    dense_only = fuse(DENSE, BM25, method="minmax", dense_weight=1.0, bm25_weight=0.0, rrf_k=60)
    assert sorted(dense_only, key=lambda p: -dense_only[p])[:3] == ["a", "b", "c"]
    assert fuse({}, {}, method="rrf", **args) == {}


def test_a_single_bm25_candidate_still_counts() -> None:
    # "What does the CD-NOD paper propose?": only one abstract holds the rare term; z-scored over its
    # one candidate BM25 would give it 0, and the paper that names the thing asked about no credit
    dense = {"a": 0.50, "b": 0.48, "c": 0.47, "named": 0.40}
    fused = fuse(dense, {"named": 4.3}, method="zscore", dense_weight=0.7, bm25_weight=1.0, rrf_k=60)
    assert max(fused, key=lambda p: fused[p]) == "named"


def test_fusion_candidate_ranks_and_names() -> None:
    assert Fusion("rrf", 1.0, 60).rank((DENSE, BM25), k=2) == ["a", "c"]
    assert str(Fusion("rrf", 1.5, 5)) == "rrf k=5 w=1.5, BM25 k1=1.5 b=0.75"
    assert str(Fusion("minmax", 0.75, bm25=(0.9, 0.4))) == "minmax w=0.75, BM25 k1=0.9 b=0.4"
    assert str(Fusion("rrf", 0.0)) == "BM25 k1=1.5 b=0.75"
    assert Fusion("zscore", 2.0, bm25=(0.9, 0.75)).values() == {
        "retrieval.fusion": "zscore",
        "retrieval.rrf_k": 60.0,
        "retrieval.dense_weight": 2.0,
        "retrieval.bm25_k1": 0.9,
        "retrieval.bm25_b": 0.75,
    }


def test_a_retriever_passes_the_fitted_bm25_parameters(tmp_path: Path) -> None:
    """k1 and b reach the lexical index at query time: the same index ranks differently under them."""
    corpus = tmp_path / "papers.jsonl"
    rows = [
        {"id": "short", "title": "Short", "abstract": "Graph graph graph network."},
        {"id": "long", "title": "Long", "abstract": "Graph network " + " ".join(f"w{i}" for i in range(60))},
    ]
    corpus.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    settings = Settings(home=tmp_path)
    store = IndexStore.in_memory(settings, WordHashEmbedder(dim=64))
    ingest(settings, [str(corpus)], store=store, progress=False)
    index = store.bm25()
    for k1, b in [(1.5, 0.75), (0.5, 0.0)]:
        tuned = settings.retrieval.model_copy(update={"bm25_k1": k1, "bm25_b": b})
        assert Retriever(store, tuned).sparse("graph network", 2, None) == index.search(
            "graph network", 2, k1=k1, b=b
        )
    assert index.search("graph network", 2, k1=0.5, b=0.0) != index.search("graph network", 2)


def test_held_out_part_is_stable_and_about_a_third() -> None:
    ids = [str(i) for i in range(3000)]
    share = sum(held_out(q) for q in ids) / len(ids)
    assert 0.3 < share < 0.37
    assert [held_out(q) for q in ids[:50]] == [held_out(q) for q in ids[:50]]


def test_eligible_means_no_sample_figure_lost() -> None:
    now = Scores(sample={"R@1": 0.943, "R@5": 0.994, "MRR": 0.972, "nDCG@10": 0.975})
    assert eligible(now, now)
    assert eligible(Scores(sample={**now.sample, "R@1": 0.962, "nDCG@10": 0.982}), now)
    assert not eligible(Scores(sample={**now.sample, "R@1": 0.925, "nDCG@10": 0.99}), now)


def test_settings_hold_a_calibrated_fusion_and_take_overrides() -> None:
    retrieval = Settings().retrieval
    assert retrieval.fusion in ("rrf", "minmax", "zscore")
    assert Settings(retrieval={"fusion": "zscore", "dense_weight": 2.0}).retrieval.fusion == "zscore"
    with pytest.raises(ValueError):
        Settings(retrieval={"fusion": "median"})


PAPERS = [
    (
        "p1",
        "Coral reef bleaching",
        "Warm ocean water makes corals expel their symbiotic algae, bleaching reefs.",
    ),
    (
        "p2",
        "Honeybee waggle dance",
        "Honeybees tell the direction and distance of flowers with a waggle dance.",
    ),
    ("p3", "Reef fish and warm water", "Fish on coral reefs move to deeper water when the ocean warms."),
    ("p4", "Medieval castles", "Concentric castles used several curtain walls for defence."),
]


@pytest.mark.parametrize("fusion", FUSION_METHODS)
def test_retriever_orders_papers_by_the_configured_fusion(tmp_path: Path, fusion: FusionMethod) -> None:
    settings = Settings(home=tmp_path, retrieval={"fusion": fusion, "dense_weight": 0.9, "rrf_k": 60})
    corpus = tmp_path / "papers.jsonl"
    corpus.write_text(
        "\n".join(json.dumps({"id": i, "title": t, "abstract": a}) for i, t, a in PAPERS) + "\n"
    )
    store = IndexStore.in_memory(settings, WordHashEmbedder(dim=256))
    ingest(settings, [str(corpus)], store=store, progress=False)
    retriever = Retriever(store, settings.retrieval)
    question = "Why do corals bleach when the ocean water is warm?"
    dense, sparse = retriever.candidates(question, 50)
    fused = fuse(dense, sparse, method=fusion, dense_weight=0.9, bm25_weight=1.0, rrf_k=60)
    hits = retriever.search(question, k=3)
    assert [h.paper_id for h in hits] == sorted(fused, key=lambda p: -fused[p])[:3]
    assert [h.score for h in hits] == [fused[h.paper_id] for h in hits]
    assert hits[0].paper_id == "p1"
    # one retriever alone keeps its own order, whatever the fusion
    assert [h.paper_id for h in retriever.search(question, k=3, method="bm25")] == list(sparse)[:3]
    assert [h.paper_id for h in retriever.search(question, k=3, method="dense")] == list(dense)[:3]
