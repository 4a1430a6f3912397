"""Checking claims and drafts against named papers — ``rag.check``, the Checker's batches and drafts,
the chat page's "Check a draft" tab — on the sample index (real embedder, the shipped learned
verifier), on an in-memory index holding DOI, arXiv and BEIR ids, and the tab in a real browser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rag
from ingest.pipeline import ingest
from rag.checker import NO_PAPER, Checker, CheckResult, ClaimItem, NamedPaper, resolve_papers
from rag.draft_check import CheckedSentence, DraftReport, DraftSentence, Reference
from rag.engine import Engine
from rag.errors import InputError, UnknownPaperError
from rag.escape import html_text
from rag.index.store import IndexStore
from rag.records import normalise_title
from rag.settings import Settings
from rag.verify import Evidence, Verdict
from tests.conftest import stop_process
from ui import access, check_tab, render_check

CLOUDFORMER = "CloudFormer: An Attention-based Performance Prediction for Public Clouds with Unknown Workload"
MODERATION = "Online Moderation in Competitive Action Games: How Intervention Affects Player Behaviors"
#: Paraphrases of sample abstracts (no sentence of theirs quoted), and a negated finding.
CLOUDFORMER_PARAPHRASE = (
    "CloudFormer consistently beats state-of-the-art baselines at predicting VM performance degradation."
)
MODERATION_PARAPHRASE = "Moderation of disruptive players in online games reduces disruptive behavior."
CLOUDFORMER_NEGATED = "CloudFormer does not outperform state-of-the-art baselines."

DRAFT = f"""# Related work

Interference between virtual machines is hard to predict, yet CloudFormer consistently beats
state-of-the-art baselines at predicting VM performance degradation [1]. {CLOUDFORMER_NEGATED[:-1]} [1].

{MODERATION_PARAPHRASE[:-1]} [2]. Graph kernels scale to billions of nodes [3]. A claim
with no entry in the list [9].

## References

1. {CLOUDFORMER}. 2024.
2. Smith, J. et al. Online moderation in competitive action games: how intervention affects player
   behaviors (extended version). CHI 2024.
