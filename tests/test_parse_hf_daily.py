"""Tests for the Hugging Face Daily Papers text-capture parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.parsers.base import Skip
from ingest.parsers.hf_daily import looks_like_hf_daily, parse_hf_daily
from rag.records import Paper, normalise_title

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "data" / "sample"
SAMPLE_FILES = sorted(SAMPLE_DIR.glob("*.txt"))

# Independent of the parser's own patterns: what a title must never be.
NOT_A_TITLE = [
    re.compile(r"^(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]* \d{1,2}(, \d{4})?( \d+)?$"),
    re.compile(r"^•?\s*\d+ authors?$"),
    re.compile(r"^[·•]$"),
    re.compile(r"^(new|subscribe|daily papers)$", re.IGNORECASE),
    re.compile(r"^(get trending papers|byak)", re.IGNORECASE),
    re.compile(r"^subscribe", re.IGNORECASE),
    re.compile(r"^(microsoft Microsoft|Character-lab Character-lab)$"),
]


def _abstract(topic: str, sentences: int = 3) -> str:
    parts = [
        f"We study {topic} in a setting where existing methods fail to generalise across domains.",
        f"Our approach to {topic} combines a simple estimator with a learned correction term.",
        "Experiments on four benchmarks show consistent gains of up to 7.8% over strong baselines.",
        "We release code and data to support future work on this problem.",
    ]
    return " ".join(parts[:sentences])


def _parse(tmp_path: Path, text: str, name: str = "capture.txt") -> tuple[list[Paper], list[Skip]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    items = list(parse_hf_daily(path, path.read_text(encoding="utf-8")))
    papers = [item for item in items if isinstance(item, Paper)]
    skips = [item for item in items if isinstance(item, Skip)]
    assert len(papers) + len(skips) == len(items)
    return papers, skips


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.strip() == needle)


# --------------------------------------------------------------------------- sample corpus


@pytest.fixture(scope="module")
def sample_items() -> dict[Path, list[Paper | Skip]]:
    assert len(SAMPLE_FILES) == 5, f"expected 5 sample captures in {SAMPLE_DIR}"
    return {path: list(parse_hf_daily(path, path.read_text(encoding="utf-8"))) for path in SAMPLE_FILES}


@pytest.fixture(scope="module")
def sample_papers(sample_items: dict[Path, list[Paper | Skip]]) -> list[Paper]:
    return [item for items in sample_items.values() for item in items if isinstance(item, Paper)]


def test_samples_are_detected() -> None:
    for path in SAMPLE_FILES:
        head = path.read_bytes()[:16_384].decode("utf-8", errors="replace")
        assert looks_like_hf_daily(head), path


def test_samples_have_no_skips(sample_items: dict[Path, list[Paper | Skip]]) -> None:
    skips = [item for items in sample_items.values() for item in items if isinstance(item, Skip)]
    assert skips == []


def test_samples_unique_title_count(sample_papers: list[Paper]) -> None:
    assert len({normalise_title(p.title) for p in sample_papers}) == 320


def test_samples_every_file_contributes(sample_items: dict[Path, list[Paper | Skip]]) -> None:
    for path, items in sample_items.items():
        assert sum(isinstance(item, Paper) for item in items) >= 50, path


def test_samples_abstracts_are_real(sample_papers: list[Paper]) -> None:
    for paper in sample_papers:
        assert paper.abstract, paper.origin
        assert len(paper.abstract) > 100, paper.origin
        assert len(paper.abstract) > len(paper.title), paper.origin


def test_samples_titles_are_not_chrome(sample_papers: list[Paper]) -> None:
    for paper in sample_papers:
        assert paper.title
        for pattern in NOT_A_TITLE:
            assert not pattern.search(paper.title), (paper.origin, paper.title)


def test_samples_fields(sample_papers: list[Paper]) -> None:
    for paper in sample_papers:
        assert paper.source == "hf_daily"
        assert paper.url is None
        assert paper.id.startswith("t:")
        path, line = paper.origin.rsplit(":", 1)
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        # origin points at the title line (modulo a glued "Subscribe" banner)
        assert lines[int(line) - 1].strip().endswith(paper.title), paper.origin
        if paper.date is not None:
            assert not re.search(r"\d+ \d+$", paper.date)  # upvote count removed
            assert paper.year == (int(paper.date[-4:]) if re.search(r", \d{4}$", paper.date) else None)
        if "n_authors" in paper.extra:
            assert paper.extra["n_authors"].isdigit()


def test_samples_dates_with_and_without_year(sample_papers: list[Paper]) -> None:
    with_year = [p for p in sample_papers if p.year is not None]
    without_year = [p for p in sample_papers if p.date is not None and p.year is None]
    assert with_year and without_year
    assert all(1990 < p.year < 2100 for p in with_year if p.year is not None)


def test_samples_cloudformer_glued_to_subscribe(sample_papers: list[Paper]) -> None:
    matches = [p for p in sample_papers if p.title.startswith("CloudFormer")]
    assert len(matches) == 1
    paper = matches[0]
    assert paper.title.startswith("CloudFormer: An Attention-based")
    assert "7.8%" in paper.abstract
    assert not any("Subscribe" in p.title for p in sample_papers)


def test_samples_page_date_is_not_a_paper_date(sample_papers: list[Paper]) -> None:
    # 000 opens with page date "Nov 4"; its first paper's own date is "Aug 2, 2024" (after "·").
    first = next(p for p in sample_papers if p.origin.startswith(str(SAMPLE_FILES[0])))
    assert first.title.startswith("The Quest for the Right Mediator")
    assert first.date == "Aug 2, 2024" and first.year == 2024
    assert first.extra["n_authors"] == "13"


def test_samples_organisation_and_upvotes(sample_papers: list[Paper]) -> None:
    paper = next(p for p in sample_papers if p.title.startswith("Just Do It!?"))
    assert paper.extra.get("organisation") == "Microsoft"
    assert paper.date == "Oct 2"  # from "Oct 2 3"
    assert paper.year is None


# --------------------------------------------------------------------------- inline fixtures

# Two sentence breaks, like prose, but a title all the same.
QUESTION_TITLE = "Why Now? What Next? Is It Over? A Study of Timing Effects in Large Language Model Training"

BANNER = (
    "new\n\nGet trending papers in your email inbox!\n\nSubscribe\n\nDaily Papers\n\n"
    "byAK and the research community\n\nNov 4\n\n"
)


def test_blank_line_layout(tmp_path: Path) -> None:
    text = (
        BANNER
        + "Alpha: Learning Things Quickly\n\n"
        + _abstract("alpha")
        + "\n\n  • 3 authors\n·\nAug 2, 2024\n\n"
        + "Beta Networks for Gamma Problems\n\n"
        + _abstract("beta")
        + "\n\n  • 1 author\n·\nOct 2, 2024 5\n\n"
        + "Gamma With a Footer\n\n"
        + _abstract("gamma")
        + "\n\n  • 2 authors\n·\nMay 19\n\n"
        + QUESTION_TITLE
        + "\n\n"
        + _abstract("timing")
        + "\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert skips == []
    assert [p.title for p in papers] == [
        "Alpha: Learning Things Quickly",
        "Beta Networks for Gamma Problems",
        "Gamma With a Footer",
        QUESTION_TITLE,
    ]
    assert [(p.date, p.year) for p in papers] == [
        ("Aug 2, 2024", 2024),
        ("Oct 2, 2024", 2024),
        ("May 19", None),
        (None, None),
    ]
    assert [p.extra.get("n_authors") for p in papers] == ["3", "1", "2", None]
    assert papers[0].abstract == _abstract("alpha")
    beta_line = _line_of(text, "Beta Networks for Gamma Problems")
    assert papers[1].origin == f"{tmp_path / 'capture.txt'}:{beta_line}"
    assert looks_like_hf_daily(text)


def test_no_blank_line_layout(tmp_path: Path) -> None:
    text = (
        "\n".join(
            [
                "Get trending papers in your email inbox once a day!",
                "Get trending papers in your email inbox!",
                "Dress code for infrared safe scattering in QED",
                _abstract("dressed states"),
                "Will AI shape the way we speak? The emerging influence of synthetic voices",
                _abstract("synthetic voices", 4),
                "Dynamical Linear Bandits",
                _abstract("bandits", 2),
                QUESTION_TITLE,
                _abstract("timing", 4),
            ]
        )
        + "\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert skips == []
    assert [p.title for p in papers] == [
        "Dress code for infrared safe scattering in QED",
        "Will AI shape the way we speak? The emerging influence of synthetic voices",
        "Dynamical Linear Bandits",
        QUESTION_TITLE,
    ]
    assert [p.origin.rsplit(":", 1)[1] for p in papers] == ["3", "5", "7", "9"]
    assert papers[2].abstract == _abstract("bandits", 2)
    assert papers[1].abstract == _abstract("synthetic voices", 4)
    assert all(p.date is None and p.year is None for p in papers)


def test_title_glued_to_subscribe(tmp_path: Path) -> None:
    text = (
        "Get trending papers in your email inbox!\n"
        "SubscribeCloudFormer: An Attention-based Performance Prediction for Public Clouds\n"
        + _abstract("cloud workloads")
        + "\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert skips == []
    assert len(papers) == 1
    assert papers[0].title == "CloudFormer: An Attention-based Performance Prediction for Public Clouds"
    assert papers[0].origin.endswith(":2")
    assert "7.8%" in papers[0].abstract


def test_date_with_upvotes_and_organisation(tmp_path: Path) -> None:
    text = (
        BANNER
        + "Just Do It: Agents Exhibit Blind Goal-Directedness\n\n"
        + _abstract("agents")
        + "\n\nmicrosoft Microsoft\n·\nOct 2 3\n\n"
        + "Entire Chain Uplift Modeling\n\n"
        + _abstract("uplift")
        + "\n\n  • 9 authors\n·\nOct 23\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert skips == []
    assert [p.title for p in papers] == [
        "Just Do It: Agents Exhibit Blind Goal-Directedness",
        "Entire Chain Uplift Modeling",
    ]
    assert papers[0].date == "Oct 2" and papers[0].year is None
    assert papers[0].extra == {"organisation": "Microsoft"}
    assert papers[1].date == "Oct 23" and papers[1].year is None
    assert papers[1].extra == {"n_authors": "9"}


def test_section_dates_without_footer_are_not_paper_dates(tmp_path: Path) -> None:
    # 003/004 layout: no per-paper footer; dates there head a page or section, so they are
    # not the date of the paper printed just above them.
    text = (
        "new\n\nSubscribe\n\nbyAK and the research community\n\nMar 13\n\n"
        + "Kappa Attribution Methods\n\n"
        + _abstract("kappa")
        + "\n\nMar 12\n\n"
        + "Lambda Calculus for Transformers\n\n"
        + _abstract("lambda")
        + "\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert skips == []
    assert [p.title for p in papers] == ["Kappa Attribution Methods", "Lambda Calculus for Transformers"]
    assert [(p.date, p.year) for p in papers] == [(None, None), (None, None)]


def test_multi_paragraph_abstract(tmp_path: Path) -> None:
    second = "Code is available at https://example.org/delta."
    third = "This is the third paragraph. It ends the abstract of the paper on deltas."
    text = (
        BANNER
        + "Delta Rules for Everything\n\n"
        + _abstract("delta")
        + "\n\n"
        + second
        + "\n\n"
        + third
        + "\n\n  • 2 authors\n·\nMay 20\n\n"
        + "Epsilon Is Not Small\n\n"
        + _abstract("epsilon")
        + "\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert skips == []
    assert [p.title for p in papers] == ["Delta Rules for Everything", "Epsilon Is Not Small"]
    assert papers[0].abstract == f"{_abstract('delta')} {second} {third}"
    assert papers[0].date == "May 20"
    assert papers[1].abstract == _abstract("epsilon")


def test_title_without_abstract_is_skipped(tmp_path: Path) -> None:
    text = (
        BANNER
        + "Zeta Paper With an Abstract\n\n"
        + _abstract("zeta")
        + "\n\n  • 4 authors\n·\nMar 13\n\n"
        + "Orphaned Title With Nothing Below\n\n  • 2 authors\n·\nMar 14\n\n"
        + "Eta Paper With an Abstract\n\n"
        + _abstract("eta")
        + "\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert [p.title for p in papers] == ["Zeta Paper With an Abstract", "Eta Paper With an Abstract"]
    assert skips == [
        Skip(
            str(tmp_path / "capture.txt"),
            _line_of(text, "Orphaned Title With Nothing Below"),
            "record has a title but no abstract",
        )
    ]
    assert papers[0].date == "Mar 13"
    assert papers[1].date is None  # "Mar 14" belonged to the orphaned record, not the next paper


def test_title_without_abstract_at_end_of_file(tmp_path: Path) -> None:
    text = "Theta Works\n" + _abstract("theta") + "\nIota Was Cut Off\n"
    papers, skips = _parse(tmp_path, text)
    assert [p.title for p in papers] == ["Theta Works"]
    assert [(s.line, s.reason) for s in skips] == [(3, "record has a title but no abstract")]


def test_abstract_without_title_is_skipped_once(tmp_path: Path) -> None:
    # A capture cut mid-record: prose with no title before it, then an ordinary record.
    text = (
        _abstract("mu")
        + "\n\n"
        + _abstract("nu")
        + "\n\n  • 2 authors\n·\nJun 26\n\n"
        + "Xi Is the Next Letter\n\n"
        + _abstract("xi")
        + "\n"
    )
    papers, skips = _parse(tmp_path, text)
    assert [p.title for p in papers] == ["Xi Is the Next Letter"]
    assert papers[0].date is None
    assert [(s.line, s.reason) for s in skips] == [(1, "abstract-like text with no title before it")]


def test_detected_without_banners() -> None:
    text = (
        "Omicron Paper\n\n"
        + _abstract("omicron")
        + "\n\n  • 5 authors\n·\nJan 24, 2024\n\n"
        + "Pi Paper\n\n"
        + _abstract("pi")
        + "\n\n  • 2 authors\n·\nJun 26\n"
    )
    assert looks_like_hf_daily(text)


def test_not_detected_for_other_formats() -> None:
    assert not looks_like_hf_daily('{"id": "1", "title": "x", "abstract": "y"}\n')
    assert not looks_like_hf_daily("id,title,abstract\n1,A title,An abstract.\n")
    assert not looks_like_hf_daily("Dear diary,\n\nToday I read a paper about subscriptions.\n")
