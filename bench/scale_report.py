"""The scale bench's report: figures per size, power-law extrapolation, issue 12's targets, and the plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: Issue 12's targets: (what, metric, papers, limit); each is met when the figure is at most the limit.
TARGETS = (
    ("search p50, no filter", "search_p50_none_ms", 300_000, 30.0),
    ("search p50, any filter (worst kind)", "search_p50_filtered_ms", 300_000, 80.0),
    ("one-paper ingest (fresh process, model load incl.)", "add_cold_s", 300_000, 2.0),
    ("peak ingest memory (ingest process + Chroma owner)", "peak_ingest_mb", 300_000, 2048.0),
    ("search p50, any filter (worst kind)", "search_p50_filtered_ms", 1_000_000, 50.0),
    ("  one-paper ingest, model loaded (reference only)", "add_warm_s", 300_000, 2.0),
)
EXTRAPOLATE_TO = (300_000, 1_000_000, 2_700_000)
UNITS = {"ms": "ms", "s": "s", "mb": "MB"}


def metrics(row: dict[str, Any]) -> dict[str, float]:
    """The figures of one size that are plotted, extrapolated and checked against targets."""
    kinds = row["search"]["kinds"]
    build, added = row["build"], row["add"]
    owner = max(
        (m for m in (build["owner_peak_mb"], added["owner_peak_mb"], row.get("owner_peak_mb")) if m),
        default=0.0,
    )
    out = {f"search_p50_{kind}_ms": k["p50_ms"] for kind, k in kinds.items()}
    out |= {
        "search_p50_filtered_ms": max(k["p50_ms"] for kind, k in kinds.items() if kind != "none"),
        "add_cold_s": added["cold_s"],
        "add_warm_s": added["warm_s"],
        "add_process_s": added["process_s"],
        "peak_ingest_mb": max(build["max_rss_mb"], added["max_rss_mb"]) + owner,
        "build_rss_mb": build["max_rss_mb"],
        "add_rss_mb": added["max_rss_mb"],
        "owner_peak_mb": owner,
        "disk_mb": build["disk_bytes"] / 2**20,
    }
    return out


def power_fit(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float] | None:
    """Least squares of log y = a + b log x: (a, b), or None with fewer than two usable points."""
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len({p[0] for p in pts}) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    b = sum((p[0] - mx) * (p[1] - my) for p in pts) / sum((p[0] - mx) ** 2 for p in pts)
    return my - b * mx, b


def extrapolate(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per metric: the fitted exponent (floored at 0) and the value at each size of EXTRAPOLATE_TO."""
    sizes = [row["papers"] for row in rows]
    table = [metrics(row) for row in rows]
    out: dict[str, dict[str, Any]] = {}
    for name in table[0]:
        values = [m[name] for m in table]
        fit = power_fit(sizes, values)
        if fit is not None:
            a, b = fit
            if b < 0:  # noise: no cost shrinks as the index grows; flat, at the measurements' geometric mean
                a, b = sum(math.log(v) for v in values) / len(values), 0.0
            out[name] = {"exponent": b, "log_a": a} | {str(n): math.exp(a) * n**b for n in EXTRAPOLATE_TO}
    return out


def value_at(
    rows: list[dict[str, Any]], fitted: dict[str, dict[str, Any]], name: str, n: int
) -> tuple[float, str]:
    for row in rows:
        if row["papers"] == n:
            return metrics(row)[name], f"measured at {n:,}"
    return fitted.get(name, {}).get(str(n), math.nan), f"extrapolated to {n:,}"


def _unit(name: str) -> str:
    return UNITS[name.rsplit("_", 1)[-1]]


