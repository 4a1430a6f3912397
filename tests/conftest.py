"""Shared fixtures: real embedder, real Chroma (embedded and a `chroma run` server)."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

pytest_plugins = ["tests.llm_fixtures", "tests.index_fixtures"]

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
VENV_BIN = Path(sys.executable).parent
_namespaces = itertools.count()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {seconds}s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate a server the tests started; kill it if it doesn't exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The default embedder, loaded once and shared by every index the tests build."""
    from rag.embedders import make_embedder
    from rag.settings import Settings

    return make_embedder(Settings(home=tmp_path_factory.mktemp("embedder-home")))


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (`chroma run`) on a free loopback port."""
    chroma = shutil.which("chroma", path=str(VENV_BIN)) or shutil.which("chroma")
    assert chroma, "the chroma CLI (from the chromadb package) is missing"
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture(params=["embedded", "server"])
def chroma_backend(request: pytest.FixtureRequest) -> str | None:
    """Chroma location for a test: None (embedded PersistentClient) or a server URL."""
    if request.param == "embedded":
        return None
    return str(request.getfixturevalue("chroma_server"))


@pytest.fixture
def make_settings(tmp_path: Path, chroma_backend: str | None):  # type: ignore[no-untyped-def]
    """Settings in a fresh home, on the test's Chroma backend."""
    from rag.settings import Settings

    namespace = f"t{next(_namespaces)}"

    def make(**kwargs: object) -> Settings:
        chroma = dict(kwargs.pop("chroma", {}) or {})  # type: ignore[call-overload]
        if chroma_backend:  # one server for the session: a namespace per test keeps them apart
            chroma.setdefault("url", chroma_backend)
            chroma.setdefault("namespace", namespace)
        home = kwargs.pop("home", tmp_path / "home")
        return Settings(home=home, chroma=chroma, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def sample_settings(tmp_path_factory: pytest.TempPathFactory, embedder):  # type: ignore[no-untyped-def]
    """Settings of an index holding the sample corpus, built once per test session (embedded Chroma)."""
    from ingest.pipeline import ingest
    from rag.index.store import IndexStore
    from rag.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("sample-home"))
    ingest(settings, [SAMPLE], store=IndexStore.open(settings, embedder=embedder), progress=False)
    return settings


@pytest.fixture(scope="session")
def sample_engine(sample_settings):  # type: ignore[no-untyped-def]
    """The engine over the sample index, extractive unless a test asks for another mode."""
    from rag.engine import Engine

    return Engine(sample_settings)
