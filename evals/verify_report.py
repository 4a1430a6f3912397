"""What ``askpapers eval --verify`` writes and prints: the verifiers side by side (report.md, the same
table on stdout), results.json, and verify.png (balanced accuracy and accuracy per gold label, 95 %
whiskers); with ``--compare OLD``, the figures against an earlier verify run's results.json, a change
called a regression only beyond noise (evals/compare.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from evals.compare import compare_figures
from evals.records import read_results_json
from evals.report import bar_chart, markdown_table, with_interval
from evals.scifact import CLASSES
from evals.verify_eval import (
    BASELINE,
    FIGURES,
    VS_BASELINE,
    VerifyRun,
    load_eval_pairs,
    parse_verifiers,
    run_verify_eval,
)
from rag.settings import load_settings

CHART = "verify.png"
NOTE = (
    "Each figure is value [95 % interval] with its n: Wilson's interval for k/n; balanced accuracy and its "
    f"difference from the {BASELINE} baseline, a bootstrap over claims (paired: both verifiers on the same "
    "resampled claims). Flagging unsupported: a pair labelled anything but supported, counted against gold "
    "CONTRADICT or NEI. Pairs per second: wall time of one verify call over all pairs, after a warm-up."
)


def verify_table(run: VerifyRun) -> str:
    """Figures by verifier, one column each."""
    names = [r.name for r in run.results]
    rows: list[list[Any]] = [
        [title, *(with_interval(r.figures.get(key), r.intervals.get(key)) for r in run.results)]
        for key, title in FIGURES
    ]
    if any(VS_BASELINE in r.figures for r in run.results):
        rows.insert(
            1,
            [
                f"balanced accuracy − {BASELINE} (paired)",
                *(
                    with_interval(r.figures.get(VS_BASELINE), r.intervals.get(VS_BASELINE))
                    for r in run.results
                ),
            ],
        )
    rows.append(["pairs per second", *(f"{r.pairs_per_s:.3g}" for r in run.results)])
    return markdown_table(["", *names], rows)


def heading(run: VerifyRun) -> str:
    meta = run.meta()
    gold = ", ".join(f"{label} {n}" for label, n in meta["gold"].items())
    text = (
        f"{meta['pairs']} claim–abstract pairs of {meta['claims_scored']} claims in {meta['claims']} "
        f"(split: {meta['split']}; gold {gold})."
    )
    return f"{text} {meta['note']}." if meta["note"] else text


def render_markdown(run: VerifyRun) -> str:
    parts = ["# askpapers verifier report", heading(run), NOTE, verify_table(run), f"![verifiers]({CHART})"]
    return "\n\n".join(parts) + "\n"


def verify_chart(run: VerifyRun, path: Path) -> None:
    keys = ["balanced_accuracy", *(f"acc_{label}" for label in CLASSES)]
    groups = ["balanced accuracy", *(f"on gold {label}" for label in CLASSES)]
    bar_chart(
        path,
        groups,
        {r.name: [r.figures.get(k, 0.0) for k in keys] for r in run.results},
        "Verifiers (95 % intervals)",
        "balanced accuracy / accuracy",
        {r.name: [r.intervals.get(k) for k in keys] for r in run.results},
    )


def write_verify_report(run: VerifyRun, out_dir: Path) -> dict[str, Path]:
    """results.json, report.md and verify.png in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"results": out_dir / "results.json", "report": out_dir / "report.md", "chart": out_dir / CHART}
    paths["results"].write_text(json.dumps(run.to_dict(), indent=2) + "\n", encoding="utf-8")
    paths["report"].write_text(render_markdown(run), encoding="utf-8")
    verify_chart(run, paths["chart"])
    return paths


def read_verify_figures(path: Path) -> dict[str, Any]:
    """The per-verifier figures of a results.json written by ``eval --verify``."""
    figures: dict[str, Any] = read_results_json(path, "verifiers", "askpapers eval --verify")["verifiers"]
    return figures


def cmd_verify(args: argparse.Namespace) -> int:
    """``askpapers eval --verify CLAIMS``: score the verifiers, write the report, print the table."""
    settings = load_settings(home=Path(args.home) if getattr(args, "home", None) else None)
    corpus = getattr(args, "corpus", None)
    data = load_eval_pairs(
        Path(args.verify),
        Path(corpus) if corpus else None,
        split=getattr(args, "split", None) or "all",
        limit=getattr(args, "limit", None),
    )
    names = parse_verifiers(getattr(args, "verifiers", None))
    old = Path(args.compare) if getattr(args, "compare", None) else None
    old_figures = read_verify_figures(old) if old else None  # a bad file fails before the run
    progress = not getattr(args, "quiet", False) and sys.stderr.isatty()
    run = run_verify_eval(settings, data, names, progress=progress)
    out = Path(getattr(args, "out", None) or "out")
    paths = write_verify_report(run, out)
    print(f"{heading(run)}\n\n{verify_table(run)}\n\nwrote {', '.join(str(p) for p in paths.values())}")
    if old_figures is not None:
        text, regressions = compare_figures(old_figures, run.to_dict()["verifiers"])
        print(f"\nCompared with {old}\n\n{text}", end="")
        if regressions:
            return 1
    return 0
