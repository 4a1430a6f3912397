"""The chat page for everyone, in the real browser: contrast measured on the rendered page, a keyboard-only
question, the reason of a flagged sentence on focus, a phone viewport, honest paper links and filters, and
errors that clear stale sources. ``ASKPAPERS_UPDATE_SCREENSHOT=1`` also refreshes docs/screenshot*.png."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import REPO, stop_process
from tests.test_ui import ARTIFACTS, MAE_QUESTION, _start, browser, ui_url  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*")]

CONTRAST_JS = (Path(__file__).parent / "fixtures" / "contrast.js").read_text(encoding="utf-8")
MULTI_PAPER_QUESTION = "Which papers propose methods to reduce hallucination in large language models?"
#: what the stub model answers: a sentence its source backs, and one it can't (a year and a place)
STUB_ANSWER = (
    "CloudFormer reaches a mean absolute error of 7.8% [1]. "
    "CloudFormer was first deployed on Mars in 1850 by a team of 400 astronauts [1]."
)


class _StubModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that always streams :data:`STUB_ANSWER` (a deterministic model)."""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._json({"object": "list", "data": [{"id": "stub", "object": "model", "owned_by": "tests"}]})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        usage = {"prompt_tokens": 100, "completion_tokens": 30, "total_tokens": 130}
        if not request.get("stream"):
            message = {"role": "assistant", "content": STUB_ANSWER}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            self._json(
                {
                    "id": "c",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "stub",
                    "choices": [choice],
                    "usage": usage,
                }
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        words = re.findall(r"\S+\s*", STUB_ANSWER)
        base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "stub"}
        events = [
            {**base, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words
        ]
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        events.append({**base, "choices": [], "usage": usage})
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def stub_model_url(sample_settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat page in 'openai' mode against :class:`_StubModel`: its answers have a flagged sentence."""
    model = ThreadingHTTPServer(("127.0.0.1", 0), _StubModel)
    threading.Thread(target=model.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    log = tmp_path_factory.mktemp("ui-stub") / "server.log"
    try:
        proc, url = _start(
            sample_settings.home,
            log,
            OPENAI_BASE_URL=f"http://127.0.0.1:{model.server_address[1]}/v1",
            OPENAI_API_KEY="test",
            ASKPAPERS_LLM__MODEL="stub",
        )
        try:
            yield url
        finally:
            stop_process(proc)
    finally:
        model.shutdown()
        model.server_close()


def _low_contrast(page: Any) -> list[dict[str, Any]]:
    """Visible text whose colour is below 4.5:1 against the background it is drawn on (WCAG AA)."""
    measured = page.evaluate(CONTRAST_JS)
    assert len(measured) >= 10, measured  # the walk found the page's text
    return [r for r in measured if r["ratio"] < 4.5]


def _ask(page: Any, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#question textarea").press("Enter")


def _answered(page: Any) -> None:
    """Wait for the answer's source cards (failing with the error banner's text if one shows instead)."""
    page.locator("#sources-panel .source-card, .error-banner").first.wait_for(timeout=120_000)
    if page.locator(".error-banner").is_visible():
        pytest.fail(page.locator(".error-banner").inner_text())
    page.locator("#sources-panel .source-card").first.wait_for(timeout=10_000)
    page.wait_for_timeout(400)  # let the render settle


def _screenshot(page: Any, name: str, docs_name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))
    if os.environ.get("ASKPAPERS_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(ARTIFACTS / name, REPO / "docs" / docs_name)


def test_multi_paper_answer_contrast_links_and_sources_panel(ui_url: str, browser: Any) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(ui_url)
    page.locator("#question textarea").wait_for()
    assert _low_contrast(page) == []  # the empty page
    _ask(page, MULTI_PAPER_QUESTION)
    _answered(page)
    assert _low_contrast(page) == []  # the answer, the cards, the open abstracts

    # every card's title links out over http(s): the paper's own page, DOI, arXiv id or a labelled search
    for link in page.locator(".source-card .card-title a").all():
        href = link.get_attribute("href") or ""
        assert urlsplit(href).scheme in ("http", "https"), href
        host = urlsplit(href).hostname
        assert host in ("doi.org", "arxiv.org") or "paper-link url" in (link.get_attribute("class") or "")
        if "/search/" in href:
            assert link.inner_text() == "search arXiv" and "searchtype=title" in href
    # dates carry a year, or say it is unknown
    for meta in page.locator(".source-card .card-meta").all_inner_texts():
        assert re.search(r"\b(19|20)\d\d\b|year not given|no date", meta), meta

    # a cited card links back to the [n] marker in the answer, and the marker to the card
    back = page.locator("#source-1 a.back")
    target = (back.get_attribute("href") or "").lstrip("#")
    assert page.locator(f"#chat a.cite[id='{target}']").get_attribute("href") == "#source-1"
    back.click()
    page.wait_for_function(f"location.hash === '#{target}'", timeout=5_000)

    # the sources panel scrolls in place instead of running down the page
    panel = page.locator("#sources-panel .sources")
    sizes = panel.evaluate("el => [el.scrollHeight, el.clientHeight, getComputedStyle(el).overflowY]")
    assert sizes[0] > sizes[1] and sizes[2] == "auto", sizes
    assert sizes[1] <= 1000
    page.evaluate(  # the screenshot shows the question, the answer and the first card from their tops
        "for (const el of document.querySelectorAll('#chat .bubble-wrap, #sources-panel .sources')) el.scrollTop = 0;"
        " window.scrollTo(0, 0)"
    )
    page.wait_for_timeout(200)
    _screenshot(page, "ui-multi-paper.png", "screenshot.png")

    page.get_by_role("tab", name="Check a draft").click()  # the other tab meets the same bar
    page.locator("#check-text textarea").wait_for()
    assert _low_contrast(page) == []


def test_keyboard_only_question_and_reason_on_focus(stub_model_url: str, browser: Any) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(stub_model_url)
    page.locator("#question textarea").wait_for()
    # the page's load script (ui/app.py PAGE_JS) names the box and puts it first in Tab order: wait for
    # it to have run, as the page is loaded only then (the textarea can appear a moment earlier)
    page.wait_for_function("document.querySelector('#question textarea').getAttribute('tabindex') === '1'")
    page.keyboard.press("Tab")  # from page load, the first Tab reaches the question box
    focused = page.evaluate(
        "[document.activeElement.closest('#question') !== null, document.activeElement.getAttribute('aria-label')]"
    )
    assert focused == [True, "Your question about the papers"]
    page.keyboard.type(MAE_QUESTION)
    page.keyboard.press("Enter")
    flag = page.locator("#chat a.flag").first
    flag.wait_for(timeout=120_000)
    reason = page.locator("#chat .why").first
    assert not reason.is_visible()  # hidden until asked for
    for _ in range(60):  # Tab through the page until the ⚠ mark has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('flag')"):
            break
    else:
        pytest.fail("Tab never reached the ⚠ mark of the unsupported sentence")
    assert reason.is_visible()
    assert reason.inner_text().startswith("Unsupported: ")
    assert _low_contrast(page) == []  # the flagged sentence and its reason too
    page.keyboard.press("Tab")
    page.mouse.move(0, 0)
    assert not reason.is_visible()  # it goes with the focus
    flag.click()  # a tap or click on the mark opens the reason (the link targets it) until another is chosen
    page.evaluate("document.activeElement.blur()")
    page.mouse.move(0, 0)
    assert reason.is_visible()


def test_phone_layout_header_one_line_sources_after_answer(ui_url: str, browser: Any) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(ui_url)
    page.locator("#question textarea").wait_for()
    header = page.locator("#header").bounding_box()
    assert header is not None and header["height"] <= 60, header
    _ask(page, MULTI_PAPER_QUESTION)
    _answered(page)
    chat, sources = page.locator("#chat").bounding_box(), page.locator("#sources-panel").bounding_box()
    assert chat is not None and sources is not None
    assert sources["y"] >= chat["y"] + chat["height"]  # sources follow the answer
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing runs off the side
    assert _low_contrast(page) == []
    page.evaluate("document.querySelector('#chat .bubble-wrap').scrollTop = 0; window.scrollTo(0, 0)")
    _screenshot(page, "ui-phone.png", "screenshot-phone.png")
    context.close()


def test_filters_errors_and_refusals_say_what_happened(ui_url: str, browser: Any) -> None:  # noqa: F811
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(ui_url)
    page.locator("#question textarea").wait_for()
    page.locator("#options").click()
    # filters the index has no data for are not offered, and the page says why; the year filter says what it drops
    assert not page.locator("#author").is_visible() and not page.locator("#category").is_visible()
    assert (
        "none of the 320 indexed papers has authors or categories"
        in page.locator("#missing-filters").inner_text()
    )
    assert "245 of 320 papers have no year" in page.locator("#options").inner_text()

    _ask(page, MAE_QUESTION)
    _answered(page)
    # a bad year: the error banner, sources of the previous answer cleared, a remedy that fits
    page.locator("#year-from textarea, #year-from input").first.fill("20x4")
    _ask(page, MAE_QUESTION)
    banner = page.locator(".error-banner")
    banner.wait_for(timeout=30_000)
    assert "Year from must be a year" in banner.inner_text()
    assert "extractive" not in banner.inner_text()  # the mode already is extractive
    assert page.locator("#sources-panel .source-card").count() == 0

    # an active filter shows above the chat and above the answer, with what it leaves out
    page.locator("#year-from textarea, #year-from input").first.fill("2024")
    page.locator("#options").click()  # close Options: the filter still shows
    bar = page.locator("#active-filters .active-filters")
    bar.wait_for(timeout=10_000)
    assert "year ≥ 2024" in bar.inner_text() and "245 without a year are excluded" in bar.inner_text()
    _ask(page, MAE_QUESTION)
    banner.wait_for(state="hidden", timeout=30_000)  # the new question clears the old error
    _answered(page)
    note = page.locator("#chat .active-filters").last
    assert "year ≥ 2024" in note.inner_text()

    page.locator("#options").click()
    page.locator("#year-from textarea, #year-from input").first.fill("2999")
    _ask(page, MAE_QUESTION)
    page.locator("#chat").get_by_text("No paper passes them").wait_for(timeout=30_000)
    assert page.locator("#sources-panel .source-card").count() == 0

    # a refusal reads as sentences
    page.locator("#year-from textarea, #year-from input").first.fill("")
    _ask(page, "What datasets are used to evaluate code generation?")
    refusal = page.locator("#chat .refusal").last
    refusal.wait_for(timeout=60_000)
    text = refusal.inner_text()
    assert text[0].isupper() and text.endswith(".") and ". (" not in text, text
