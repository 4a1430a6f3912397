"""``askpapers eval --compare``: two runs' figures side by side, a change called a regression only
when it is beyond noise.

Works on the results.json form of any run's figures (the question-set aggregates, the verifier
figures): numeric leaves are figures, an ``intervals`` entry beside them holds their 95 % intervals
(evals/intervals.py). A change is a **regression** when it goes the worse way and is beyond noise —
the new value lies outside the old run's 95 % interval and the two intervals don't overlap
(:func:`evals.intervals.beyond_noise`); the same the better way is marked ``improved``. A figure one run
has no interval for (a results.json from before intervals) counts as a point; when neither has one, a
drop of more than DROP_TOLERANCE counts, as before intervals.

Latencies, token counts, pairs per second and counts are informational: shown, never a regression.
On a shared 2-core machine a run's p50 moved by +37 % with no code change (a 3-question run, 11.8 →
16.2 ms); speed is judged by bench/, as ratios against a baseline measured in the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evals.intervals import Interval, beyond_noise
from evals.records import Aggregates, EvalRun, read_aggregates
from evals.report import markdown_table

#: Lower is better for these (a rise is a regression); every other figure is higher-is-better.
LOWER_IS_BETTER = ("unsupported_rate", "false_refusal_rate", "contradicted_rate")
#: Figures shown but never judged (matched against the last part of a key).
INFORMATIONAL = ("prompt_tokens", "completion_tokens", "latency_", "seconds", "pairs_per_s")
#: With no interval on either side only: the drop that counts (the rule before intervals were recorded).
DROP_TOLERANCE = 0.01
RULE = (
    "A change is a regression when it goes the worse way and is beyond noise: the new value lies outside "
    "the old run's 95 % interval and the two intervals don't overlap. Latency, tokens and speed are "
    "informational."
)


def informational(key: str) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    return leaf == "n" or leaf.startswith(INFORMATIONAL)


def verdict(key: str, old: float, new: float, old_iv: Interval | None, new_iv: Interval | None) -> str:
    """'REGRESSION', 'improved' or '' for one figure of two runs."""
    if informational(key) or old == new:
        return ""
    worse = (new > old) == (key.rsplit(".", 1)[-1] in LOWER_IS_BETTER)
    if old_iv is None and new_iv is None:
        beyond = abs(new - old) > DROP_TOLERANCE
    else:
        beyond = beyond_noise(old_iv or Interval.point(old), new_iv or Interval.point(new))
    if not beyond:
        return ""
    return "REGRESSION" if worse else "improved"


def intervals_by_key(data: Any, prefix: str = "") -> dict[str, Interval]:
    """Every ``intervals`` entry of a nested results dict, keyed as :func:`flatten` keys its figure:
    ``{"a": {"x": 0.5, "intervals": {"x": {...}}}}`` gives ``{"a.x": Interval(...)}``."""
    out: dict[str, Interval] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "intervals" and isinstance(value, dict):
                out |= {
                    f"{prefix}.{name}" if prefix else name: Interval.from_dict(iv)
                    for name, iv in value.items()
                    if isinstance(iv, dict)
                }
            else:
                out |= intervals_by_key(value, path)
    return out


def flatten(data: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested dict as {'a.b.c': value}, leaving out the ``intervals`` entries."""
    out: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if key != "intervals":
                out |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, int | float) and not isinstance(data, bool):
        out[prefix] = float(data)
    return out


def compare_figures(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, list[str]]:
    """A table of every figure of two runs (with intervals where recorded), and the keys that regressed."""
    a, b = flatten(old), flatten(new)
    ia, ib = intervals_by_key(old), intervals_by_key(new)
    rows, regressions = [], []
    for key in sorted(a.keys() | b.keys()):
        if key.endswith(".n"):
            continue
        before, after = a.get(key), b.get(key)
        if before is None or after is None:
            rows.append([key, before, after, "–", "(only in one run)"])
            continue
        flag = verdict(key, before, after, ia.get(key), ib.get(key))
        if flag == "REGRESSION":
            regressions.append(key)
        shown = [str(ia[key]) if key in ia else before, str(ib[key]) if key in ib else after]
        rows.append([key, *shown, f"{after - before:+.3f}", flag])
    text = markdown_table(["metric", "old", "new", "delta", ""], rows)
    summary = (
        f"{len(regressions)} regression(s): {', '.join(regressions)}" if regressions else "no regressions"
    )
    return f"{text}\n\n{summary}\n\n{RULE}\n", regressions


def compare_results(old: Aggregates, new: Aggregates) -> tuple[str, list[str]]:
    """The question-set aggregates of two runs compared (see :func:`compare_figures`)."""
    return compare_figures(old.to_dict(), new.to_dict())


def load_results(old_results_path: str | Path) -> Aggregates:
    """The aggregates of a results.json written by an earlier run; InputError when it isn't one."""
    return read_aggregates(Path(old_results_path))


def compare(old_results_path: str | Path, new: EvalRun) -> str:
    """Deltas per aggregate figure between a saved results.json and a new run, regressions marked."""
    text, _ = compare_results(load_results(old_results_path), new.aggregates)
    return text
