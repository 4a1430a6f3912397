"""Write an eval run as results.json, report.md and PNG charts (evals/compare.py compares two runs).

Every rate is shown with its 95 % interval and n (evals/intervals.py): ``1.00 [0.76, 1.00] (12/12)``
for a proportion, ``0.67 [0.55, 0.78] (n=53)`` for a bootstrapped mean. matplotlib is imported inside
the chart functions (Agg backend), so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.harness import ANSWER_METRICS, METHODS, RETRIEVAL_METRICS
from evals.intervals import Interval, mean_interval
from evals.records import ClassifierScores, EvalRun, SupportValidation, write_results

INTERVALS_NOTE = (
    "Each rate is shown as value [95 % interval] with its n: Wilson's interval for a count k/n, a "
    "bootstrap over questions for a mean of per-question scores (Wilson's when every question scored 0 "
    "or 1). `--compare` calls a change a regression only when the new value lies outside the old run's "
    "interval and the two intervals don't overlap; latency is informational."
)


def fmt_value(value: Any, digits: int = 3) -> str:
    """A table cell: '–' for none, fixed decimals for a float, an interval as it prints itself."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt_value(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def with_interval(value: Any, interval: Interval | None, *, counts: bool = True) -> Any:
    """The cell of a figure: its interval (and n, with ``counts``) where one was recorded, else the value."""
    if interval is None:
        return value
    return interval.with_n() if counts else interval


def retrieval_table(run: EvalRun) -> str:
    """Methods by metric; every question of a row counts, so its n is one column."""
    overall = run.aggregates.retrieval.overall
    rows = [
        [
            m,
            *(
                with_interval(overall[m].get(k), overall[m].intervals.get(k), counts=False)
                for k in RETRIEVAL_METRICS
            ),
            overall[m].n,
        ]
        for m in METHODS
    ]
    return markdown_table(["method", *RETRIEVAL_METRICS, "n"], rows)


def retrieval_by_type_table(run: EvalRun) -> str:
    rows = []
    for qtype, per in run.aggregates.retrieval.by_type.items():
        for m in METHODS:
            cells = [
                with_interval(per[m].get(k), per[m].intervals.get(k), counts=False) for k in RETRIEVAL_METRICS
            ]
            rows.append([qtype, m, *cells, per[m].n])
    return markdown_table(["type", "method", *RETRIEVAL_METRICS, "n"], rows)


_ANSWER_ROWS = (*ANSWER_METRICS, "contradicted_rate", "latency_p50_ms", "latency_p95_ms")


def answer_table(run: EvalRun) -> str:
    """Metrics by group (overall, then each question type): each rate's n is its own (sentences,
    citation pairs, answerable or unanswerable questions), so every cell carries it."""
    answers = run.aggregates.answers
    groups = [("overall", answers.overall), *answers.by_type.items()]
    overall = answers.overall.to_dict()
    extra = [c for c in ("judge_faithfulness", "judge_relevance") if c in overall]
    rows = [["questions", *(agg.n for _, agg in groups)]]
    rows += [
        [metric, *(with_interval(getattr(agg, metric), agg.intervals.get(metric)) for _, agg in groups)]
        for metric in (*_ANSWER_ROWS, *extra)
    ]
    return markdown_table(["metric", *(name for name, _ in groups)], rows)


def token_table(run: EvalRun) -> str | None:
    overall = run.aggregates.answers.overall
    keys = ("prompt_tokens_sum", "prompt_tokens_mean", "completion_tokens_sum", "completion_tokens_mean")
    if all(getattr(overall, k) is None for k in keys):
        return None
    return markdown_table(list(keys), [[getattr(overall, k) for k in keys]])


def support_table(validation: SupportValidation | None) -> str | None:
    if validation is None:
        return None
    if validation.error:
        return f"_Support-scorer validation unavailable: {validation.error}_"
    groups: list[tuple[str, ClassifierScores | None]] = [
        ("overall", validation.overall),
        ("held_out", validation.held_out),
        *((f"kind: {kind}", scores) for kind, scores in validation.per_kind.items()),
    ]

    def cell(scores: ClassifierScores, key: str) -> Any:
        if scores.intervals and key not in scores.intervals:
            return "– (0/0)"  # nothing to count: no sentence flagged, or none unsupported
        return with_interval(getattr(scores, key), scores.intervals.get(key))

    rows = [
        [name, cell(s, "precision"), cell(s, "recall"), s.f1, cell(s, "accuracy"), s.n]
        for name, s in groups
        if s is not None
    ]
    extra = f"Threshold: {fmt_value(validation.threshold)}\n\n" if validation.threshold is not None else ""
    return extra + markdown_table(
        ["group", "precision (flag unsupported)", "recall (flag unsupported)", "f1", "accuracy", "n"], rows
    )


