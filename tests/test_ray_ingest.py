"""``askpapers ingest --ray``: a real two-node Ray cluster on loopback and a real Chroma server build
the same index as a local ingest (same chunk ids, vectors within 1e-5), and a second run embeds
nothing. Beside it, fast tests of ingest/ray_ingest.py's own logic (no Ray)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.ray_ingest import LocalCluster, local_ray_cluster, ray_env
from ingest.ray_ingest import (
    EmbedderActor,
    _actor_count,
    _cluster_error,
    decode_papers,
    decode_result,
    encode_papers,
    encode_result,
    settings_payload,
    windows,
)
from rag.errors import AskpapersError, ConfigError, EndpointError
from rag.index.chunk_ids import chunk_id
from rag.index.store import EmbeddedBatch
from rag.index.vectors import ChromaStore
from rag.records import Chunk, Paper
from rag.settings import Settings
from tests.conftest import SAMPLE, VENV_BIN

#: 55 papers of the HF Daily Papers sample: several batches of 8, so both actors get work.
INPUT = SAMPLE / "003_533eed86349b0319.txt"
BATCH = 8


def _papers(n: int) -> list[Paper]:
    return [
        Paper(title=f"Paper {i}", abstract=f"About thing {i}.", id=f"p{i}", authors=["A B"]) for i in range(n)
    ]


# --- fast: the module's own logic ------------------------------------------------------------


def test_windows_are_consecutive_and_bounded() -> None:
    batches = [_papers(1) for _ in range(7)]
    got = list(windows(iter(batches), 3))
    assert [len(w) for w in got] == [3, 3, 1]
    assert [b for w in got for b in w] == batches
    assert list(windows(iter([]), 3)) == []


def test_papers_and_results_round_trip() -> None:
    papers = _papers(3)
    papers[1].extra = {"note": 'ü \n quote"'}
    assert decode_papers(encode_papers(papers)) == papers
    chunks = [Chunk(id=chunk_id(p.id, 0, p.abstract), paper_id=p.id, idx=0, text=p.abstract) for p in papers]
    vectors = np.random.default_rng(0).random((3, 4), dtype=np.float32).tolist()
    batch = decode_result(papers, encode_result(chunks, vectors))
    assert isinstance(batch, EmbeddedBatch)
    assert batch.papers is papers and batch.chunks == chunks
    assert batch.vectors == vectors  # float32 values travel exactly
    assert decode_result(papers, encode_result([], [])).vectors == []


def test_chunks_of_another_batch_are_refused() -> None:
    papers = _papers(2)
    stranger = Chunk(id=chunk_id("zz", 0, "x"), paper_id="zz", idx=0, text="x")
    with pytest.raises(AskpapersError, match="not in its batch"):
        decode_result(papers, encode_result([stranger], [[0.0, 1.0]]))


def test_settings_travel_as_plain_data(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, chunking={"chunk_size": 120}, openai_api_key="sk-test")  # type: ignore[arg-type]
    payload = json.loads(json.dumps(settings_payload(settings)))
    again = Settings.model_validate(payload)
    assert again.chunking.chunk_size == 120 and again.home == tmp_path
    assert again.collection_name == settings.collection_name
    assert again.openai_api_key is not None and again.openai_api_key.get_secret_value() == "sk-test"


def test_actor_count(tmp_path: Path) -> None:
    default = Settings(home=tmp_path)
    assert _actor_count(default, {"CPU": 3.0}) == 3
    assert _actor_count(default, {}) == 2  # the cluster reports no CPUs
    assert _actor_count(Settings(home=tmp_path, ingest={"ray_actors": 2}), {"CPU": 4.0}) == 2  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="RAY_ACTORS"):
        _actor_count(Settings(home=tmp_path, ingest={"ray_actors": 5}), {"CPU": 4.0})  # type: ignore[arg-type]
    onnx_gpu = Settings(home=tmp_path, ingest={"ray_gpus_per_actor": 1})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="RUNTIME=torch"):
        _actor_count(onnx_gpu, {"CPU": 4.0, "GPU": 4.0})
    gpu = Settings(
        home=tmp_path,
        embedding={"runtime": "torch"},
        ingest={"ray_actors": 2, "ray_gpus_per_actor": 1},
    )  # type: ignore[arg-type]
    assert _actor_count(gpu, {"CPU": 4.0, "GPU": 2.0}) == 2
    with pytest.raises(ConfigError, match="GPUs"):
        _actor_count(gpu, {"CPU": 4.0, "GPU": 1.0})


def test_an_actors_own_error_is_raised_as_itself() -> None:
    papers = _papers(1)
    row = {"error": json.dumps(["ConfigError", "embedding model directory /x does not exist"])}
    with pytest.raises(ConfigError, match="^embedding model directory /x does not exist$"):
        decode_result(papers, row)
    with pytest.raises(AskpapersError, match="^odd$"):
        decode_result(papers, {"error": json.dumps(["SomethingElse", "odd"])})
    lost = _cluster_error(RuntimeError("node died\ntraceback…"))
    assert isinstance(lost, EndpointError) and "node died" in str(lost) and "traceback" not in str(lost)


def test_the_actor_reports_a_missing_model_as_data(tmp_path: Path) -> None:
    """EmbedderActor itself, outside Ray: a model it can't load is a ConfigError on the driver."""
    settings = Settings(home=tmp_path, embedding={"model": str(tmp_path / "no-model")})  # type: ignore[arg-type]
    actor = EmbedderActor(settings_payload(settings), 0)
    out = actor({"seq": np.array([0]), "papers": np.array([encode_papers(_papers(2))], dtype=object)})
    row = {name: values[0] for name, values in out.items()}
    with pytest.raises(ConfigError, match="does not exist"):
        decode_result(_papers(2), row)


