"""The eval harness: metrics by hand, a small run with its report files, compare, BEIR, the eval command."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from evals.metrics import ndcg_at, percentile, recall_at, recall_uncapped, reciprocal_rank, retrieval_scores
from evals.questions import load_questions
from evals.records import ClassifierScores, EvalRun, SupportValidation, read_results, write_results
from rag.errors import InputError
from tests.conftest import REPO

SAMPLE_SET = REPO / "evals" / "sets" / "sample.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --- metrics ---------------------------------------------------------------------
def test_recall_is_capped_by_k() -> None:
    ranked = ["a", "x", "b", "y", "c"]
    gold = {"a", "b", "c"}
    assert recall_at(ranked, gold, 1) == 1.0  # one gold in the top 1 is all it can hold
    assert recall_at(ranked, gold, 3) == pytest.approx(2 / 3)
    assert recall_at(ranked, gold, 5) == 1.0
    assert recall_at(["x", "y"], gold, 5) == 0.0
    assert recall_at(ranked, set(), 5) == 0.0
    assert recall_uncapped(ranked, gold, 1) == pytest.approx(1 / 3)  # BEIR's recall is not capped


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(["x", "y", "a"], {"a"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(["a"], {"a"}) == 1.0
    assert reciprocal_rank(["x"], {"a"}) == 0.0


def test_ndcg_binary_and_graded() -> None:
    assert ndcg_at(["a", "b"], {"a", "b"}) == pytest.approx(1.0)
    # one relevant doc at rank 2: 1/log2(3)
    assert ndcg_at(["x", "a"], {"a"}) == pytest.approx(1 / math.log2(3))
    # graded: the better doc second → (1 + 2/log2 3) / (2 + 1/log2 3)
    gains = {"a": 2.0, "b": 1.0}
    expected = (1.0 + 2.0 / math.log2(3)) / (2.0 + 1.0 / math.log2(3))
    assert ndcg_at(["b", "a"], gains) == pytest.approx(expected)
    assert ndcg_at(["a", "b"], gains) == pytest.approx(1.0)
    assert retrieval_scores(["x", "a"], {"a"}).mrr == pytest.approx(0.5)


def test_percentile() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile([0.0, 10.0], 95) == pytest.approx(9.5)
    assert percentile([], 50) == 0.0


# --- a small run and its report ---------------------------------------------------
@pytest.fixture(scope="module")
def small_results(sample_engine: Any) -> EvalRun:
    from evals.harness import run_eval

    questions = load_questions(SAMPLE_SET)
    by_type: dict[str, list[Any]] = {}
    for q in questions:
        by_type.setdefault(q.type, []).append(q)
    picked = [q for qs in by_type.values() for q in qs[:2]]  # two of each type
    return run_eval(sample_engine, picked, mode="extractive", k=5, progress=False)


def test_run_eval_records_and_aggregates(small_results: EvalRun) -> None:
    assert small_results.meta.questions == 8
    assert small_results.meta.missing_gold == []
    record = small_results.questions[0]
    assert record.id and record.type and record.question and record.metrics
    assert record.answer.citations and record.answer.sentences and not record.refused
    assert record.latency_ms and record.latency_ms > 0 and record.retrieval is not None
    assert set(record.ranked) == {"bm25", "dense", "hybrid"}
    agg = small_results.aggregates
    assert set(agg.retrieval.overall) == {"bm25", "dense", "hybrid"}
    assert set(agg.retrieval.by_type) == {"fact", "concept", "multi"}  # answerable only
    assert agg.retrieval.overall["hybrid"].n == 6
    answers = agg.answers.overall
    assert answers.refusal_accuracy == 1.0
    assert answers.latency_p50_ms and answers.latency_p50_ms > 0
    assert answers.prompt_tokens_sum is None  # extractive mode uses no model
    unanswerable = [r for r in small_results.questions if r.type == "unanswerable"]
    assert unanswerable and all(r.retrieval is None and r.refused for r in unanswerable)


def test_results_json_round_trips(small_results: EvalRun, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_results(small_results, path)
    data = json.loads(path.read_text())
    first = data["questions"][0]
    assert {"id", "type", "question", "ranked", "retrieval", "answer", "metrics"} <= first.keys()
    assert {"text", "refused", "citations", "sentences", "latency_ms"} <= first["answer"].keys()
    assert "abstract" not in first["answer"]["sources"][0]  # ids and titles, not the texts
    assert data["aggregates"]["retrieval"]["overall"]["hybrid"]["recall@5"] == pytest.approx(
        small_results.aggregates.retrieval.overall["hybrid"].recall_at_5
    )
    again = read_results(path)
    assert again.aggregates == small_results.aggregates
    assert again.meta == small_results.meta
    assert [q.metrics for q in again.questions] == [q.metrics for q in small_results.questions]
    assert [q.answer.text for q in again.questions] == [q.answer.text for q in small_results.questions]
    assert [q.answer.sentences for q in again.questions] == [
        q.answer.sentences for q in small_results.questions
    ]


def test_answer_metrics_by_hand() -> None:
    from evals.harness import answer_metrics
    from evals.questions import Question
    from rag.types import Answer, Hit, SentenceCheck

    def hit(pid: str) -> Hit:
        return Hit(paper_id=pid, title=pid, year=None, authors=[], url=None, score=1.0, chunk="")

    q = Question(
        id="x", question="?", type="fact", gold=["G"], answer_facts=["7.8%", "PrOntoQA"], gold_ids=["g"]
    )
    answer = Answer(
        question="?",
        text="It reaches 7.8% [1]. Other [2]. Bare sentence.",
        citations={},
        sources=[hit("g"), hit("o")],
        refused=False,
        mode="extractive",
        sentences=[
            SentenceCheck("It reaches 7.8% [1].", [1], 0.9, True),
            SentenceCheck("Other [2].", [2], 0.1, False),
            SentenceCheck("Bare sentence.", [], 0.0, False),
        ],
    )
    m = answer_metrics(q, answer)
    assert m.fact_coverage == 0.5
    assert m.citation_precision == 0.5  # [1] gold and supported; [2] neither
    assert m.citation_recall == pytest.approx(1 / 3)
    assert m.unsupported_rate == pytest.approx(2 / 3)


def test_write_report_files(small_results: EvalRun, tmp_path: Path) -> None:
    from evals.report import write_report

    results = dataclasses.replace(
        small_results,
        support_validation=SupportValidation(
            threshold=0.5,
            overall=ClassifierScores(n=4, precision=1.0, recall=0.5, f1=0.667, accuracy=0.75),
            per_kind={"verbatim": ClassifierScores(n=2, precision=1.0, recall=1.0, f1=1.0, accuracy=1.0)},
        ),
    )
    paths = write_report(results, tmp_path / "out")
    for name in ("results.json", "report.md", "retrieval.png", "answers_by_type.png"):
        assert (tmp_path / "out" / name).is_file()
    for png in ("retrieval.png", "answers_by_type.png"):
        assert (tmp_path / "out" / png).read_bytes()[:8] == PNG_MAGIC
    data = json.loads(paths["results"].read_text())
    assert {"meta", "aggregates", "questions", "support_validation"} <= set(data)
    report = paths["report"].read_text()
    assert "## Retrieval by method" in report and "| hybrid |" in report
    assert "## Answers" in report and "refusal_accuracy" in report
    assert "kind: verbatim" in report and "Support-scorer validation" in report


def test_compare_marks_regressions_only_beyond_noise(small_results: EvalRun, tmp_path: Path) -> None:
    from evals.compare import compare
    from evals.intervals import Rate

    old = tmp_path / "old.json"
    write_results(small_results, old)
    assert "no regressions" in compare(old, small_results)

    worse = copy.deepcopy(small_results)
    dense = worse.aggregates.retrieval.overall["dense"]
    dense.recall_at_5 -= 0.05  # inside the old interval (6 questions): noise
    hybrid = worse.aggregates.retrieval.overall["hybrid"]
    assert hybrid.intervals["recall@5"].lo > 0.39, hybrid.intervals  # 6 hits of 6 (or near it)
    hybrid.recall_at_5 = 0.0  # no hit in 6: [0.00, 0.39], apart from the old interval
    hybrid.intervals["recall@5"] = Rate(0, 6).interval()
    overall = worse.aggregates.answers.overall
    assert overall.latency_p95_ms is not None
    overall.latency_p95_ms *= 1.5
    sentences = overall.intervals["unsupported_rate"].n
    overall.unsupported_rate = 1.0  # every sentence unsupported
    overall.intervals["unsupported_rate"] = Rate(sentences, sentences).interval()
    text = compare(old, worse)
    lines = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("|")}
    assert "REGRESSION" in lines["retrieval.overall.hybrid.recall@5"]
    assert "REGRESSION" in lines["answers.overall.unsupported_rate"]
    assert "REGRESSION" not in lines["retrieval.overall.dense.recall@5"]  # a drop inside the noise
    assert "-0.050" in lines["retrieval.overall.dense.recall@5"]
    # latency is shown but never gates: timings on a shared machine are noise (bench/ measures speed)
    assert "REGRESSION" not in lines["answers.overall.latency_p95_ms"]
    assert "+" in lines["answers.overall.latency_p95_ms"]
    assert "[" in lines["answers.overall.refusal_accuracy"]  # figures are shown with their intervals
    assert "2 regression(s)" in text and "don't overlap" in text

    # a results.json of an earlier version: only its aggregates count, and it has no intervals
    # (its figures are points: a regression only when the new interval lies wholly on the worse side)
    def without_intervals(data: Any) -> Any:
        if isinstance(data, dict):
            return {k: without_intervals(v) for k, v in data.items() if k != "intervals"}
        return data

    earlier = tmp_path / "earlier.json"
    earlier.write_text(
        json.dumps(
            {
                "meta": {},
                "aggregates": without_intervals(small_results.aggregates.to_dict()),
                "questions": [{}],
            }
        )
    )
    assert "no regressions" in compare(earlier, small_results)
    assert "REGRESSION" in compare(earlier, worse)

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="bad.json:1"):
        compare(bad, small_results)


# --- BEIR ------------------------------------------------------------------------
BEIR_DOCS = {
    "d1": (
        "Photosynthesis in desert cacti",
        "Cacti perform CAM photosynthesis, opening stomata at night to save water.",
    ),
    "d2": (
        "Volcanic eruptions and climate",
        "Sulfate aerosols from large volcanic eruptions cool the global climate.",
    ),
    "d3": (
        "Honeybee waggle dance",
        "Honeybees communicate the direction and distance of flowers with a waggle dance.",
    ),
    "d4": (
        "Coral reef bleaching",
        "Warm ocean water makes corals expel their symbiotic algae, bleaching the reef.",
    ),
    "d5": ("Bee navigation by polarised light", "Bees navigate using the pattern of polarised skylight."),
    "d6": ("Medieval castle architecture", "Concentric castles used multiple curtain walls for defence."),
}
BEIR_QUERIES = {
    "q1": "How do honeybees tell other bees where flowers are with a waggle dance?",
    "q2": "Why do corals bleach in warm ocean water?",
    "q3": "How do cacti photosynthesise at night?",
}


def write_beir(root: Path, qrels: str | None = None) -> Path:
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "title": t, "text": x}) for i, (t, x) in BEIR_DOCS.items()) + "\n"
    )
    (root / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": i, "text": t}) for i, t in BEIR_QUERIES.items()) + "\n"
    )
    (root / "qrels" / "test.tsv").write_text(
        qrels or "query-id\tcorpus-id\tscore\nq1\td3\t2\nq1\td5\t1\nq2\td4\t1\nq3\td1\t1\nq3\td6\t0\n"
    )
    return root


def test_beir_scores_by_hand(tmp_path: Path, embedder: Any) -> None:
    from evals.beir import load_beir, run_beir
    from evals.metrics import ndcg_at
    from rag.settings import Settings

    root = write_beir(tmp_path / "tiny")
    data = load_beir(root)
    assert data.qrels == {
        "q1": {"d3": 2.0, "d5": 1.0},
        "q2": {"d4": 1.0},
        "q3": {"d1": 1.0},
    }  # score 0 dropped

    settings = Settings(home=tmp_path / "home")
    result = run_beir(settings, root, progress=False, embedder=embedder)
    assert result["queries"] == 3 and result["docs"] == 6
    per = result["per_query"]
    # each query's (graded) best document is unmistakably first
    assert per["q2"]["ranked"][0] == "d4" and per["q2"]["ndcg@10"] == pytest.approx(1.0)
    assert per["q3"]["ranked"][0] == "d1" and per["q3"]["ndcg@10"] == pytest.approx(1.0)
    assert per["q1"]["ranked"][0] == "d3"
    assert per["q1"]["ndcg@10"] == pytest.approx(ndcg_at(per["q1"]["ranked"], {"d3": 2.0, "d5": 1.0}))
    # six documents, top 100: every relevant one is retrieved → uncapped recall 1
    assert result["recall@100"] == pytest.approx(1.0)
    assert result["recall@10"] == pytest.approx(1.0)
    assert result["ndcg@10"] == pytest.approx(sum(p["ndcg@10"] for p in per.values()) / 3)
    # its own index, apart from the main one
    assert Path(result["home"]) == tmp_path / "home" / "beir" / "tiny"
    assert not (tmp_path / "home" / "chroma").exists()


def test_beir_bad_qrels_line_names_file_and_line(tmp_path: Path) -> None:
    from evals.beir import load_beir

    root = write_beir(tmp_path / "bad", qrels="query-id\tcorpus-id\tscore\nq1\td3\t2\nq2 d4 1\n")
    with pytest.raises(InputError) as info:
        load_beir(root)
    assert info.value.line == 3 and info.value.path and info.value.path.endswith("test.tsv")
    assert "test.tsv:3" in str(info.value)

    root = write_beir(tmp_path / "badscore", qrels="query-id\tcorpus-id\tscore\nq1\td3\thigh\n")
    with pytest.raises(InputError, match=r"test.tsv:2: score 'high'"):
        load_beir(root)

    root = write_beir(tmp_path / "noheader", qrels="q1\td3\t2\n")
    with pytest.raises(InputError, match=r"test.tsv:1: expected the header"):
        load_beir(root)

    root = write_beir(tmp_path / "badcorpus")
    (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "t", "text": "x"}\n{oops\n')
    with pytest.raises(InputError, match=r"corpus.jsonl:2"):
        load_beir(root)

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="corpus.jsonl"):
        load_beir(tmp_path / "empty")


# --- the eval command ------------------------------------------------------------
def test_cmd_eval_writes_report_and_compares(
    sample_settings: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals.cli import add_eval_parser, cmd_eval

    for name in (
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY",
        "ASKPAPERS_OPENAI_BASE_URL",
        "ASKPAPERS_OPENAI_API_KEY",
        "ASKPAPERS_LLM__MODE",
    ):
        monkeypatch.delenv(name, raising=False)

    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(SAMPLE_SET.read_text().splitlines()[:3]) + "\n")
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home")
    add_eval_parser(parser.add_subparsers(dest="command"), common)
    out = tmp_path / "out"
    args = parser.parse_args(
        [
            "eval",
            str(few),
            "--home",
            str(sample_settings.home),
            "--mode",
            "extractive",
            "--out",
            str(out),
            "--judge",
            "--quiet",
        ]
    )
    assert args.func is cmd_eval
    assert cmd_eval(args) == 0
    captured = capsys.readouterr()
    assert "| hybrid |" in captured.out and "refusal_accuracy" in captured.out
    assert "--judge needs an LLM endpoint" in captured.err
    assert (out / "results.json").is_file() and (out / "report.md").is_file()

    args = parser.parse_args(
        [
            "eval",
            str(few),
            "--home",
            str(sample_settings.home),
            "--mode",
            "extractive",
            "--out",
            str(tmp_path / "out2"),
            "--compare",
            str(out / "results.json"),
            "--quiet",
        ]
    )
    assert cmd_eval(args) == 0
    assert "no regressions" in capsys.readouterr().out


def test_eval_cli_module_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, evals.cli; bad = [m for m in ('matplotlib', 'torch', 'chromadb', 'tqdm') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"
