"""Issue 8: abstracts are data everywhere, and a page served beyond loopback needs a login and
bounds every request. Real server processes, real Chromium, the real Gradio client.
(That the chat server calls no one is tests/test_ui_offline.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, VENV_BIN, free_port, stop_process
from tests.test_ui import _ask, _start, browser, server_env  # noqa: F401 (browser: a fixture)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),
]

HOSTILE = REPO / "tests" / "fixtures" / "hostile.jsonl"
QUOKKA = "What do quokka hopping robots do?"  # quotes all four sentences of the hostile abstract
UNANSWERABLE = "What GDP growth did France report in 1997?"  # refused: lists the closest (hostile) titles
GOOD_URL = "https://example.org/numbat"  # the one record URL that may become a link
MAX_QUESTION_CHARS = 300
MAX_K = 8
USERS = {"alice": "correct-horse-battery", "bob": "pass:with:colons"}


# --- fixtures --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Path:
    """An index of tests/fixtures/hostile.jsonl: titles, abstracts, authors, categories and URLs
    carrying script tags, onerror images, javascript: URLs, Markdown links and "[1][2][3]"."""
    from ingest.pipeline import ingest
    from rag.index.store import IndexStore
    from rag.settings import Settings

    settings = Settings(home=tmp_path_factory.mktemp("hostile") / "home")
    store = IndexStore.open(settings, embedder=embedder)
    try:
        summary = ingest(settings, [HOSTILE], store=store, progress=False)
    finally:
        store.close()
    assert not summary.skipped, summary.skipped
    return settings.home


@pytest.fixture(scope="module")
def hostile_url(hostile_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat page over the hostile index, extractive, with small request bounds."""
    log = tmp_path_factory.mktemp("ui-hostile") / "server.log"
    proc, url = _start(
        hostile_home,
        log,
        ASKPAPERS_LLM__MODE="extractive",
        ASKPAPERS_SERVER__MAX_QUESTION_CHARS=str(MAX_QUESTION_CHARS),
        ASKPAPERS_SERVER__MAX_K=str(MAX_K),
    )
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def login_server(hostile_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The page bound to 0.0.0.0 with two logins from ASKPAPERS_SERVER__AUTH."""
    log = tmp_path_factory.mktemp("ui-login") / "server.log"
    proc, url = _start(
        hostile_home,
        log,
        host="0.0.0.0",
        ASKPAPERS_LLM__MODE="extractive",
        ASKPAPERS_SERVER__AUTH=",".join(f"{u}:{p}" for u, p in USERS.items()),
    )
    try:
        yield url, log
    finally:
        stop_process(proc)


# --- helpers ---------------------------------------------------------------------------------
def _walk(tokens: list[Any]) -> Iterator[Any]:
    for token in tokens:
        yield token
        yield from _walk(token.children or [])


def assert_safe_markdown(md: str) -> str:
    """No record text in ``md`` can make raw HTML, an image, or a link other than a reference's
    http(s) URL; returns the HTML a CommonMark viewer (raw HTML allowed) makes of it."""
    from markdown_it import MarkdownIt

    lowered = md.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<b>" not in lowered, md
    parser = MarkdownIt("commonmark")
    tokens = list(_walk(parser.parse(md)))
    kinds = {t.type for t in tokens}
    assert not kinds & {"html_inline", "html_block", "image"}, (kinds, md)
    hrefs = [str(t.attrGet("href")) for t in tokens if t.type == "link_open"]
    arxiv_search = re.compile(r"https://arxiv\.org/search/\?query=[\w%+.\-]+&searchtype=title")
    assert all(h == GOOD_URL or arxiv_search.fullmatch(h) for h in hrefs), hrefs  # a record's URL or a search
    html = parser.render(md)
    assert "javascript:" not in " ".join(re.findall(r"href=\"[^\"]*\"", html)), html
    assert "<script" not in html and "<img" not in html, html
    return html


# --- pure rendering --------------------------------------------------------------------------
def test_markdown_escape_and_safe_url() -> None:
    from rag.escape import html_text, markdown_escape, safe_url

    for hostile in ("[click](javascript:alert(1))", "![x](http://evil/x.png)", "<script>alert(1)</script>"):
        assert_safe_markdown(f"Text {markdown_escape(hostile)} end.\n\n1. {markdown_escape(hostile)}\n")
        assert "<" not in html_text(hostile) and "[" not in html_text(hostile)
    assert markdown_escape("1. not a list\n# not a heading") == "1\\. not a list \\# not a heading"
    assert markdown_escape("a_b *c*") == "a\\_b \\*c\\*"
    for bad in (
        "javascript:alert(document.cookie)",
        " JaVaScRiPt:alert(1)",
        "data:text/html,x",
        "//evil.org",
        "",
    ):
        assert safe_url(bad) is None, bad
    assert safe_url('https://e.org/"onmouseover=alert(1)') is None
    assert safe_url(" https://example.org/a?b=1&c=2 ") == "https://example.org/a?b=1&c=2"


def test_citation_markers_inside_a_quote_are_not_citations(hostile_home: Path) -> None:
    """The real engine over the hostile index: the quote keeps its "[1][2][3]"; only cites link."""
    from rag import answer_format
    from rag.engine import Engine
    from rag.settings import Settings

    answer = Engine(Settings(home=hostile_home)).ask(QUOKKA, mode="extractive")
    assert not answer.refused and len(answer.sentences) == 4
    quote = next(s for s in answer.sentences if s.text.endswith("[1][2][3]."))
    assert quote.cites == [1] and quote.supported  # verbatim: the support check still matches it
    assert "rovers [1][2][3].” [1]" in answer.text  # Answer.text: quotes in quotation marks, then ours
    html = answer_format.to_html(answer)
    assert html.count('class="cite"') == 4  # one link per sentence, from cites
    assert 'rovers &#91;1&#93;&#91;2&#93;&#91;3&#93;.”</span> <sup>[<a href="#source-1"' in html
    assert "rovers [1][2][3].” [1]" in answer_format.to_text(answer)
    assert "document.cookie" not in answer_format.to_text(answer)  # the javascript: URL is not printed


# --- the browser -----------------------------------------------------------------------------
_DOM_REPORT = """() => {
  const scope = document.querySelectorAll('#chat, #sources-panel, #error');
  const inside = (sel) => [...scope].flatMap((el) => [...el.querySelectorAll(sel)]);
  return {
    // a script made from record text (Gradio's own config script holds it too, as escaped JSON data)
    scripts: inside('script').length
      + [...document.querySelectorAll('script')].filter((s) => s.textContent.trim().startsWith('alert(')).length,
    onerror: document.querySelectorAll('[onerror]').length,
    images: inside('img').length,
    hrefs: inside('a[href]').map((a) => a.getAttribute('href')),
    javascript: [...document.querySelectorAll('a[href]')]
      .filter((a) => a.getAttribute('href').trim().toLowerCase().startsWith('javascript')).length,
  };
}"""


def _assert_dom_is_clean(page: Any, dialogs: list[str]) -> dict[str, Any]:
    report: dict[str, Any] = page.evaluate(_DOM_REPORT)
    assert dialogs == [], dialogs
    assert report["scripts"] == 0 and report["onerror"] == 0 and report["images"] == 0, report
    assert report["javascript"] == 0, report
    for href in report[
        "hrefs"
    ]:  # cards, the answer's own anchors, the record's one https URL, arXiv searches
        assert (
            href.startswith("#source-")
            or re.fullmatch(r"#[ma][0-9a-f]{8,10}-(cite|why)-\d+", href)
            or href == GOOD_URL
            or (href.startswith("https://arxiv.org/search/?query=") and href.endswith("&searchtype=title"))
        ), report["hrefs"]
    return report


def test_browser_shows_hostile_abstracts_as_text(hostile_url: str, browser: Any) -> None:  # noqa: F811
    dialogs: list[str] = []
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(hostile_url)
    _ask(page, QUOKKA)
    page.locator("#chat").get_by_text("wheeled rovers", exact=False).first.wait_for(timeout=60_000)
    page.locator("#source-1").wait_for(timeout=10_000)
    page.wait_for_timeout(500)  # let Gradio finish rendering Markdown and HTML
    report = _assert_dom_is_clean(page, dialogs)
    chat = page.locator("#chat").inner_text()
    for shown in (
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
    ):
        assert shown in chat, chat  # shown as the text it is
    assert "![x](http://evil/x.png)" in chat
    # the quote's own "[1][2][3]" is shown, and is not three citation links: only its real one is
    quote = page.locator("#chat .sent", has_text="[1][2][3]")
    assert quote.count() == 1
    assert quote.locator("a").count() == 1 and quote.locator("a").get_attribute("href") == "#source-1"
    assert page.locator("#chat a.cite").count() == 4
    assert report["hrefs"].count(GOOD_URL) == 1  # the numbat card: its https URL is a link
    search = page.locator("#source-1 .card-title a")  # javascript: URL → no link to it, a labelled search
    assert search.count() == 1 and search.inner_text() == "search arXiv"
    assert (search.get_attribute("href") or "").startswith("https://arxiv.org/search/?query=")
    assert "<script>alert(1)</script>" in page.locator("#source-1 .card-title").inner_text()
    assert "Eve <img src=x onerror=alert(1)>" in page.locator("#source-1 .card-meta").inner_text()

    with page.expect_download(timeout=10_000) as download_info:
        page.locator("#export").click()
    exported = Path(download_info.value.path()).read_text(encoding="utf-8")
    html = assert_safe_markdown(exported)
    assert "[1][2][3]" in re.sub(r"<[^>]+>", "", html)  # the viewer shows the quote's numbers as text

    _ask(page, UNANSWERABLE)  # refused: the closest papers' hostile titles are listed
    page.locator("#chat .refusal").first.wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    _assert_dom_is_clean(page, dialogs)
    assert "Quokka <script>alert(1)</script> hopping robots" in page.locator("#chat .closest").inner_text()

    _ask(page, "quokka " * 60)  # over the question bound: the banner says so
    banner = page.locator(".error-banner")
    banner.wait_for(timeout=30_000)
    assert "too long" in banner.inner_text() and str(MAX_QUESTION_CHARS) in banner.inner_text()
    _assert_dom_is_clean(page, dialogs)


# --- the /ask API ----------------------------------------------------------------------------
def test_api_answer_is_safe_markdown(hostile_url: str) -> None:
    from gradio_client import Client

    client = Client(hostile_url, verbose=False)
    answer = str(client.predict(QUOKKA, api_name="/ask"))
    html = assert_safe_markdown(answer)
    text = re.sub(r"<[^>]+>", "", html)
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert "rovers [1][2][3].” [1]" in text
    refused = str(client.predict(UNANSWERABLE, api_name="/ask"))
    assert "Closest papers" in refused
    assert_safe_markdown(refused)


def test_api_bounds_question_length_and_k(hostile_url: str) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(hostile_url, verbose=False)
    with pytest.raises(AppError, match=rf"too long: 419 characters, and at most {MAX_QUESTION_CHARS}"):
        client.predict("quokka " * 60, api_name="/ask")
    with pytest.raises(
        AppError, match=rf"k \(the number of sources\) must be a whole number from 1 to {MAX_K}"
    ):
        client.predict(QUOKKA, 50, api_name="/ask")
    with pytest.raises(AppError, match="from 1 to"):
        client.predict(QUOKKA, 0, api_name="/ask")
    assert "wheeled rovers" in str(client.predict(QUOKKA, MAX_K, api_name="/ask"))  # at the bound: fine


def test_client_limiter_bounds_answers_per_client() -> None:
    from ui.access import ClientLimiter, LimitError

    limiter = ClientLimiter(1)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with limiter.slot("session:a"):
            entered.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    assert entered.wait(10)
    with pytest.raises(LimitError, match="already have 1 question being answered"), limiter.slot("session:a"):
        pass
    with limiter.slot("session:b"):  # another client is not affected
        assert limiter.running("session:b") == 1
    release.set()
    worker.join(10)
    assert limiter.running("session:a") == 0
    with limiter.slot("session:a"):  # released: the client may ask again
        pass

    with pytest.raises(RuntimeError), limiter.slot("session:c"):
        raise RuntimeError("the answer failed")
    assert limiter.running("session:c") == 0  # a failed answer frees its slot


# --- serving beyond loopback -----------------------------------------------------------------
@pytest.mark.parametrize(
    "command",
    [[str(VENV_BIN / "askpapers"), "serve"], [sys.executable, "-m", "ui.app"]],
    ids=["askpapers-serve", "python-m-ui.app"],
)
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_serving_beyond_loopback_without_a_login_refuses_to_start(
    command: list[str], host: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--home", str(tmp_path / "home"), "--host", host, "--port", str(free_port())],
        cwd=REPO,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"refusing to serve on {host} without a login" in result.stderr
    assert "ASKPAPERS_SERVER__AUTH=" in result.stderr and "ASKPAPERS_SERVER__AUTH_FILE=" in result.stderr
    assert time.monotonic() - started < 60  # refused before the index is opened


def test_malformed_login_is_reported_without_echoing_it(tmp_path: Path) -> None:
    secret = "no-colon-secret-123"
    auth_file = tmp_path / "logins"
    auth_file.write_text("# team logins\n\nalice:fine\n" + secret + "\n", encoding="utf-8")
    for env in (
        {"ASKPAPERS_SERVER__AUTH": f"bob:ok,{secret}"},
        {"ASKPAPERS_SERVER__AUTH_FILE": str(auth_file)},
    ):
        result = subprocess.run(
            [str(VENV_BIN / "askpapers"), "serve", "--home", str(tmp_path / "home"), "--host", "0.0.0.0"],
            cwd=REPO,
            env=server_env(**env),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "is not 'user:password'" in result.stderr and secret not in result.stderr + result.stdout
    assert "logins:4 is not" in result.stderr  # the auth file's line number


def test_login_beyond_loopback_guards_page_and_api(login_server: tuple[str, Path], browser: Any) -> None:  # noqa: F811
    from gradio_client import Client

    url, log = login_server
    page = browser.new_page()
    page.goto(url)
    password = page.locator("input[type=password]")
    password.wait_for(timeout=30_000)  # a login form, not the chat
    assert page.locator("#question").count() == 0
    page.locator("input[type=text]").first.fill("alice")
    password.fill(USERS["alice"])
    password.press("Enter")
    page.locator("#question textarea").wait_for(timeout=30_000)  # signed in: the chat

    with pytest.raises(Exception, match="credentials were not provided"):
        Client(url, verbose=False).predict(QUOKKA, api_name="/ask")
    with pytest.raises(ValueError, match="Could not login"):
        Client(url, auth=("alice", "wrong password"), verbose=False).predict(QUOKKA, api_name="/ask")
    for path in ("gradio_api/info", "config"):  # the HTTP API itself, without a client library
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(url + path, timeout=30)  # noqa: S310 (loopback)
    answer = Client(url, auth=("bob", USERS["bob"]), verbose=False).predict(QUOKKA, api_name="/ask")
    assert "wheeled rovers" in str(answer)
    output = log.read_text(errors="replace")
    assert "login required" in output
    assert not any(p in output for p in USERS.values())  # passwords are never printed
