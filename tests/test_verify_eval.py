"""``askpapers eval --verify``: a hand-made claims file in SciFact's format (both evidence layouts, both
corpus layouts), scored by the real learned and rules verifiers; its report, the command, its errors."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evals.scifact import CLASSES
from evals.verifier_metrics import balanced_accuracy
from evals.verify_eval import VS_BASELINE, VerifyRun, load_eval_pairs, parse_verifiers, run_verify_eval
from evals.verify_report import render_markdown, write_verify_report
from rag.errors import ConfigError, EndpointError, InputError
from rag.settings import Settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Written for this test (SciFact's own text stays outside the repository).
METFORMIN = (
    "Metformin is the first-line therapy for type 2 diabetes. We followed 12,000 patients with type 2 "
    "diabetes for a median of six years. Metformin use was associated with a reduced risk of colorectal "
    "cancer compared with sulfonylurea use. The reduction was greater in patients treated for more than "
    "two years. These findings suggest that metformin may protect against colorectal cancer."
)
STATINS = [
    "Statins are widely prescribed after myocardial infarction.",
    "In a cohort of 8,400 patients discharged after a first myocardial infarction, statin therapy was "
    "associated with lower all-cause mortality at three years.",
    "The benefit was similar in men and women.",
]
CORPUS = [
    {"_id": "11", "title": "Metformin use and colorectal cancer risk in type 2 diabetes", "text": METFORMIN},
    # the original release's layout: integer doc_id, the abstract as a list of sentences
    {"doc_id": 22, "title": "Statin therapy and survival after myocardial infarction", "abstract": STATINS},
]
REDUCED = (
    "Metformin use was associated with a reduced risk of colorectal cancer compared with sulfonylurea use."
)
CLAIMS = [
    {
        "id": 1,
        "claim": "Metformin use is associated with a reduced risk of colorectal cancer.",
        "evidence": {"11": {"label": "SUPPORT", "sentences": [2], "rationale": [REDUCED]}},
        "cited_doc_ids": [11],
    },
    {
        "id": 2,
        "claim": "Metformin does not reduce the risk of colorectal cancer.",
        "evidence": {"11": {"label": "CONTRADICT", "sentences": [2], "rationale": [REDUCED]}},
        "cited_doc_ids": [11],
    },
    {
        "id": 3,
        "claim": "Metformin use lowers blood pressure in children with asthma.",
        "evidence": {},
        "cited_doc_ids": [11],
    },
    {  # the original release's evidence: a list of rationale sets, sentence indices into the abstract
        "id": 4,
        "claim": "Statins reduce mortality after myocardial infarction.",
        "evidence": {"22": [{"sentences": [1], "label": "SUPPORT"}]},
        "cited_doc_ids": [11, 22],
    },
]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("claims")
    _jsonl(root / "corpus.jsonl", CORPUS)
    return _jsonl(root / "claims.jsonl", CLAIMS)


@pytest.fixture(scope="module")
def run(claims: Path, tmp_path_factory: pytest.TempPathFactory) -> VerifyRun:
    settings = Settings(home=tmp_path_factory.mktemp("verify-eval-home"))
    return run_verify_eval(settings, load_eval_pairs(claims), ["learned", "rules"], progress=False)


def test_pairs_from_either_layout(claims: Path) -> None:
    data = load_eval_pairs(claims, split="held_out")  # not SciFact's training claims: all pairs
    assert data.split == "all" and "claims_train.jsonl only" in data.note
    labels = [(p.claim_id, p.doc_id, p.label) for p in data.pairs]
    assert labels == [
        ("1", "11", "SUPPORT"),
        ("2", "11", "CONTRADICT"),
        ("3", "11", "NEI"),
        ("4", "11", "NEI"),  # cited, but no evidence in it
        ("4", "22", "SUPPORT"),
    ]
    statins = data.pairs[-1]
    assert statins.abstract == " ".join(STATINS) and statins.rationale  # rationale from sentence indices
    assert data.pairs[0].rationale  # rationale from its text
    assert [p.claim_id for p in load_eval_pairs(claims, limit=2).pairs] == ["1", "2"]


def test_the_verifiers_side_by_side(run: VerifyRun) -> None:
    learned, rules = run.results
    assert (learned.name, rules.name) == ("learned", "rules")
    gold = [p.label for p in run.data.pairs]
    for r in run.results:
        assert len(r.said) == 5 and set(r.said) <= set(CLASSES) and r.pairs_per_s > 0
        expected = balanced_accuracy(
            np.array([g == "SUPPORT" for g in gold]), np.array([s == "SUPPORT" for s in r.said])
        )
        assert r.figures["balanced_accuracy"] == pytest.approx(expected)
        iv = r.intervals["balanced_accuracy"]
        assert iv.lo <= iv.value <= iv.hi and iv.n == 5
        assert r.intervals["acc_SUPPORT"].n == 2 and r.intervals["acc_NEI"].n == 2
    # the negated claim: the learned model says contradicted; the rules scorer never does
    assert learned.said[1] == "CONTRADICT" and learned.intervals["acc_CONTRADICT"].k == 1
    assert "CONTRADICT" not in rules.said and str(rules.intervals["acc_CONTRADICT"]) == "0.00 [0.00, 0.79]"
    assert VS_BASELINE in learned.figures and VS_BASELINE not in rules.figures
    diff = learned.intervals[VS_BASELINE]
    assert diff.value == pytest.approx(
        learned.figures["balanced_accuracy"] - rules.figures["balanced_accuracy"]
    )


def test_report_files(run: VerifyRun, tmp_path: Path) -> None:
    paths = write_verify_report(run, tmp_path / "out")
    assert paths["chart"].read_bytes()[:8] == PNG_MAGIC
    data = json.loads(paths["results"].read_text())
    assert data["meta"]["pairs"] == 5 and data["meta"]["gold"] == {"SUPPORT": 2, "CONTRADICT": 1, "NEI": 2}
    assert set(data["verifiers"]) == {"learned", "rules"}
    contradict = data["verifiers"]["rules"]["intervals"]["acc_CONTRADICT"]
    assert (contradict["k"], contradict["n"], contradict["lo"]) == (0, 1, 0.0)
    md = render_markdown(run)
    assert "| balanced accuracy (supported vs not) |" in md and "(0/1)" in md and "pairs per second" in md
    assert "| precision at flagging unsupported |" in md and "| three-way label accuracy |" in md


def _parser() -> argparse.ArgumentParser:
    from evals.cli import add_eval_parser

    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home")
    add_eval_parser(parser.add_subparsers(dest="command"), common)
    return parser


def test_the_command_and_compare(claims: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from evals.cli import cmd_eval

    out = tmp_path / "out"
    argv = ["eval", "--verify", str(claims), "--verifiers", "rules", "--home", str(tmp_path), "--quiet"]
    assert cmd_eval(_parser().parse_args([*argv, "--out", str(out)])) == 0
    printed = capsys.readouterr().out
    assert "5 claim–abstract pairs of 4 claims" in printed and "| rules |" in printed
    assert (out / "results.json").is_file() and (out / "verify.png").is_file()
    args = _parser().parse_args(
        [*argv, "--out", str(tmp_path / "again"), "--compare", str(out / "results.json")]
    )
    assert cmd_eval(args) == 0
    assert "no regressions" in capsys.readouterr().out


def test_errors_are_one_line(claims: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--verifiers takes"):
        parse_verifiers("learned,oracle")
    with pytest.raises(ConfigError, match="--split with --verify"):
        load_eval_pairs(claims, split="test")
    with pytest.raises(InputError, match="give --corpus"):
        load_eval_pairs(_jsonl(tmp_path / "claims.jsonl", CLAIMS))
    _jsonl(tmp_path / "corpus.jsonl", CORPUS[:1])
    with pytest.raises(InputError, match=r"claims.jsonl:4: claim 4 cites 22"):
        load_eval_pairs(tmp_path / "claims.jsonl")
    (tmp_path / "bad.jsonl").write_text(json.dumps(CLAIMS[0]) + "\n{oops\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: not valid JSON"):
        load_eval_pairs(tmp_path / "bad.jsonl")
    from evals.cli import cmd_eval

    with pytest.raises(ConfigError, match="give a question set"):
        cmd_eval(_parser().parse_args(["eval", "--home", str(tmp_path)]))


def test_an_unreachable_llm_endpoint_fails_first_in_one_line(claims: Path, tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        openai_base_url="http://127.0.0.1:9/v1",
        llm={"max_retries": 0},  # type: ignore[arg-type]
    )
    with pytest.raises(EndpointError, match="the llm verifier can't run") as raised:
        run_verify_eval(settings, load_eval_pairs(claims), ["rules", "llm"], progress=False)
    assert "\n" not in str(raised.value) and "can't reach" in str(raised.value)
    no_endpoint = Settings(home=tmp_path, openai_base_url=None, openai_api_key=None)
    with pytest.raises(EndpointError, match="the llm verifier can't run: .*OPENAI_BASE_URL"):
        run_verify_eval(no_endpoint, load_eval_pairs(claims), ["llm"], progress=False)