3. C. Nobody. Graph kernels at planetary scale. arXiv:2101.99999.
"""


def paper_id(settings: Settings, title: str) -> str:
    pid = rag.engine_for(settings).store.manifest.id_for_title(normalise_title(title))
    assert pid, title
    return pid


# --- rag.check on the sample index ---------------------------------------------------------------
def test_check_supports_a_paraphrase_of_the_abstract(sample_settings: Settings) -> None:
    cloudformer = paper_id(sample_settings, CLOUDFORMER)
    result = rag.check(CLOUDFORMER_PARAPHRASE, [cloudformer], settings=sample_settings)
    verdict = result.verdict
    assert (verdict.label, verdict.supported) == ("supported", True), verdict
    assert verdict.score >= sample_settings.verify.support_threshold and not verdict.reason
    assert result.top_evidence and result.top_evidence.paper_id == cloudformer
    assert "outperforms state-of-the-art baselines" in result.top_evidence.sentence
    assert [(p.given, p.paper_id, p.title) for p in result.papers] == [
        (cloudformer, cloudformer, CLOUDFORMER)
    ]
    assert result.unknown_ids == ()
    # a string of names works too, and the engine is rag.ask's: one per settings, its verifier shared
    engine = rag.engine_for(sample_settings)
    assert engine.claim_verifier is engine.verifier.verifier and engine.claim_verifier.name == "learned"
    other = rag.check(
        MODERATION_PARAPHRASE, f" {paper_id(sample_settings, MODERATION)} ,", settings=sample_settings
    )
    assert other.verdict.label == "supported", other.verdict


def test_check_calls_a_negated_finding_contradicted(sample_settings: Settings) -> None:
    cloudformer = paper_id(sample_settings, CLOUDFORMER)
    result = rag.check(CLOUDFORMER_NEGATED, [cloudformer, "no-such-paper"], settings=sample_settings)
    verdict = result.verdict
    assert (verdict.label, verdict.supported) == ("contradicted", False), verdict
    assert verdict.score < sample_settings.verify.support_threshold
    assert verdict.reason.startswith("the cited abstract says otherwise")
    assert result.top_evidence and "consistently outperforms" in result.top_evidence.sentence
    assert result.unknown_ids == ("no-such-paper",)  # reported beside the verdict, not raised


def test_check_names_the_unknown_id_when_no_paper_is_indexed(sample_settings: Settings) -> None:
    with pytest.raises(UnknownPaperError, match="'nope-1', 'doi:10.9999/x'") as caught:
        rag.check("Anything at all.", ["nope-1", "doi:10.9999/x"], settings=sample_settings)
    assert caught.value.ids == ("nope-1", "doi:10.9999/x")
    with pytest.raises(InputError, match="claim is empty"):
        rag.check("  ", ["nope-1"], settings=sample_settings)
    with pytest.raises(InputError, match="name the paper"):
        rag.check("A claim.", [], settings=sample_settings)


def test_check_batch_keeps_order_and_reports_unknown_ids_per_item(sample_settings: Settings) -> None:
    cloudformer, moderation = paper_id(sample_settings, CLOUDFORMER), paper_id(sample_settings, MODERATION)
    items = [
        ClaimItem("a", CLOUDFORMER_PARAPHRASE, (cloudformer,)),
        ClaimItem(2, CLOUDFORMER_NEGATED, (cloudformer, "ghost")),
        ClaimItem("c", MODERATION_PARAPHRASE, ("ghost", "phantom")),
        ClaimItem("d", MODERATION_PARAPHRASE, (moderation, moderation)),
        ClaimItem("e", MODERATION_PARAPHRASE, (cloudformer, moderation)),
    ]
    results = list(Checker(rag.engine_for(sample_settings)).check_batch(items, batch_size=2))
    assert [r.id for r in results] == ["a", 2, "c", "d", "e"]
    assert [r.verdict.label for r in results] == [
        "supported",
        "contradicted",
        "not_enough_info",
        "supported",
        "supported",  # supported by one of the papers it names is supported
    ]
    assert [r.unknown_ids for r in results] == [(), ("ghost",), ("ghost", "phantom"), (), ()]
    assert results[2].verdict == Verdict("not_enough_info", 0.0, reason=NO_PAPER) and not results[2].papers
    assert len(results[3].papers) == 1  # a paper named twice is checked once
    assert results[4].top_evidence and results[4].top_evidence.paper_id == moderation


def test_check_draft_on_the_sample_index(sample_settings: Settings) -> None:
    report = rag.check_draft(DRAFT, settings=sample_settings)
    cloudformer, moderation = paper_id(sample_settings, CLOUDFORMER), paper_id(sample_settings, MODERATION)
    assert [(r.n, r.paper_id, r.how) for r in report.references] == [
        (1, cloudformer, "title"),
        (2, moderation, "search"),  # the title is in it, with more words around: found by search
        (3, None, ""),
    ]
    by_text = {s.sentence.text: s for s in report.sentences}
    assert len(by_text) == 5
    negated = by_text[CLOUDFORMER_NEGATED]
    assert negated.verdict and negated.verdict.label == "contradicted" and negated.sentence.line == 3
    assert negated.verdict.evidence[0].paper_id == cloudformer
    moderated = by_text[MODERATION_PARAPHRASE]
    assert moderated.verdict and moderated.verdict.supported and moderated.sentence.line == 6
    assert moderated.verdict.evidence[0].paper_id == moderation
    graphs = by_text["Graph kernels scale to billions of nodes."]
    assert graphs.verdict is None and graphs.unresolved == (3,)  # nothing indexed to check it against
    missing = next(s for s in report.sentences if s.sentence.cites == (9,))
    assert missing.verdict is None and missing.unresolved == (9,)
    assert [r.n for r in report.unresolved_references] == [3]


# --- aliases: DOI, arXiv id, BEIR _id (an in-memory index, the real embedder and verifier) ----------
ABSTRACT = (
    "We study sparse retrieval for scientific search. Sparse retrieval with learned term weights matches "
    "dense retrieval on six benchmarks. It needs a tenth of the memory."
)


@pytest.fixture(scope="module")
def alias_engine(embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    home = tmp_path_factory.mktemp("alias-home")
    settings = Settings(home=home)
    generic = home / "papers.jsonl"
    rows = [
        {
            "id": "g1",
            "title": "Graph Kernels at Scale",
            "abstract": ABSTRACT,
            "doi": "10.1145/3292500.3330701",
        },
        {
            "id": "x1",
            "title": "Sparse Retrieval Revisited",
            "abstract": ABSTRACT,
            "url": "https://arxiv.org/abs/2101.00001",
        },
    ]
    generic.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    beir = home / "corpus.jsonl"
    beir.write_text(json.dumps({"_id": "4983", "title": "Learned Sparse Retrieval", "text": ABSTRACT}) + "\n")
    store = IndexStore.in_memory(settings, embedder)
    assert ingest(settings, [str(generic), str(beir)], store=store, progress=False).new == 3
    return Engine(settings, store=store)


def test_papers_are_named_by_id_doi_arxiv_id_or_beir_id(alias_engine: Engine) -> None:
    names = [
        "g1",
        "10.1145/3292500.3330701",
        "doi:10.1145/3292500.3330701",
        "https://doi.org/10.1145/3292500.3330701",
        "2101.00001",
        "arXiv:2101.00001v2",
        "4983",
        "10.1145/0000000.0000000",
        "G1",
    ]
    resolved = resolve_papers(alias_engine.store.manifest, names)
    assert {n: p.id if p else None for n, p in resolved.items()} == {
        "g1": "g1",
        "10.1145/3292500.3330701": "g1",
        "doi:10.1145/3292500.3330701": "g1",
        "https://doi.org/10.1145/3292500.3330701": "g1",
        "2101.00001": "x1",
        "arXiv:2101.00001v2": "x1",
        "4983": "4983",
        "10.1145/0000000.0000000": None,
        "G1": None,  # ids are exact
    }
    quote = "Sparse retrieval with learned term weights matches dense retrieval on six benchmarks."
    result = Checker(alias_engine).check(quote, ["arXiv:2101.00001", "4983", "10.1/none"])
    assert result.verdict.supported and result.unknown_ids == ("10.1/none",)
    assert [(p.given, p.paper_id) for p in result.papers] == [("arXiv:2101.00001", "x1"), ("4983", "4983")]


# --- the chat page's tab ---------------------------------------------------------------------------
HOSTILE = "<script>alert('x')</script>"


def test_render_escapes_draft_text_evidence_titles_and_references() -> None:
    sentence = DraftSentence(f"Claims {HOSTILE} hold", (1, 2), 1)
    verdict = Verdict(
        "contradicted", 0.1, (Evidence(f"It says {HOSTILE}.", "p1", 0.9),), f"because {HOSTILE}"
    )
    report = DraftReport(
        [CheckedSentence(sentence, verdict, (2,))],
        [Reference(1, f"Ref {HOSTILE}", "p1", f"Title {HOSTILE}", "title"), Reference(2, HOSTILE, None)],
    )
    html = render_check.draft_html(report)
    assert "<script>" not in html and html.count("&lt;script&gt;") == 5  # text, evidence, title, reason, ref
    assert "✗ contradicted" in html and "References not in the index" in html
    assert "<a " not in html  # nothing the user pasted becomes a link

    claim = CheckResult(HOSTILE, verdict, (NamedPaper("p1", "p1", f"T {HOSTILE}"),), (HOSTILE,))
    html = render_check.claim_html(claim)
    assert "<script>" not in html and html.count("&lt;script&gt;") == 6  # + the unknown id and title twice


def test_tab_handler_marks_each_sentence_of_a_draft(sample_engine: Engine) -> None:
    limiter = access.ClientLimiter(1)
    html = check_tab.respond(sample_engine, limiter, DRAFT, "", None, str)
    assert html.startswith("<div class='check-report'><div class='check-summary'>5 cited sentences: ")
    assert "2 supported, 1 contradicted, 0 not enough info, 2 not checked" in html
    assert html.count("<li class='check-sentence ") == 5
    assert (
        "<span class='check-label contradicted' style='color:#a4161a;font-weight:600'>✗ contradicted</span>"
        in html
    )
    assert f"<small>— &#91;1&#93; {html_text(CLOUDFORMER)}</small>" in html  # evidence's paper
    assert f"<small>— &#91;2&#93; {html_text(MODERATION)}</small>" in html
    assert "<li>[3] C. Nobody. Graph kernels at planetary scale. arXiv:2101.99999.</li>" in html
    assert "<li>[9] cited, but the reference list has no entry 9</li>" in html

    cloudformer = paper_id(sample_engine.settings, CLOUDFORMER)
    claim = check_tab.respond(sample_engine, limiter, CLOUDFORMER_NEGATED, f"{cloudformer}, ghost", None, str)
    assert (
        "✗ contradicted" in claim
        and f"<code>{cloudformer}</code>" in claim
        and "Not in the index: ghost" in claim
    )

    server = sample_engine.settings.server
    too_long = check_tab.respond(sample_engine, limiter, "x" * (server.max_draft_chars + 1), "", None, str)
    assert "error-banner" in too_long and "the draft is too long" in too_long
    long_claim = check_tab.respond(
        sample_engine, limiter, "y" * (server.max_question_chars + 1), "p", None, str
    )
    assert "the claim is too long" in long_claim
    unknown = check_tab.respond(sample_engine, limiter, "A claim.", "ghost", None, str)
    assert "error-banner" in unknown and "no indexed paper is named &#x27;ghost&#x27;" in unknown
    assert check_tab.respond(sample_engine, limiter, "  ", "", None, str) == render_check.empty_html()
    with limiter.slot(access.client_key(None)):  # the client's one slot is taken: refused, not queued
        assert "already have 1 question" in check_tab.respond(sample_engine, limiter, DRAFT, "", None, str)


@pytest.fixture
def check_page(sample_settings: Settings, tmp_path: Path) -> Iterator[str]:
    from tests.test_ui import _start

    proc, url = _start(sample_settings.home, tmp_path / "server.log", ASKPAPERS_LLM__MODE="extractive")
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*")
def test_browser_check_tab_marks_the_draft(check_page: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.test_ui import CHROMIUM, CHROMIUM_ARGS

    if not CHROMIUM.exists():
        pytest.skip(
            f"{CHROMIUM} is missing: install it with 'apt-get install -y chromium' (the Makefile does)"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(check_page)
            page.get_by_role("tab", name="Check a draft").click()
            page.locator("#check-text textarea").fill(DRAFT + f"\n{HOSTILE}")
            page.locator("#check").click()
            summary = page.locator("#check-result .check-summary")
            summary.wait_for(timeout=60_000)
            assert summary.inner_text().startswith("5 cited sentences: 2 supported, 1 contradicted")
            contradicted = page.locator("#check-result li.check-sentence.contradicted")
            assert CLOUDFORMER_NEGATED[:-1] in contradicted.inner_text()
            assert CLOUDFORMER in contradicted.locator(".check-evidence").inner_text()
            unresolved = page.locator(".check-unresolved-refs").inner_text()
            assert "Graph kernels at planetary scale" in unresolved and HOSTILE in unresolved  # shown as text
            assert page.locator("#check-result script").count() == 0
        finally:
            browser.close()
