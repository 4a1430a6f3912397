"""``askpapers eval --beir DIR --split NAME`` reads qrels/NAME.tsv (SciFact's test split is held out)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.beir import load_beir
from evals.cli import DEFAULT_SPLIT
from rag.errors import InputError
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
