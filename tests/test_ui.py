"""The chat page, end to end: a real server process, a real browser, the Python client."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, free_port, stop_process, wait_for_port

pytestmark = [
    pytest.mark.slow,
    # websockets (used by gradio_client/playwright) deprecations are not ours to fix
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = REPO / "test-artifacts"
MAE_QUESTION = "What mean absolute error does CloudFormer reach?"


# what the chat server sets for itself (ui/access.OFFLINE_ENV); tests that check it leave them out
OFFLINE_VARS = (
    "HF_HUB_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "DO_NOT_TRACK",
    "GRADIO_ANALYTICS_ENABLED",
    "ORT_DISABLE_TELEMETRY",
    "ANONYMIZED_TELEMETRY",
)


def server_env(*, offline: bool = True, **env: str) -> dict[str, str]:
    """The environment of a server the tests start: none of the developer's OPENAI_/ASKPAPERS_ settings."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPENAI_", "ASKPAPERS_")) and (offline or k not in OFFLINE_VARS)
    }
    environ.update(TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    if offline:
        environ.update(HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False", GRADIO_ANALYTICS_ENABLED="False")
    environ.update(env)
    return environ


def children(pid: int) -> list[int]:
    """Process ids of ``pid``'s direct children (Linux)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _start(
    home: Path,
    log_path: Path,
    *,
    host: str = "127.0.0.1",
    wrapper: Sequence[str] = (),
    offline: bool = True,
    **env: str,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m ui.app`` (under ``wrapper``, e.g. strace) and wait until it listens."""
    port = free_port()
    environ = server_env(offline=offline, **env)
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "ui.app", "--home", str(home), "--host", host, "--port", str(port)],
        cwd=REPO,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_for_port(port, proc, seconds=180)
    except Exception:
        if wrapper:  # the wrapper (strace) would leave the server it started running
            for child in children(proc.pid):
                os.kill(child, signal.SIGTERM)
        stop_process(proc)
        raise RuntimeError(
            f"the chat page did not start:\n{log_path.read_text(errors='replace')[-3000:]}"
        ) from None
    return proc, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def ui_url(sample_settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat page over the sample index (extractive mode) on a free loopback port."""
    log = tmp_path_factory.mktemp("ui") / "server.log"
    proc, url = _start(sample_settings.home, log, ASKPAPERS_LLM__MODE="extractive")
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def broken_llm_url(
    sample_settings: Any, tmp_path_factory: pytest.TempPathFactory, llm_server: str
) -> Iterator[str]:
    """The chat page in 'openai' mode against an endpoint that passes the health check (its
    GET /models is forwarded to a real llama.cpp server) and then fails every answer (HTTP 500)."""
    from tests.llm_fixtures import FaultProxy

    proxy = FaultProxy(llm_server, ["500"] * 50, fault_paths=("/chat/completions",))
    log = tmp_path_factory.mktemp("ui-broken") / "server.log"
    try:
        proc, url = _start(
            sample_settings.home,
            log,
            OPENAI_BASE_URL=proxy.url,
            ASKPAPERS_LLM__MODEL="smollm2",
            ASKPAPERS_LLM__MAX_RETRIES="0",
            ASKPAPERS_LLM__TIMEOUT_S="5",
        )
        try:
            yield url
        finally:
            stop_process(proc)
    finally:
        proxy.stop()


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install it with 'apt-get install -y chromium' (the Makefile does)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _ask(page: Any, question: str) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")


def test_browser_chat_answers_cites_and_follows_up(ui_url: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(ui_url)
    assert "papers" in page.locator("#status").inner_text()  # index status line

    started = time.monotonic()
    _ask(page, MAE_QUESTION)
    page.locator("#chat").get_by_text("7.8%").first.wait_for(timeout=60_000)
    first_answer_s = time.monotonic() - started
    cite = page.locator("#chat a.cite[href='#source-1']").first
    cite.wait_for(timeout=10_000)
    card = page.locator("#source-1")
    card.wait_for(timeout=10_000)
    assert "CloudFormer" in card.inner_text()
    assert "cited" in card.inner_text()
    assert "7.8%" in " ".join(card.locator("mark").all_inner_texts())  # the supporting sentence is marked

    _ask(page, "How many system metrics does it use?")
    page.wait_for_function("document.querySelector('#chat').innerText.includes('206')", timeout=60_000)
    assert "CloudFormer" in page.locator("#source-1").inner_text()
    page.locator("#export").wait_for(timeout=5_000)
    assert page.locator("#export").is_enabled()  # the conversation can be downloaded
    with page.expect_download(timeout=10_000) as download_info:
        page.locator("#export").click()
    exported = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "## Q1. " + MAE_QUESTION in exported and "**References**" in exported and "206" in exported

    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(400)  # let the last render settle
    page.screenshot(path=str(ARTIFACTS / "ui.png"))  # docs/screenshot.png comes from test_ui_a11y.py

    cite.click()  # a citation jumps to its source card
    page.wait_for_function("location.hash === '#source-1'", timeout=5_000)

    page.locator("#new-chat").click()
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('7.8%')", timeout=10_000)
    assert first_answer_s < 30, f"first answer took {first_answer_s:.1f}s"


def test_browser_shows_error_banner_when_the_llm_fails(broken_llm_url: str, browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(broken_llm_url)
    _ask(page, MAE_QUESTION)
    banner = page.locator(".error-banner")
    banner.wait_for(timeout=60_000)
    assert "LLM endpoint" in banner.inner_text()
    # the page stays usable: switch to extractive and ask again
    page.locator("#options").click()
    page.get_by_label("extractive (quotes, no model)").check()
    page.locator("#ask").click()  # the failed question is left in the box for a retry
    page.locator("#chat").get_by_text("7.8%").first.wait_for(timeout=60_000)
    page.wait_for_function("!document.querySelector('.error-banner')?.checkVisibility()", timeout=10_000)


def test_client_ask_endpoint_returns_markdown_with_references(ui_url: str) -> None:
    from gradio_client import Client

    answer = Client(ui_url, verbose=False).predict(MAE_QUESTION, api_name="/ask")
    assert isinstance(answer, str)
    assert "7.8%" in answer
    assert "**References**" in answer
    assert "[1] CloudFormer" in answer


def test_concurrent_clients_get_their_own_answers(ui_url: str) -> None:
    from gradio_client import Client

    questions = {
        MAE_QUESTION: "CloudFormer",
        "What is IAPT instruction-aware prompt tuning?": "IAPT",
        "What are massive activations in transformer training?": "Massive Activations",
        "What is the GLEE benchmark for language-based economic environments?": "GLEE",
    }

    def ask(question: str) -> str:
        return str(Client(ui_url, verbose=False).predict(question, api_name="/ask"))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(questions)) as pool:
        answers = dict(zip(questions, pool.map(ask, questions), strict=True))
    elapsed = time.monotonic() - started
    for question, paper in questions.items():
        references = answers[question].split("**References**", 1)[-1]
        assert paper in references, f"{question!r} got:\n{answers[question]}"
        for other, other_paper in questions.items():
            if other != question:
                assert other_paper not in references, f"{question!r} got {other!r}'s paper"
    assert elapsed < 60, f"4 concurrent answers took {elapsed:.1f}s"


def test_importing_ui_app_is_cheap() -> None:
    code = "import sys, ui.app; assert 'gradio' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def _answer(**kwargs: Any) -> Any:
    from rag.types import Answer, Citation, Hit, SentenceCheck

    hit = Hit(
        "p1",
        "CloudFormer: a model",
        2025,
        ["A. Author"],
        "https://example.org/p1",
        0.5,
        "chunk",
        abstract="CloudFormer predicts slowdowns. It reaches 7.8% MAE on our data.",
    )
    other = Hit("p2", "Other <paper>", None, [], None, 0.1, "chunk", abstract="Unrelated.")
    defaults: dict[str, Any] = dict(
        question="q",
        text="CloudFormer reaches 7.8% MAE [1]. It runs on Mars [1].",
        citations={1: Citation(1, "p1", hit.title, 2025, hit.url)},
        sources=[other, hit][::-1],
        sentences=[  # bodies without markers: the citations are in cites
            SentenceCheck(
                "CloudFormer reaches 7.8% MAE.",
                [1],
                0.9,
                True,
                evidence="It reaches 7.8% MAE on our data.",
            ),
            SentenceCheck("It runs on Mars.", [1], 0.1, False, reason="'Mars' not in cited abstract"),
        ],
        refused=False,
        mode="openai",
    )
    defaults.update(kwargs)
    return Answer(**defaults)


def test_render_marks_unsupported_sentences_and_links_citations() -> None:
    from rag import answer_format
    from ui import render

    html = answer_format.to_html(_answer())
    assert 'reaches 7.8% MAE <sup>[<a href="#source-1" id="a' in html  # the link comes from cites
    assert "title='Unsupported: &#x27;Mars&#x27; not in cited abstract'" in html
    assert "⚠ 1 of 2 sentences" in html
    cards = render.sources_html(_answer())
    assert "id='source-1'" in cards and "id='source-2'" in cards
    assert cards.index("id='source-1'") < cards.index("id='source-2'")  # cited first
    assert "<mark>It reaches 7.8% MAE on our data.</mark>" in cards
    assert "Other &lt;paper&gt;" in cards  # titles are escaped
    md = answer_format.to_markdown(_answer())
    assert md.startswith("CloudFormer reaches 7.8% MAE [1]. It runs on Mars [1].")
    assert "⚠ *(unsupported: 'Mars' not in cited abstract)*" in md
    assert "[1] CloudFormer: a model (2025) <https://example.org/p1>" in md


def test_render_refusal_lists_the_closest_papers() -> None:
    from rag import answer_format
    from ui import render

    refused = _answer(
        text="I can't answer that from the indexed abstracts.", citations={}, sentences=[], refused=True
    )
    html = answer_format.to_html(refused)
    assert re.search(r"<a href='#source-1' id='a[0-9a-f]{8}-cite-1'>CloudFormer: a model</a>", html)
    assert "Other &lt;paper&gt;</a> (no date)" in html
    assert "Closest papers" in render.sources_html(refused)
    assert "**Closest papers:**" in answer_format.to_markdown(refused)