def print_report(report: dict[str, Any]) -> None:
    rows = report["sizes"]
    sizes = [row["papers"] for row in rows]
    head = f"{'':<44}" + "".join(f"{n:>14,}" for n in sizes)
    line = "-" * len(head)

    def show(label: str, values: Sequence[str]) -> None:
        print(f"{label:<44}" + "".join(f"{v:>14}" for v in values))

    print(f"\nmeasured (load {report['machine']['load']}, {report['machine']['cpus']} CPUs)")
    print(head + "\n" + line)
    show("papers", [f"{n:,}" for n in sizes])
    show("ingest papers/s (real ingest / STORED vectors)", [_rate(r["build"]) for r in rows])
    show("  chunks", [f"{r['build']['chunks']:,}" for r in rows])
    show("  build seconds", [f"{r['build']['seconds']:.1f}" for r in rows])
    for kind in rows[0]["search"]["kinds"]:
        share = rows[-1]["build"]["shares"].get(kind, 0.0)
        label = f"search p50/p95 ms, {kind} ({100 * share:.1f} %)"
        show(label, [f"{_k(r, kind)['p50_ms']:.1f}/{_k(r, kind)['p95_ms']:.1f}" for r in rows])
    show(
        "  no filter: dense/bm25 p50 ms",
        [f"{_k(r, 'none')['dense_p50_ms']:.1f}/{_k(r, 'none')['bm25_p50_ms']:.1f}" for r in rows],
    )
    show(
        "one-paper ingest s: fresh process / warm",
        [f"{r['add']['cold_s']:.2f}/{r['add']['warm_s']:.2f}" for r in rows],
    )
    show("  whole process (python start incl.) s", [f"{r['add']['process_s']:.2f}" for r in rows])
    show("max RSS MB: build process", [f"{r['build']['max_rss_mb']:.0f}" for r in rows])
    show("  one-paper ingest process", [f"{r['add']['max_rss_mb']:.0f}" for r in rows])
    show("  search process", [f"{r['search']['max_rss_mb']:.0f}" for r in rows])
    show("  Chroma owner process (VmHWM)", [f"{metrics(r)['owner_peak_mb']:.0f}" for r in rows])
    show("  peak ingest (max build/add + owner)", [f"{metrics(r)['peak_ingest_mb']:.0f}" for r in rows])
    show("disk MB (IndexStore.disk_bytes)", [f"{metrics(r)['disk_mb']:.1f}" for r in rows])
    show("  of which Chroma", [f"{r['build'].get('chroma_bytes', 0) / 2**20:.1f}" for r in rows])
    print(line)
    print(report["notes"]["vectors"])
    print(report["notes"]["memory"])

    fitted = report["extrapolated"]
    targets = [n for n in EXTRAPOLATE_TO if n not in sizes]
    print(f"\nEXTRAPOLATED — {report['notes']['fit']}")
    print(f"{'':<44}{'exponent':>10}" + "".join(f"{n:>14,}" for n in targets))
    for name, fit in fitted.items():
        values = "".join(f"{fit[str(n)]:>14.1f}" for n in targets)
        print(f"{name + ' (' + _unit(name) + ')':<44}{fit['exponent']:>10.2f}{values}")

    print("\nissue 12 targets")
    for what, name, n, limit in TARGETS:
        value, where = value_at(rows, fitted, name, n)
        verdict = "?" if math.isnan(value) else ("met" if value <= limit else "MISSED")
        print(f"  {what:<52} ≤ {limit:g} {_unit(name):<3} {value:>9.2f}  ({where})  {verdict}")


def _rate(build: dict[str, Any]) -> str:
    return f"{build['papers_per_s']:.1f}" + (" real" if build["mode"] == "real" else " STORED")


def _k(row: dict[str, Any], kind: str) -> dict[str, float]:
    kinds: dict[str, dict[str, float]] = row["search"]["kinds"]
    return kinds[kind]


def plot(report: dict[str, Any], path: Path) -> None:
    """Search p50 per filter kind, one-paper ingest, memory and disk against papers (log–log),
    measured points solid and the power-law fits dashed out to 2.7 M."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, fitted = report["sizes"], report["extrapolated"]
    sizes = [row["papers"] for row in rows]
    table = [metrics(row) for row in rows]
    span = [min(sizes), max(EXTRAPOLATE_TO)]
    panels = {
        "search p50 (ms)": [
            n for n in table[0] if n.startswith("search_p50_") and n != "search_p50_filtered_ms"
        ],
        "one-paper ingest (s)": ["add_cold_s", "add_warm_s"],
        "memory (MB)": ["peak_ingest_mb", "build_rss_mb", "add_rss_mb", "owner_peak_mb"],
        "disk (MB)": ["disk_mb"],
    }
    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    for ax, (title, names) in zip(axes.flat, panels.items(), strict=True):
        for name in names:
            label = name.removeprefix("search_p50_").rsplit("_", 1)[0]
            (drawn,) = ax.plot(sizes, [m[name] for m in table], "o-", label=label)
            if name in fitted:
                fit = fitted[name]
                line = [math.exp(fit["log_a"]) * n ** fit["exponent"] for n in span]
                ax.plot(span, line, "--", color=drawn.get_color(), alpha=0.6)
        for _, name, n, limit in TARGETS:
            if name in names or (name == "search_p50_filtered_ms" and "search" in title):
                ax.plot([n], [limit], "rx")
        ax.set(xscale="log", yscale="log", xlabel="papers", title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("askpapers at scale: measured (solid), extrapolated (dashed), issue 12 targets (red x)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