# --- slow: a real cluster, a real Chroma server, real processes ----------------------------------


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[LocalCluster]:
    """A head and a second worker node on this machine, one CPU each (so one actor each)."""
    with local_ray_cluster(2) as cluster:
        yield cluster


def _ingest(
    home: Path, *extra: str, env: dict[str, str], chroma_url: str | None = None, namespace: str = "rayt"
) -> dict[str, Any]:
    env = env | {
        "ASKPAPERS_HOME": str(home),
        "ASKPAPERS_INGEST__PAPERS_PER_BATCH": str(BATCH),
        "ASKPAPERS_CHROMA__NAMESPACE": namespace,
    }
    env.pop("ASKPAPERS_CHROMA__URL", None)
    if chroma_url:
        env["ASKPAPERS_CHROMA__URL"] = chroma_url
    done = subprocess.run(
        [str(VENV_BIN / "askpapers"), "ingest", str(INPUT), "--json", "--quiet", *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _vectors(settings: Settings) -> dict[str, np.ndarray]:
    store = ChromaStore(settings, create=False)
    got = store.collection.get(include=["embeddings"])
    return {
        cid: np.asarray(vec, dtype=np.float64) for cid, vec in zip(got["ids"], got["embeddings"], strict=True)
    }


@pytest.mark.slow
def test_ray_ingest_builds_the_index_a_local_ingest_builds(
    ray_cluster: LocalCluster, chroma_server: str, tmp_path: Path
) -> None:
    address, env = ray_cluster.address, ray_cluster.env
    on_ray = _ingest(tmp_path / "ray-home", "--ray", address, env=env, chroma_url=chroma_server)
    local = _ingest(tmp_path / "local-home", env=ray_env())
    assert on_ray["new"] == local["new"] == on_ray["papers_seen"] > 5 * BATCH
    assert on_ray["chunks_embedded"] == local["chunks_embedded"] > 0

    ray_settings = Settings(home=tmp_path / "ray-home", chroma={"url": chroma_server, "namespace": "rayt"})  # type: ignore[arg-type]
    local_settings = Settings(home=tmp_path / "local-home", chroma={"namespace": "rayt"})  # type: ignore[arg-type]
    assert ray_settings.collection_name == local_settings.collection_name
    ray_vectors, local_vectors = _vectors(ray_settings), _vectors(local_settings)
    assert len(ray_vectors) == on_ray["chunks_embedded"]
    assert set(ray_vectors) == set(local_vectors)
    worst = max(float(np.abs(ray_vectors[c] - local_vectors[c]).max()) for c in ray_vectors)
    assert worst <= 1e-5

    again = _ingest(tmp_path / "ray-home", "--ray", address, env=env, chroma_url=chroma_server)
    assert again["chunks_embedded"] == 0 and again["new"] == again["updated"] == 0
    assert again["unchanged"] == on_ray["papers_seen"]
    assert set(_vectors(ray_settings)) == set(ray_vectors)


@pytest.mark.slow
def test_an_unreachable_cluster_is_one_clear_error(tmp_path: Path, chroma_server: str) -> None:
    env = ray_env() | {"ASKPAPERS_HOME": str(tmp_path), "ASKPAPERS_CHROMA__URL": chroma_server}
    done = subprocess.run(
        [str(VENV_BIN / "askpapers"), "ingest", str(INPUT), "--quiet", "--ray", "127.0.0.1:9"],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "can't reach the Ray cluster" in done.stderr, done.stderr[
        -2000:
    ]
