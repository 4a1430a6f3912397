"""The onnx-int8 embedder gives a text the same vector whatever it is embedded with.

Retrieval calibrations (fusion weights, refusal and verifier floors) were fitted on these vectors,
so how the embedder schedules its work — which texts share an ``embed_batch`` call, their order,
how many worker threads run the model — must not move a vector by more than 1e-5.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from rag.embedders import bundled_model_dir
from rag.onnx_embedder import OnnxEmbedder

TOLERANCE = 1e-5
TEXTS = [
    "Graph neural networks for molecules\nWe study message passing on molecular graphs and predict binding affinity.",
    "Sparse attention\nLong documents are costly for transformers; we attend to a few learned blocks per query, "
    "which keeps memory linear in the input length while matching dense attention on three benchmarks.",
    "Vitamin D and fracture risk\nIn a randomised trial of 2,000 adults over 65, daily supplements did not lower the "
    "rate of hip fractures after five years (hazard ratio 0.98, 95% CI 0.81-1.18). Subgroups by baseline serum "
    "level showed no effect either. We conclude that routine supplementation is not supported for this purpose.",
]
# The first 8 dimensions of TEXTS' vectors from the embedder as it was before its scheduling changed
# (static round-robin split, texts shortest first), on this project's machine (AMD EPYC, AVX-512 VNNI).
BEFORE = [
    [-0.0473081, -0.0995938, 0.0131998, 0.0148084, 0.0005944, 0.0106329, 0.0548516, 0.030986],
    [-0.0172896, -0.0350982, -0.0571305, 0.0578599, 0.0287835, 0.0430363, -0.0271786, 0.0674587],
    [-0.052899, 0.0027727, 0.010717, -0.0382778, 0.0161692, -0.0219925, -0.0455441, 0.0821263],
]


def _filler(n: int) -> list[str]:
    """Other texts of varied lengths to share a call with TEXTS."""
    words = [
        "protein",
        "cell",
        "trial",
        "cohort",
        "model",
        "tumour",
        "gene",
        "dose",
        "signal",
        "network",
        "receptor",
        "assay",
    ]
    rng = random.Random(n)
    return [f"Paper {i}\n" + " ".join(rng.choices(words, k=rng.randint(3, 120))) + "." for i in range(n)]


def _vectors(embedder: OnnxEmbedder, texts: list[str]) -> np.ndarray:
    return np.asarray(embedder.embed_batch(texts), dtype=np.float64)


@pytest.fixture(scope="module")
def onnx_embedder(embedder: object) -> OnnxEmbedder:
    if not isinstance(embedder, OnnxEmbedder):
        pytest.skip("the configured embedder is not onnx-int8")
    return embedder


#: Against vectors pinned on another machine: int8 kernels differ by instruction set (with AVX2 alone,
#: u8×s8 products can saturate 16-bit sums where VNNI's can't), so machines agree to ~1e-3, not 1e-5;
#: a changed graph or batching moved them by 0.03 (tests/test_embedder_batching.py's history).
PINNED_TOLERANCE = 5e-3


def test_vectors_match_the_embedder_before_the_change(onnx_embedder: OnnxEmbedder) -> None:
    vectors = _vectors(onnx_embedder, TEXTS)
    assert np.abs(vectors[:, :8] - np.asarray(BEFORE)).max() < PINNED_TOLERANCE


def test_batch_composition_and_order_do_not_move_vectors(onnx_embedder: OnnxEmbedder) -> None:
    alone = np.vstack([_vectors(onnx_embedder, [text]) for text in TEXTS])
    together = _vectors(onnx_embedder, TEXTS)
    others = _filler(40)
    mixed = TEXTS + others
    random.Random(7).shuffle(mixed)
    in_crowd = _vectors(onnx_embedder, mixed)
    reordered = np.vstack([in_crowd[mixed.index(text)] for text in TEXTS])
    assert np.abs(together - alone).max() < TOLERANCE
    assert np.abs(reordered - alone).max() < TOLERANCE
    # every text of the crowd lands on its own row: the filler embedded alone gives the same rows
    filler_alone = _vectors(onnx_embedder, others[:5])
    assert np.abs(np.vstack([in_crowd[mixed.index(t)] for t in others[:5]]) - filler_alone).max() < TOLERANCE


def test_worker_count_does_not_move_vectors(onnx_embedder: OnnxEmbedder) -> None:
    texts = TEXTS + _filler(12)
    one, three = (
        OnnxEmbedder(
            onnx_embedder.name,
            bundled_model_dir(),
            _cache_dir(onnx_embedder),
            max_tokens=onnx_embedder.max_tokens,
            threads=n,
        )
        for n in (1, 3)
    )
    base = _vectors(onnx_embedder, texts)
    assert np.abs(_vectors(one, texts) - base).max() < TOLERANCE
    assert np.abs(_vectors(three, texts) - base).max() < TOLERANCE


def test_vectors_are_unit_length_and_distinct(onnx_embedder: OnnxEmbedder) -> None:
    vectors = _vectors(onnx_embedder, TEXTS + _filler(6))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({tuple(np.round(v, 4)) for v in vectors}) == len(vectors)
    assert onnx_embedder.embed_batch([]) == []


def _cache_dir(embedder: OnnxEmbedder) -> Path:
    return embedder.model_path.parent
