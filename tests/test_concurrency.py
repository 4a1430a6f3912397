"""One writer, many readers, on real processes: two ingests of one index, searches while an ingest
commits, a long-lived engine that sees what a later ingest added, an owner that crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE, VENV_BIN
from tests.test_sources import ABSTRACT, write_jsonl

pytestmark = pytest.mark.slow


def _env(home: Path, **extra: str) -> dict[str, str]:
    return os.environ | {"ASKPAPERS_HOME": str(home), "ASKPAPERS_CHROMA__OWNER_IDLE_S": "5"} | extra


def _askpapers(*args: str, home: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV_BIN / "askpapers"), *args],
        env=_env(home, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def _index_dir(home: Path) -> Path:
    from rag.settings import Settings

    return Settings(home=home).index_dir


def _wait_until_locked(lock: Path, proc: subprocess.Popen[str], seconds: float = 60) -> None:
    """Until ``proc`` holds the ingest lock (it takes it before anything else)."""
    import fcntl

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if lock.exists():
            with lock.open("a") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
                fcntl.flock(handle, fcntl.LOCK_UN)
        time.sleep(0.02)
    pytest.fail("the first ingest never took the lock")


def assert_consistent(home: Path) -> set[str]:
    """Manifest, Chroma and BM25 hold exactly the same chunk ids; returns them."""
    from rag.index.store import IndexStore
    from rag.settings import Settings

    store = IndexStore.open_reader(Settings(home=home))
    try:
        listed = {c.id for c in store.manifest.chunks()}
        assert listed, "the index is empty"
        assert store.vectors.ids() == listed
        assert set(store.bm25().chunk_ids) == listed
        return listed
    finally:
        store.close()


def test_a_second_ingest_stops_at_any_point_of_the_first(tmp_path: Path) -> None:
    home = tmp_path / "home"
    other = write_jsonl(tmp_path / "other.jsonl", [{"title": "A paper on lock files", "abstract": ABSTRACT}])
    first = _askpapers("ingest", str(SAMPLE), "--json", home=home, ASKPAPERS_INGEST__PAPERS_PER_BATCH="8")
    refusals = 0
    try:
        _wait_until_locked(_index_dir(home) / "ingest.lock", first)
        while first.poll() is None:
            second = subprocess.run(
                [str(VENV_BIN / "askpapers"), "ingest", str(other)],
                env=_env(home),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if first.poll() is not None and second.returncode == 0:
                break  # the first finished while the second started: it was free to run
            assert second.returncode == 1, second.stdout + second.stderr
            assert "another ingest is writing to" in second.stderr
            assert "Traceback" not in second.stderr
            refusals += 1
    finally:
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert json.loads(out)["new"] == 320
    assert refusals >= 3  # refused while parsing, embedding and finishing
    listed = assert_consistent(home)
    assert not any(c.startswith("t:") and "lock files" in c for c in listed)


def test_searches_during_an_ingest_and_a_long_lived_engine_sees_it(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from ingest.pipeline import ingest
    from rag.engine import Engine
    from rag.index.store import IndexStore
    from rag.settings import Settings

    home = tmp_path / "home"
    settings = Settings(home=home, chroma={"owner_idle_s": 5})
    first = write_jsonl(
        tmp_path / "first.jsonl", [{"title": f"Warm-up paper {i}", "abstract": ABSTRACT} for i in range(3)]
    )
    ingest(settings, [first], store=IndexStore.open(settings, embedder=embedder), progress=False)
    engine = Engine(settings)
    engine.store.__dict__["embedder"] = embedder
    question = "What mean absolute error does CloudFormer reach?"
    assert not any(h.title.startswith("CloudFormer") for h in engine.search(question, k=3))

    queries = write_jsonl(
        tmp_path / "queries.jsonl",
        [
            {"id": i, "query": q}
            for i, q in enumerate(["VM performance prediction", "hallucination", "protein folding"])
        ],
    )
    writer = _askpapers("ingest", str(SAMPLE), home=home, ASKPAPERS_INGEST__PAPERS_PER_BATCH="16")
    runs = 0
    try:
        while writer.poll() is None:
            readers = [
                _askpapers(
                    "search", "--batch", str(queries), "--out", str(tmp_path / f"hits{n}.jsonl"), home=home
                )
                for n in range(4)
            ]
            for n, reader in enumerate(readers):
                out, err = reader.communicate(timeout=180)
                assert reader.returncode == 0, f"search process {n} failed:\n{err}"
                assert "Traceback" not in err
                assert len((tmp_path / f"hits{n}.jsonl").read_text().splitlines()) == 3
                runs += 1
    finally:
        writer.communicate(timeout=300)
    assert writer.returncode == 0
    assert runs >= 4
    stray = [p.name for p in (settings.index_dir / "bm25").iterdir() if p.name.startswith(".")]
    assert stray == []
    assert [p.name for p in settings.index_dir.iterdir() if p.name.startswith(".")] == []

    # the engine was opened before the ingest: its next query sees what the ingest committed
    hits = engine.search(question, k=3)
    assert hits[0].title.startswith("CloudFormer")
    answer = engine.ask(question, mode="extractive")
    assert not answer.refused and "7.8%" in answer.text
    assert_consistent(home)


def test_a_reader_survives_its_chroma_owner_dying(sample_settings, embedder) -> None:  # type: ignore[no-untyped-def]
    from rag.engine import Engine
    from rag.index.chroma_owner import run_dir

    engine = Engine(sample_settings)
    engine.store.__dict__["embedder"] = embedder
    assert engine.search("protein structure prediction", k=3)
    state = json.loads((run_dir(sample_settings.chroma_path) / "state.json").read_text())
    os.kill(int(state["pid"]), signal.SIGKILL)
    time.sleep(0.5)
    hits = engine.search("VM performance prediction in public clouds", k=3)  # reconnects to a new owner
    assert hits and hits[0].title.startswith("CloudFormer")
    new_state = json.loads((run_dir(sample_settings.chroma_path) / "state.json").read_text())
    assert new_state["pid"] != state["pid"]


def test_owner_is_one_process_and_leaves_when_idle(tmp_path: Path) -> None:
    """Several processes asking for the owner at once get one; it exits once nobody uses it."""
    from rag.index.chroma_owner import run_dir

    path = tmp_path / "chroma"
    code = (
        "import sys; from pathlib import Path; from rag.index.chroma_owner import server_url;"
        f"print(server_url(Path({str(path)!r}), idle_s=2))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for _ in range(4)
    ]
    urls = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert len(urls) == 1 and next(iter(urls)).startswith("http://127.0.0.1:")
    pid = int((run_dir(path) / "owner.pid").read_text())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the owner did not leave after its clients did")
    assert not (run_dir(path) / "state.json").exists()


def test_a_slow_owner_is_waited_for_never_replaced(tmp_path: Path) -> None:
    """An owner that doesn't answer its heartbeat (a loaded machine) still owns the directory: a new
    client waits for it and gives a clear error, and never starts a second owner beside it."""
    from rag.errors import EndpointError
    from rag.index.chroma_owner import run_dir, server_url

    path = tmp_path / "chroma"
    code = (
        "import time; from pathlib import Path; from rag.index.chroma_owner import server_url;"
        f"print(server_url(Path({str(path)!r}), idle_s=60), flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        url = holder.stdout.readline().strip() if holder.stdout else ""
        pid = int((run_dir(path) / "owner.pid").read_text())
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(EndpointError, match="does not answer within"):
                server_url(path, start_timeout_s=3)
            assert (run_dir(path) / "state.json").exists()  # its state was not thrown away
        finally:
            os.kill(pid, signal.SIGCONT)
        assert server_url(path) == url  # the same owner, once it answers again
    finally:
        holder.kill()
        holder.communicate()