def beir_table(beir: dict[str, Any] | None) -> str | None:
    """BEIR's means over queries, each with a bootstrap interval over the queries scored."""
    if not beir:
        return None
    keys = ("ndcg@10", "recall@10", "recall@100")
    per_query = [q for q in (beir.get("per_query") or {}).values() if isinstance(q, dict)]

    def cell(key: str) -> Any:
        return with_interval(
            beir.get(key), mean_interval([float(q[key]) for q in per_query if key in q]), counts=False
        )

    return markdown_table(
        ["dataset", *keys, "queries", "docs"],
        [[beir.get("dataset"), *(cell(k) for k in keys), beir.get("queries"), beir.get("docs")]],
    )


def render_markdown(run: EvalRun) -> str:
    meta = run.meta
    parts = [
        "# askpapers eval report",
        f"Mode **{meta.mode}**, k={meta.k}, {meta.questions} questions, "
        f"{meta.seconds} s. Retrieval over answerable questions, top {meta.search_k}.",
        INTERVALS_NOTE,
        "## Retrieval by method",
        retrieval_table(run),
        "## Retrieval by question type",
        retrieval_by_type_table(run),
        "## Answers",
        answer_table(run),
    ]
    if meta.missing_gold:
        parts.insert(3, f"**Gold papers not in the index:** {', '.join(meta.missing_gold)}")
    tokens = token_table(run)
    if tokens:
        parts += ["## Tokens", tokens]
    support = support_table(run.support_validation)
    if support:
        parts += ["## Support-scorer validation (flagging unsupported sentences)", support]
    beir = beir_table(run.beir)
    if beir:
        parts += ["## BEIR (hybrid)", beir]
    return "\n\n".join(parts) + "\n"


def summary_text(run: EvalRun) -> str:
    """The short stdout version: retrieval by method and answers overall/per type."""
    return "\n\n".join(["Retrieval", retrieval_table(run), "Answers", answer_table(run)]) + "\n"


# --- charts --------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_chart(
    path: Path,
    groups: list[str],
    series: dict[str, list[float]],
    title: str,
    ylabel: str,
    intervals: dict[str, list[Interval | None]] | None = None,
) -> None:
    """Grouped bars (one colour per series), with 95 % whiskers where ``intervals`` gives them."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) * max(1, len(series)) / 2), 4))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ivs = (intervals or {}).get(name) or [None] * len(values)
        yerr = [
            [max(0.0, v - iv.lo) if iv else 0.0 for v, iv in zip(values, ivs, strict=True)],
            [max(0.0, iv.hi - v) if iv else 0.0 for v, iv in zip(values, ivs, strict=True)],
        ]
        ax.bar(xs, values, width, label=name, yerr=yerr if any(ivs) else None, capsize=3)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small", ncol=min(3, len(series)))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def retrieval_chart(run: EvalRun, path: Path) -> None:
    overall = run.aggregates.retrieval.overall
    bar_chart(
        path,
        list(RETRIEVAL_METRICS),
        {m: [overall[m].get(k) for k in RETRIEVAL_METRICS] for m in METHODS},
        "Retrieval by method (answerable questions, 95 % intervals)",
        "score",
        {m: [overall[m].intervals.get(k) for k in RETRIEVAL_METRICS] for m in METHODS},
    )


def answers_chart(run: EvalRun, path: Path) -> None:
    by_type = run.aggregates.answers.by_type
    series = {t: [getattr(agg, m) or 0.0 for m in ANSWER_METRICS] for t, agg in by_type.items()}
    intervals = {t: [agg.intervals.get(m) for m in ANSWER_METRICS] for t, agg in by_type.items()}
    bar_chart(
        path,
        list(ANSWER_METRICS),
        series,
        "Answer metrics by question type (95 % intervals)",
        "rate",
        intervals,
    )


def write_report(run: EvalRun, out_dir: Path) -> dict[str, Path]:
    """Write results.json, report.md, retrieval.png and answers_by_type.png into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results": out_dir / "results.json",
        "report": out_dir / "report.md",
        "retrieval_chart": out_dir / "retrieval.png",
        "answers_chart": out_dir / "answers_by_type.png",
    }
    write_results(run, paths["results"])
    paths["report"].write_text(render_markdown(run), encoding="utf-8")
    retrieval_chart(run, paths["retrieval_chart"])
    answers_chart(run, paths["answers_chart"])
    return paths
