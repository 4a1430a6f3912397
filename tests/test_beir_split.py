"""``askpapers eval --beir DIR [--split NAME]``: on its own, reading qrels/NAME.tsv (SciFact's test split
is held out); and ids decide identity, so same-title BEIR documents with distinct ids stay apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.beir import load_beir, run_beir
from evals.cli import DEFAULT_SPLIT
from ingest.dedup import PaperStage
from ingest.parsers.jsonl import parse_beir
from rag.errors import ConfigError, InputError
from rag.records import Paper
from rag.settings import Settings
from tests.test_evals import write_beir
from ui.cli import build_parser


def test_split_picks_the_qrels_file(tmp_path: Path) -> None:
    root = write_beir(tmp_path / "set")
    (root / "qrels" / "test.tsv").rename(root / "qrels" / "train.tsv")
    assert load_beir(root, "train").qrels["q2"] == {"d4": 1.0}
    with pytest.raises(InputError, match=r"qrels/test.tsv"):
        load_beir(root)  # the default split is test, and this set has none
    with pytest.raises(InputError, match="is not a name"):
        load_beir(root, "../train")


def test_eval_command_takes_a_split() -> None:
    args = build_parser().parse_args(["eval", "set.jsonl", "--beir", "dir", "--split", "train"])
    assert (args.beir, args.split) == ("dir", "train")
    assert build_parser().parse_args(["eval", "set.jsonl"]).split is None  # --beir: test; --verify: all
    assert DEFAULT_SPLIT == "test"


def test_eval_beir_runs_without_a_question_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_beir(tmp_path / "tiny")
    out = tmp_path / "out"
    args = build_parser().parse_args(
        ["eval", "--beir", str(root), "--home", str(tmp_path / "home"), "--out", str(out), "--quiet"]
    )
    assert args.set is None
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "BEIR (hybrid), split test" in printed and "| tiny |" in printed
    result = json.loads((out / "beir.json").read_text())
    assert (result["split"], result["queries"], result["docs"]) == ("test", 3, 6)
    assert result["per_query"]["q2"]["ranked"][0] == "d4"


def test_eval_without_set_beir_or_verify_says_what_to_give(tmp_path: Path) -> None:
    args = build_parser().parse_args(["eval", "--home", str(tmp_path)])
    with pytest.raises(ConfigError, match="give a question set.*--beir DIR"):
        args.func(args)


# --- ids decide identity ------------------------------------------------------
def _beir_papers(tmp_path: Path, docs: list[dict[str, str]]) -> list[Paper]:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    with PaperStage() as stage:
        for item in parse_beir(path):
            assert isinstance(item, Paper)
            stage.add(item)
        return list(stage)


def test_distinct_source_ids_with_one_title_stay_apart(tmp_path: Path) -> None:
    """SciFact's corpus has distinct _ids with the same title; qrels tell them apart."""
    papers = _beir_papers(
        tmp_path,
        [
            {"_id": "11", "title": "A Study of Sleep", "text": "First abstract about sleep."},
            {"_id": "12", "title": "A study of sleep.", "text": "Second, different abstract."},
            {
                "_id": "11",
                "title": "A Study of Sleep",
                "text": "First abstract about sleep.",
            },  # same id: one paper
        ],
    )
    assert [(p.id, p.abstract) for p in papers] == [
        ("11", "First abstract about sleep."),
        ("12", "Second, different abstract."),
    ]


def test_title_still_joins_records_without_ids() -> None:
    with PaperStage() as stage:
        stage.add(Paper(title="Shared Paper", abstract="Capture.", source="hf_daily"))  # no id: a title hash
        stage.add(Paper(title="Shared paper!", abstract="Arxiv.", id="2101.00001", source="arxiv"))
        stage.add(Paper(title="SHARED PAPER", abstract="Another capture.", source="csv"))
        stage.add(Paper(title="Shared Paper", abstract="Other.", id="2101.00002", source="arxiv"))
        stage.add(Paper(title="Different", abstract="Same DOI.", id="x1", doi="10.1000/xyz", source="csv"))
        stage.add(Paper(title="Other title", abstract="Same DOI.", id="x2", doi="10.1000/XYZ", source="json"))
        papers = list(stage)
    assert [p.id for p in papers] == ["2101.00001", "2101.00002", "x1"]
    assert set(papers[0].source.split(",")) == {"hf_daily", "arxiv", "csv"}  # the id-less ones joined it
    assert stage.duplicates == 3


def test_beir_ingest_keeps_same_title_documents(tmp_path: Path, embedder: Any) -> None:
    root = write_beir(tmp_path / "dupes")
    with (root / "corpus.jsonl").open("a") as corpus:
        corpus.write(
            json.dumps({"_id": "d7", "title": "Coral reef bleaching", "text": "Reefs recover slowly."}) + "\n"
        )
    result = run_beir(Settings(home=tmp_path / "home"), root, progress=False, embedder=embedder)
    assert (result["docs"], result["skipped"]) == (7, 0)
