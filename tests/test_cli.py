"""The command line as a user runs it: a real process, real files, real kill signals."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE, VENV_BIN
from tests.test_sources import ABSTRACT, write_jsonl

HEAVY = ("torch", "chromadb", "gradio", "llama_cpp", "sentence_transformers", "llama_index")


def run(
    *args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    full_env = os.environ | {"ASKPAPERS_HOME": str(home)} | (env or {})
    return subprocess.run(
        [str(VENV_BIN / "askpapers"), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.mark.parametrize(
    "argv", [[c, "--help"] for c in ("ingest", "stats", "ask", "search", "eval", "serve")] + [["--help"]]
)
def test_help_imports_no_heavy_library(argv: list[str]) -> None:
    code = (
        "import sys; from ui import cli\n"
        "try:\n    cli.main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True
    ).stdout
    assert "usage: askpapers" in out
    assert out.strip().endswith("HEAVY []")


def test_ingest_json_summary_and_stats(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = write_jsonl(
        tmp_path / "ok.jsonl", [{"title": f"Paper {i}", "abstract": ABSTRACT} for i in range(3)]
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x"\n', encoding="utf-8")
    result = run("ingest", str(good), str(bad), "--json", home=home)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert {
        "papers_seen",
        "new",
        "updated",
        "unchanged",
        "skipped",
        "chunks_embedded",
        "seconds",
    } <= summary.keys()
    assert (summary["papers_seen"], summary["new"], summary["skipped"], summary["chunks_embedded"]) == (
        3,
        3,
        1,
        3,
    )
    assert any("bad.jsonl:1: malformed JSON" in r for r in summary["skipped_reasons"])

    stats = json.loads(run("stats", "--json", home=home).stdout)
    assert {"papers", "chunks", "collection", "embedding_model", "bytes"} <= stats.keys()
    assert (stats["papers"], stats["chunks"], stats["embedding_model"]) == (3, 3, "all-MiniLM-L6-v2")
    assert stats["bytes"] > 10_000

    human = run("stats", home=home).stdout
    assert "papers      3" in human


def test_nothing_valid_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = run("ingest", str(empty), str(tmp_path / "missing.csv"), home=tmp_path / "home")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "no valid papers found" in result.stderr
    assert "empty.txt: file is empty" in result.stderr
    assert "missing.csv: no such file" in result.stderr


def test_bad_settings_are_named(tmp_path: Path) -> None:
    result = run("stats", home=tmp_path, env={"ASKPAPERS_CHUNKING__CHUNK_OVERLAP": "900"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "chunk_overlap" in result.stderr


def _committed_papers(home: Path) -> int:
    manifests = list(home.glob("indexes/*/manifest.sqlite"))
    if not manifests:
        return 0
    try:
        with sqlite3.connect(manifests[0]) as db:
            return int(db.execute("SELECT count(*) FROM paper").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_ingest_answers_queries_and_next_run_completes(
    tmp_path: Path, sig: signal.Signals, embedder
) -> None:  # type: ignore[no-untyped-def]
    from rag.index.store import IndexStore
    from rag.settings import Settings

    home = tmp_path / "home"
    env = os.environ | {"ASKPAPERS_HOME": str(home), "ASKPAPERS_INGEST__PAPERS_PER_BATCH": "24"}
    proc = subprocess.Popen(
        [str(VENV_BIN / "askpapers"), "ingest", str(SAMPLE), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT: when
        # pytest itself runs in the background (CI, `make test &`), Ctrl-C must still reach this ingest
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 240
    while _committed_papers(home) < 48 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "ingest finished before it could be interrupted"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "run the same command again" in err and "Traceback" not in err
    done = _committed_papers(home)
    assert 48 <= done < 320

    settings = Settings(home=home)
    reader = IndexStore.open_reader(settings, embedder=embedder)
    hits = reader.vectors.query(embedder.embed_batch(["interpretability of neural networks"])[0], k=5)
    assert len(hits) == 5  # the interrupted index answers queries
    committed = {c.id for c in reader.manifest.chunks()}
    if sig == signal.SIGINT:  # a stopped ingest publishes BM25 for what it committed
        assert set(reader.bm25().chunk_ids) == committed
    else:  # kill -9 leaves BM25 as it was (nothing yet): only the writer builds it, next run
        assert reader.bm25().chunk_ids == []
    assert committed <= reader.vectors.ids()
    store = IndexStore.open(settings, embedder=embedder)

    result = run("ingest", str(SAMPLE), "--json", home=home)
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["unchanged"]) == (320 - done, done)
    papers, chunks = store.manifest.counts()
    assert papers == 320
    listed = {c.id for c in store.manifest.chunks()}
    assert store.vectors.ids() == listed == set(store.bm25().chunk_ids)  # no orphan vectors, BM25 complete


def test_terminal_output_shows_record_text_as_text(tmp_path: Path) -> None:
    """search and ask print no escape sequences from a record and only http(s) links."""
    home = tmp_path / "home"
    corpus = write_jsonl(
        tmp_path / "evil.jsonl",
        [
            {
                "id": "evil-1",
                "title": "Quokka hopping \x1b[2J\x1b[31mrobots\x07",
                "abstract": "Quokka hopping robots cross loose sand at 4.2 metres per second. " + ABSTRACT,
                "url": "javascript:alert(document.cookie)",
            }
        ],
    )
    assert run("ingest", str(corpus), home=home).returncode == 0
    for args in (
        ["search", "quokka hopping robots"],
        ["ask", "How fast do quokka hopping robots cross sand?"],
    ):
        done = run(*args, home=home)
        assert done.returncode == 0, done.stderr
        assert "Quokka hopping" in done.stdout
        assert "\x1b" not in done.stdout and "\x07" not in done.stdout
        assert "javascript:" not in done.stdout
