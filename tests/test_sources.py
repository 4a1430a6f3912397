"""Every input format and every kind of bad input, parsed without touching the index."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.parsers.base import Skip
from ingest.sources import FORMATS, read_inputs
from rag.records import Paper
from ui import cli

ABSTRACT = "We study a thing carefully. It works well on benchmarks and beats the baseline by 12%."


def _split(items: list[Paper | Skip]) -> tuple[list[Paper], list[Skip]]:
    return [i for i in items if isinstance(i, Paper)], [i for i in items if isinstance(i, Skip)]


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def arxiv_record(arxiv_id: str, title: str, **extra: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": arxiv_id,
        "submitter": "A. Author",
        "authors": "Ada Lovelace, Alan Turing",
        "title": title,
        "comments": None,
        "journal-ref": None,
        "doi": "10.1000/xyz" + arxiv_id,
        "report-no": None,
        "categories": "cs.CL cs.LG",
        "license": None,
        "abstract": "  " + ABSTRACT + "\n",
        "versions": [{"version": "v1", "created": "Mon, 2 Apr 2007 19:18:42 GMT"}],
        "update_date": "2008-11-13",
        "authors_parsed": [["Lovelace", "Ada", ""], ["Turing", "Alan", ""]],
    }
    record.update(extra)
    return record


def test_arxiv_snapshot_keeps_id_year_authors_categories_link(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "arxiv.json", [arxiv_record("0704.0001", "Calculation of\n  prompt photons")]
    )
    papers, skips = _split(list(read_inputs([path])))
    assert not skips
    (paper,) = papers
    assert paper.id == "0704.0001"
    assert paper.title == "Calculation of prompt photons"
    assert paper.year == 2007
    assert paper.authors == ["Ada Lovelace", "Alan Turing"]
    assert paper.categories == ["cs.CL", "cs.LG"]
    assert paper.url == "https://arxiv.org/abs/0704.0001"
    assert paper.source == "arxiv"
    assert paper.abstract == ABSTRACT


def test_beir_corpus_keeps_ids(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "corpus.jsonl",
        [
            {"_id": "doc-7", "title": "Sparse retrieval", "text": ABSTRACT},
            {
                "_id": "doc-8",
                "title": "",
                "text": "Untitled documents get their first words as a title. " + ABSTRACT,
            },
        ],
    )
    papers, skips = _split(list(read_inputs([path])))
    assert not skips
    assert [p.id for p in papers] == ["doc-7", "doc-8"]
    assert papers[1].title.startswith("Untitled documents get")


def test_generic_jsonl_and_csv_with_field_mapping(tmp_path: Path) -> None:
    jsonl = write_jsonl(
        tmp_path / "mine.jsonl",
        [{"paper_title": "Mapped title", "summary": ABSTRACT, "yr": "2021", "who": "A; B"}],
    )
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text(
        'paper_title,summary,yr,who\n"Csv, quoted title","' + ABSTRACT + '",2019,C and D\n', encoding="utf-8"
    )
    mapping = {"title": "paper_title", "abstract": "summary", "year": "yr", "authors": "who"}
    papers, skips = _split(list(read_inputs([jsonl, csv_path], field_map=mapping)))
    assert not skips
    assert [(p.title, p.year, p.authors) for p in papers] == [
        ("Mapped title", 2021, ["A", "B"]),
        ("Csv, quoted title", 2019, ["C", "D"]),
    ]
    assert papers[0].id.startswith("t:")  # no id of its own: a stable title hash


def test_format_can_be_forced(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "looks-generic.jsonl", [{"_id": "x1", "title": "T", "text": ABSTRACT}])
    (paper,) = _split(list(read_inputs([path], fmt="jsonl")))[0]
    assert paper.source == "jsonl"
    assert set(cli.FORMATS) == set(FORMATS)


def test_sample_corpus_is_detected_as_daily_papers() -> None:
    papers, skips = _split(list(read_inputs([Path("data/sample")])))
    assert not skips
    assert {p.source for p in papers} == {"hf_daily"}
    assert len({p.norm_title for p in papers}) == 320


def test_bad_inputs_name_file_and_line_and_the_rest_is_read(tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [{"title": "Fine paper", "abstract": ABSTRACT}])
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    binary = tmp_path / "blob.jsonl"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(
        b'{"title": "First good", "abstract": "' + ABSTRACT.encode() + b'"}\n'
        b'{"title": "broken", "abstract": \n'
        b'{"title": "Caf\xe9 latin-1", "abstract": "x"}\n'
        b'{"title": "", "abstract": "No title here at all."}\n'
        b'{"title": "No abstract", "abstract": ""}\n'
        b'{"title": "Way too long", "abstract": "' + b"word " * 5000 + b'"}\n'
        b"[1, 2]\n"
        b'{"title": "Last good", "abstract": "' + ABSTRACT.encode() + b'"}\n'
    )
    missing = tmp_path / "nope.jsonl"
    papers, skips = _split(
        list(read_inputs([good, empty, binary, mixed, missing], max_abstract_chars=10_000))
    )
    assert [p.title for p in papers] == ["Fine paper", "First good", "Last good"]
    where = {(Path(s.path).name, s.line): s.reason for s in skips}
    assert "empty" in where[("empty.jsonl", None)]
    assert "binary" in where[("blob.jsonl", None)]
    assert "no such file" in where[("nope.jsonl", None)]
    assert "malformed JSON" in where[("mixed.jsonl", 2)]
    assert "UTF-8" in where[("mixed.jsonl", 3)]
    assert "no title" in where[("mixed.jsonl", 4)]
    assert "no abstract" in where[("mixed.jsonl", 5)]
    assert "over the 10,000 limit" in where[("mixed.jsonl", 6)]
    assert "JSON object" in where[("mixed.jsonl", 7)]
    assert len(skips) == 9


def test_non_utf8_text_capture_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    text = (Path("data/sample") / "003_533eed86349b0319.txt").read_bytes()
    lines = text.split(b"\n")
    lines[9] = lines[9] + b" \xff\xfe"
    path.write_bytes(b"\n".join(lines))
    _, skips = _split(list(read_inputs([path])))
    assert [(s.line, "UTF-8" in s.reason) for s in skips] == [(10, True)]
