"""Faults a user can meet, on the real command line: a disk that fills mid-ingest, a read-only or
impossible home, a damaged index, files with a byte-order mark. Each ends in one clear message and a
non-zero exit, never a traceback, and leaves nothing in Chroma that the manifest doesn't list."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLE
from tests.test_cli import run
from tests.test_concurrency import assert_consistent
from tests.test_sources import ABSTRACT, write_jsonl


def _mount_tmpfs(target: Path, size: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A 5 MB tmpfs (the sample index needs ~10 MB), or None where this machine can't mount one."""
    mount = tmp_path / "disk"
    if not _mount_tmpfs(mount, "5m"):
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _clean_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("askpapers: error:")]
    assert len(lines) == 1, result.stderr
    assert any(n in lines[0] for n in needles), lines[0]


@pytest.mark.slow
def test_disk_full_mid_ingest_keeps_what_was_committed(
    small_disk: Path | None, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    if small_disk is None:
        _disk_full_injected(tmp_path, embedder)
        return
    home = small_disk / "home"
    env = {"ASKPAPERS_INGEST__PAPERS_PER_BATCH": "16", "ASKPAPERS_CHROMA__OWNER_IDLE_S": "3"}
    failed = run("ingest", str(SAMPLE), home=home, env=env)
    _clean_failure(failed, "disk", "space")
    assert "what was committed is kept" in failed.stderr
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = run("ingest", str(SAMPLE), "--json", home=home, env=env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["new"] + summary["unchanged"] == 320 and summary["unchanged"] > 0
    assert assert_consistent(home)


@pytest.mark.slow
def test_disk_full_injected_at_the_store_boundary(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    _disk_full_injected(tmp_path, embedder)


def test_a_proxy_setting_does_not_break_loopback(small_index: Path) -> None:
    """http_proxy without no_proxy must not send the owner's or Chroma's loopback traffic to the proxy."""
    dead_proxy = "http://127.0.0.1:9"  # nothing listens on the discard port
    env = {
        "http_proxy": dead_proxy,
        "HTTP_PROXY": dead_proxy,
        "ALL_PROXY": dead_proxy,
        "no_proxy": "",
        "NO_PROXY": "",
    }
    done = run("search", "sparse attention", home=small_index, env=env)
    assert done.returncode == 0, done.stderr
    assert "Sparse attention study" in done.stdout


def _disk_full_injected(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    """Where no tmpfs can be mounted: the store boundary fails as Chroma does on a full disk — after
    part of the batch reached it, so the failed batch leaves vectors the manifest doesn't list."""
    from ingest.pipeline import ingest
    from rag.errors import EndpointError, IndexWriteError
    from rag.index.store import IndexStore
    from rag.index.vectors import ChromaStore
    from rag.settings import Settings

    settings = Settings(home=tmp_path / "home", ingest={"papers_per_batch": 16})
    store = IndexStore.open(settings, embedder=embedder)
    calls = {"n": 0}
    real_add = ChromaStore.add

    def failing_add(self, chunks, embeddings, metadatas):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] > 3:
            real_add(self, chunks[:5], embeddings[:5], metadatas[:5])  # part of it was written
            raise EndpointError("Chroma failed to store vectors: InternalError: database or disk is full")
        return real_add(self, chunks, embeddings, metadatas)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ChromaStore, "add", failing_add)
        with pytest.raises(IndexWriteError, match="is full .* free some space"):
            ingest(settings, [SAMPLE], store=store, progress=False)
    assert store.manifest.counts()[0] == 48  # three batches committed, the fourth not
    assert store.vectors.ids() == {c.id for c in store.manifest.chunks()}  # its 5 vectors were removed
    ingest(settings, [SAMPLE], store=store, progress=False)
    assert_consistent(settings.home)


def test_read_only_or_impossible_home_is_named(tmp_path: Path) -> None:
    corpus = write_jsonl(tmp_path / "p.jsonl", [{"title": "T", "abstract": ABSTRACT}])
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    _clean_failure(run("ingest", str(corpus), home=a_file / "home"), "can't write", "not-a-dir")
    readonly = tmp_path / "ro"
    if _mount_tmpfs(readonly, "1m"):
        try:
            subprocess.run(["mount", "-o", "remount,ro", str(readonly)], check=True)
            _clean_failure(run("ingest", str(corpus), home=readonly / "home"), "Read-only", "can't write")
        finally:
            subprocess.run(["umount", "-l", str(readonly)], capture_output=True)


@pytest.fixture
def small_index(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    corpus = write_jsonl(
        tmp_path / "p.jsonl",
        [{"title": f"Sparse attention study {i}", "abstract": ABSTRACT} for i in range(3)],
    )
    done = run("ingest", str(corpus), home=home)
    assert done.returncode == 0, done.stderr
    return home


def test_damaged_manifest_is_reported_not_raised(small_index: Path) -> None:
    manifest = next(small_index.glob("indexes/*/manifest.sqlite"))
    for extra in manifest.parent.glob("manifest.sqlite-*"):
        extra.unlink()
    manifest.write_bytes(b"this is not a database" * 100)
    for args in (["ask", "What do sparse attention kernels do?"], ["search", "sparse attention"], ["stats"]):
        _clean_failure(run(*args, home=small_index), "is damaged")
    _clean_failure(run("ingest", str(SAMPLE), home=small_index), "is damaged")


def test_damaged_lexical_index_is_reported_not_raised(small_index: Path) -> None:
    bm25 = next(small_index.glob("indexes/*/bm25"))
    build = bm25 / (bm25 / "CURRENT").read_text().strip()
    for f in build.iterdir():
        f.write_bytes(b"\x00garbage")
    _clean_failure(run("search", "sparse attention", home=small_index), "is damaged")
    shutil.rmtree(build)  # a build that vanished entirely is damage too, not a crash
    _clean_failure(run("search", "sparse attention", home=small_index), "is damaged", "keeps changing")


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@pytest.mark.parametrize("forced", [None, "jsonl"])
def test_byte_order_mark_is_not_content(tmp_path: Path, suffix: str, forced: str | None) -> None:
    from ingest.sources import read_inputs
    from rag.records import Paper

    if suffix == ".csv" and forced:
        forced = "csv"
    path = tmp_path / f"bom{suffix}"
    if suffix == ".jsonl":
        lines = [json.dumps({"id": f"p{i}", "title": f"Paper {i}", "abstract": ABSTRACT}) for i in range(3)]
        path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode())
    else:
        rows = "".join(f'p{i},Paper {i},"{ABSTRACT}"\n' for i in range(3))
        path.write_bytes(b"\xef\xbb\xbf" + f"id,title,abstract\n{rows}".encode())
    items = list(read_inputs([path], fmt=forced))
    papers = [i for i in items if isinstance(i, Paper)]
    assert [p.id for p in papers] == ["p0", "p1", "p2"], items
    assert len(papers) == len(items)
