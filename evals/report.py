"""Write an eval run as results.json, report.md and PNG charts; compare two runs.

matplotlib is imported inside the chart functions (Agg backend), so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.harness import ANSWER_METRICS, METHODS, RETRIEVAL_METRICS
from evals.records import (
    Aggregates,
    ClassifierScores,
    EvalRun,
    SupportValidation,
    read_aggregates,
    write_results,
)

#: Lower is better for these (a rise is a regression); everything else numeric is higher-is-better,
#: except token counts and counts, which are informational.
#: Latencies are shown but never called regressions: on a shared 2-core machine a run's p50 moved
#: by +37 % with no code change (a 3-question run, 11.8 → 16.2 ms); speed is judged by bench/, as
#: ratios against a baseline measured in the same run.
LOWER_IS_BETTER = ("unsupported_rate", "false_refusal_rate")
INFORMATIONAL = ("prompt_tokens", "completion_tokens", ".n", "seconds", "latency_p50_ms", "latency_p95_ms")
DROP_TOLERANCE = 0.01


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def retrieval_table(run: EvalRun) -> str:
    overall = run.aggregates.retrieval.overall
    rows = [[m, *(overall[m].get(k) for k in RETRIEVAL_METRICS), overall[m].n] for m in METHODS]
    return _table(["method", *RETRIEVAL_METRICS, "n"], rows)


def retrieval_by_type_table(run: EvalRun) -> str:
    rows = []
    for qtype, per in run.aggregates.retrieval.by_type.items():
        for m in METHODS:
            rows.append([qtype, m, *(per[m].get(k) for k in RETRIEVAL_METRICS), per[m].n])
    return _table(["type", "method", *RETRIEVAL_METRICS, "n"], rows)


_ANSWER_COLUMNS = (*ANSWER_METRICS, "latency_p50_ms", "latency_p95_ms")


def answer_table(run: EvalRun) -> str:
    answers = run.aggregates.answers
    groups = [("overall", answers.overall), *answers.by_type.items()]
    overall = answers.overall.to_dict()
    extra = [c for c in ("judge_faithfulness", "judge_relevance") if c in overall]
    columns = [*_ANSWER_COLUMNS, *extra]
    rows = [[name, agg.n, *(getattr(agg, c) for c in columns)] for name, agg in groups]
    return _table(["group", "n", *columns], rows)


def token_table(run: EvalRun) -> str | None:
    overall = run.aggregates.answers.overall
    keys = ("prompt_tokens_sum", "prompt_tokens_mean", "completion_tokens_sum", "completion_tokens_mean")
    if all(getattr(overall, k) is None for k in keys):
        return None
    return _table(list(keys), [[getattr(overall, k) for k in keys]])


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
    rows = [[name, s.precision, s.recall, s.f1, s.accuracy, s.n] for name, s in groups if s is not None]
    extra = f"Threshold: {_fmt(validation.threshold)}\n\n" if validation.threshold is not None else ""
    return extra + _table(
        ["group", "precision (flag unsupported)", "recall (flag unsupported)", "f1", "accuracy", "n"], rows
    )


def beir_table(beir: dict[str, Any] | None) -> str | None:
    if not beir:
        return None
    keys = ("ndcg@10", "recall@10", "recall@100")
    return _table(
        ["dataset", *keys, "queries", "docs"],
        [[beir.get("dataset"), *(beir.get(k) for k in keys), beir.get("queries"), beir.get("docs")]],
    )


def render_markdown(run: EvalRun) -> str:
    meta = run.meta
    parts = [
        "# askpapers eval report",
        f"Mode **{meta.mode}**, k={meta.k}, {meta.questions} questions, "
        f"{meta.seconds} s. Retrieval over answerable questions, top {meta.search_k}.",
        "## Retrieval by method",
        retrieval_table(run),
        "## Retrieval by question type",
        retrieval_by_type_table(run),
        "## Answers",
        answer_table(run),
    ]
    if meta.missing_gold:
        parts.insert(2, f"**Gold papers not in the index:** {', '.join(meta.missing_gold)}")
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


def _bars(path: Path, groups: list[str], series: dict[str, list[float]], title: str, ylabel: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) * max(1, len(series)) / 2), 4))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, values, width, label=name)
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
    _bars(
        path,
        list(RETRIEVAL_METRICS),
        {m: [overall[m].get(k) for k in RETRIEVAL_METRICS] for m in METHODS},
        "Retrieval by method (answerable questions)",
        "score",
    )


def answers_chart(run: EvalRun, path: Path) -> None:
    by_type = run.aggregates.answers.by_type
    series = {t: [getattr(agg, m) or 0.0 for m in ANSWER_METRICS] for t, agg in by_type.items()}
    _bars(path, list(ANSWER_METRICS), series, "Answer metrics by question type", "rate")


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


# --- comparing runs ------------------------------------------------------------
def flatten(data: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as {'a.b.c': value}."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        out[prefix] = float(data)
    return out


def is_regression(key: str, old: float, new: float) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    if any(tag in key for tag in INFORMATIONAL) or leaf == "n":
        return False
    if leaf in LOWER_IS_BETTER:
        return new - old > DROP_TOLERANCE
    return old - new > DROP_TOLERANCE


def compare_results(old: Aggregates, new: Aggregates) -> tuple[str, list[str]]:
    """A delta table of every aggregate metric, and the keys that regressed."""
    a, b = flatten(old.to_dict()), flatten(new.to_dict())
    rows, regressions = [], []
    for key in sorted(a.keys() | b.keys()):
        if key.endswith(".n"):
            continue
        before, after = a.get(key), b.get(key)
        if before is None or after is None:
            rows.append([key, before, after, "–", "(only in one run)"])
            continue
        flag = ""
        if is_regression(key, before, after):
            flag = "REGRESSION"
            regressions.append(key)
        rows.append([key, before, after, f"{after - before:+.3f}", flag])
    text = _table(["metric", "old", "new", "delta", ""], rows)
    verdict = (
        f"{len(regressions)} regression(s): {', '.join(regressions)}" if regressions else "no regressions"
    )
    return text + "\n\n" + verdict + "\n", regressions


def load_results(old_results_path: str | Path) -> Aggregates:
    """The aggregates of a results.json written by an earlier run; InputError when it isn't one."""
    return read_aggregates(Path(old_results_path))


def compare(old_results_path: str | Path, new: EvalRun) -> str:
    """Deltas per aggregate metric between a saved results.json and a new run, regressions marked."""
    text, _ = compare_results(load_results(old_results_path), new.aggregates)
    return text
