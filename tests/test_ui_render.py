"""Fast checks of what the page says about papers and filters (no server, no browser): links, dates,
the filter notes, the reason marks and the searched question (the browser tests are in test_ui_a11y.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rag import answer_format
from rag.errors import ConfigError
from rag.links import paper_date, paper_link
from rag.records import Paper
from rag.types import Filters
from tests.test_ui import _answer
from ui import render
from ui.corpus import CorpusFacts, filters_html, parse_filters


@pytest.mark.parametrize(
    ("kwargs", "url", "kind"),
    [
        ({"url": "https://example.org/p"}, "https://example.org/p", "url"),
        (
            {"url": "javascript:alert(1)", "doi": "doi:10.1145/3292500.3330701"},
            "https://doi.org/10.1145/3292500.3330701",
            "doi",
        ),
        ({"paper_id": "10.18653/v1/2020.acl-main.1"}, "https://doi.org/10.18653/v1/2020.acl-main.1", "doi"),
        ({"paper_id": "2401.01234v2"}, "https://arxiv.org/abs/2401.01234", "arxiv"),
        ({"paper_id": "hep-th/9901001", "source": "arxiv"}, "https://arxiv.org/abs/hep-th/9901001", "arxiv"),
        (
            {"paper_id": "t:abc", "url": "data:text/html,x"},
            "https://arxiv.org/search/?query=A+%3Cb%3Etitle%3C%2Fb%3E+%26+more&searchtype=title",
            "search",
        ),
    ],
)
def test_every_paper_gets_an_http_link_or_a_labelled_search(
    kwargs: dict[str, str], url: str, kind: str
) -> None:
    link = paper_link("A  <b>title</b> & more", **kwargs)
    assert (link.url, link.kind) == (url, kind)
    assert link.url.startswith("https://") or link.kind == "url"
    assert (link.label == "search arXiv") == (kind == "search")


def test_dates_keep_their_year_or_say_it_is_missing() -> None:
    assert paper_date(2024, "Aug 2, 2024") == "Aug 2, 2024"
    assert paper_date(2023, "Oct 7") == "Oct 7, 2023"
    assert paper_date(None, "Oct 7") == "Oct 7 (year not given)"
    assert paper_date(2020) == "2020"
    assert paper_date(None) == "no date"


def test_cards_link_out_and_back_and_escape_titles() -> None:
    answer = _answer()
    answer.sources[1] = replace(answer.sources[1], title="Other <paper>", date="Oct 7")
    cards = render.sources_html(answer, "m0123456789")
    assert "href='https://example.org/p1'" in cards  # the record's own URL
    assert (
        "Other &lt;paper&gt; <a class='paper-link search' href='https://arxiv.org/search/?query=Other+%3Cpaper%3E&amp;searchtype=title'"
        in cards
    )
    assert ">search arXiv</a>" in cards and "Oct 7 &#40;year not given&#41;" in cards
    assert "href='#m0123456789-cite-1'" in cards and "#m0123456789-cite-2" not in cards  # only cited cards
    html = answer_format.to_html(answer, "m0123456789")
    assert 'id="m0123456789-cite-1"' in html and html.count('id="m0123456789-cite-1"') == 1


def test_reasons_are_text_behind_a_focusable_mark() -> None:
    html = answer_format.to_html(_answer(), "m1")
    assert (
        "<a href='#m1-why-2' class='warn flag' aria-label='Unsupported: &#x27;Mars&#x27; not in cited abstract'"
        in html
    )
    assert (
        "<span class='why' id='m1-why-2'>Unsupported: &#x27;Mars&#x27; not in cited abstract</span>" in html
    )
    assert "focus, tap or hover" in html


def test_the_searched_question_is_shown_when_it_was_rewritten() -> None:
    assert "Searched as" not in answer_format.to_html(_answer(standalone_question="q"))
    html = answer_format.to_html(_answer(question="And <its> MAE?", standalone_question="CloudFormer <MAE>?"))
    assert html.startswith("<div class='searched'>Searched as: “CloudFormer &lt;MAE&gt;?”</div>")


def test_filters_say_what_they_leave_out() -> None:
    papers = [Paper("A", "x", year=2024), Paper("B", "x", year=2020), Paper("C", "x"), Paper("D", "x")]
    facts = CorpusFacts.of(papers)
    assert (facts.papers, facts.without_year, facts.with_authors, facts.categories) == (4, 2, 0, [])
    assert facts.year_note() == "year filter: 2 of 4 papers have no year and are excluded by it"
    assert "No authors or categories filter" in facts.missing_fields_note()
    assert filters_html(facts, None) == ""
    line = filters_html(facts, Filters(year_from=2023), k=10, found=1)
    assert "Filters: year ≥ 2023 — 1 of 4 papers pass (2 without a year are excluded)." in line
    assert "the filters limit the answer, not the question" in line
    assert "No paper passes them" in filters_html(facts, Filters(year_from=2030))
    assert "author: &lt;b&gt;" in filters_html(facts, Filters(author="<b>"))


def test_bad_years_say_how_to_fix_them() -> None:
    assert parse_filters("", " ", "", "") is None
    assert parse_filters("2020", "", "", "cs.CL") == Filters(year_from=2020, category="cs.CL")
    with pytest.raises(ConfigError, match="Year from must be a year like 2023"):
        parse_filters("20x4", "", "", "")


def test_error_banner_gives_the_remedy_it_is_given() -> None:
    banner = render.error_html("Year from must be a year", "The rest of the page still works.")
    assert "extractive" not in banner and "The rest of the page still works." in banner
