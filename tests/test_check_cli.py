"""``askpapers check`` as a user runs it — a real process on the sample index with the shipped learned
verifier: one claim (text and --json), a batch file with good, unknown-id and malformed lines, a draft
(text and --json), and the errors a user can cause (status 2, one line, no traceback)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rag.records import normalise_title
from rag.settings import Settings
from tests.test_check import CLOUDFORMER, CLOUDFORMER_NEGATED, CLOUDFORMER_PARAPHRASE, DRAFT, MODERATION
from tests.test_cli import HEAVY, run

pytestmark = pytest.mark.slow

LINE_KEYS = ["id", "label", "supported", "score", "evidence", "paper_id", "unknown_ids"]


@pytest.fixture(scope="module")
def ids(sample_settings: Settings) -> dict[str, str]:
    from rag.index.store import IndexStore

    store = IndexStore.open_reader(sample_settings)
    found = {t: store.manifest.id_for_title(normalise_title(t)) for t in (CLOUDFORMER, MODERATION)}
    assert all(found.values())
    return {"cloudformer": str(found[CLOUDFORMER]), "moderation": str(found[MODERATION])}


def test_check_help_imports_no_heavy_library() -> None:
    code = (
        "import sys; from ui import cli\n"
        "try:\n    cli.main(['check', '--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "usage: askpapers check" in out and "--batch FILE" in out and ".md, .markdown or .txt" in out
    assert out.strip().endswith("HEAVY []")


def test_check_one_claim_prints_verdict_score_and_evidence(
    sample_settings: Settings, ids: dict[str, str]
) -> None:
    done = run("check", CLOUDFORMER_PARAPHRASE, "--paper", ids["cloudformer"], home=sample_settings.home)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("✓ supported · score 0.")
    assert lines[1] == f"claim     {CLOUDFORMER_PARAPHRASE}"
    assert lines[2].startswith("evidence  “Experimental results demonstrate that CloudFormer consistently")
    assert lines[3] == f"            — {ids['cloudformer']}  {CLOUDFORMER}"

    done = run(
        "check",
        CLOUDFORMER_NEGATED,
        "--paper",
        ids["cloudformer"],
        "--paper",
        "ghost-1",
        "--json",
        home=sample_settings.home,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert list(data) == [
        "claim",
        *LINE_KEYS[1:],
        "reason",
        "evidence_sentences",
        "papers",
    ]
    assert (data["label"], data["supported"], data["paper_id"]) == ("contradicted", False, ids["cloudformer"])
    assert data["unknown_ids"] == ["ghost-1"] and data["reason"].startswith(
        "the cited abstract says otherwise"
    )
    assert data["evidence"] == data["evidence_sentences"][0]["sentence"]
    assert data["papers"] == [
        {"given": ids["cloudformer"], "paper_id": ids["cloudformer"], "title": CLOUDFORMER}
    ]


def test_check_batch_writes_a_line_per_claim_and_skips_bad_lines(
    sample_settings: Settings, ids: dict[str, str], tmp_path: Path
) -> None:
    claims = tmp_path / "claims.jsonl"
    claims.write_text(
        "\n".join(
            [
                json.dumps(
                    {"id": "good", "claim": CLOUDFORMER_PARAPHRASE, "paper_ids": [ids["cloudformer"]]}
                ),
                json.dumps(
                    {"id": "half", "claim": CLOUDFORMER_NEGATED, "paper_ids": ["ghost-1", ids["cloudformer"]]}
                ),
                '{"id": "broken", "claim": "x", "paper_ids": [',
                json.dumps({"id": "nobody", "claim": "Anything.", "paper_ids": ["ghost-2"]}),
                "",
                json.dumps({"id": "no-claim", "paper_ids": [ids["cloudformer"]]}),
                json.dumps(
                    {"claim": "Moderation reduces disruptive behavior.", "paper_ids": ids["moderation"]}
                ),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "verdicts.jsonl"
    done = run("check", "--batch", str(claims), "--out", str(out), home=sample_settings.home)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(list(r) == LINE_KEYS for r in rows)
    assert [(r["id"], r["label"], r["supported"], r["paper_id"], r["unknown_ids"]) for r in rows] == [
        ("good", "supported", True, ids["cloudformer"], []),
        ("half", "contradicted", False, ids["cloudformer"], ["ghost-1"]),
        ("nobody", "not_enough_info", False, None, ["ghost-2"]),
        (7, "supported", True, ids["moderation"], []),  # no "id": its line number; one id as a string
    ]
    assert "consistently outperforms state-of-the-art baselines" in rows[0]["evidence"]
    assert rows[2]["evidence"] == "" and rows[2]["score"] == 0.0
    err = done.stderr
    assert f"askpapers: {claims}:3: malformed JSON (Expecting value); line skipped" in err
    assert f"askpapers: {claims}:6: 'claim' is missing or not a non-empty string; line skipped" in err
    assert f"askpapers: {claims}:2 (id half): not in the index: ghost-1" in err
    assert f"askpapers: {claims}:4 (id nobody): not in the index: ghost-2" in err
    assert err.strip().endswith(
        f"askpapers: 4 verdicts → {out}; 2 with paper ids not in the index; 2 lines skipped (see above)"
    )


def test_check_draft_prints_each_cited_sentence_and_unresolved_references(
    sample_settings: Settings, ids: dict[str, str], tmp_path: Path
) -> None:
    draft = tmp_path / "draft.md"
    draft.write_text(DRAFT + "\x1b[2J\x07\n", encoding="utf-8")  # control characters never reach the terminal
    done = run("check", str(draft), home=sample_settings.home)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "\x1b" not in text and "\x07" not in text
    assert text.startswith("paragraph at line 3\n  ✓ supported (0.")
    assert re.search(rf"\n  ✗ contradicted \(0\.\d\d\)  {re.escape(CLOUDFORMER_NEGATED)} \[1\]\n", text)
    assert f"      evidence from [1] {CLOUDFORMER}: “Experimental results demonstrate" in text
    assert (
        "  – not checked  Graph kernels scale to billions of nodes. [3]\n      not in the index: [3]" in text
    )
    assert (
        "References not in the index:\n  [3] C. Nobody. Graph kernels at planetary scale. arXiv:2101.99999."
        in text
    )
    assert "  [9] (cited, but the reference list has no entry 9)" in text
    assert text.rstrip().endswith(
        "5 cited sentences: 2 supported, 1 contradicted, 0 not enough info, 2 not checked; "
        "1 of 3 references not in the index."
    )

    done = run("check", "--draft", str(draft), "--json", home=sample_settings.home)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert list(data) == ["sentences", "references", "unresolved_references", "missing_references", "counts"]
    assert data["counts"] == {"supported": 2, "contradicted": 1, "not_enough_info": 0, "not_checked": 2}
    assert [r["how"] for r in data["references"]] == ["title", "search", ""]
    assert data["unresolved_references"] == [3] and data["missing_references"] == [9]
    first = data["sentences"][0]
    assert list(first) == [
        "line",
        "text",
        "cites",
        "label",
        "supported",
        "score",
        "reason",
        "evidence",
        "paper_id",
        "unresolved",
    ]
    assert (first["line"], first["cites"], first["label"], first["paper_id"]) == (
        3,
        [1],
        "supported",
        ids["cloudformer"],
    )
    assert data["sentences"][-1]["label"] is None and data["sentences"][-1]["unresolved"] == [9]


def test_errors_a_user_can_cause_are_one_line_and_status_2(
    sample_settings: Settings, ids: dict[str, str], tmp_path: Path
) -> None:
    binary = tmp_path / "draft.txt"
    binary.write_bytes(b"\xff\xfe not text")
    cases = {
        ("check", str(tmp_path / "missing.md")): "missing.md: no such file",
        ("check", "--draft", str(tmp_path)): "can't read it (Is a directory)",
        ("check", str(binary)): "draft.txt: not UTF-8 text",
        ("check", "A claim.", "--paper", "ghost-1"): "no indexed paper is named 'ghost-1'",
        ("check", "A claim without papers."): "a claim needs --paper ID",
        (
            "check",
            "--batch",
            str(tmp_path / "none.jsonl"),
            "--out",
            str(tmp_path / "o.jsonl"),
        ): "no such file",
        ("check", "--batch", str(binary)): "--batch needs --out FILE",
    }
    for args, message in cases.items():
        done = run(*args, home=sample_settings.home)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("askpapers: error: ") and message in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert done.stdout == ""

    done = run("check", "A claim.", "--paper", ids["cloudformer"], home=tmp_path / "no-index-here")
    assert done.returncode == 2 and "no index for these settings" in done.stderr
    assert "askpapers ingest" in done.stderr and done.stderr.count("\n") == 1
