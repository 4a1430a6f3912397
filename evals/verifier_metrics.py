"""Verifier metrics with 95 % intervals (evals/intervals.py): Wilson for rates, a bootstrap over claims
for balanced accuracy.

Balanced accuracy is of "supported" against everything else (the anchors LLM-AggreFact reports are
the same binary figure); the three-way figures say how often CONTRADICT pairs are flagged and labelled
``contradicted``. Labels are SciFact's words (SUPPORT, CONTRADICT, NEI).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from evals.intervals import BOOTSTRAP_REPS, BOOTSTRAP_SEED, Rate, bootstrap
from evals.scifact import CLASSES as LABELS

if TYPE_CHECKING:
    import numpy as np


def balanced_accuracy(gold_supported: np.ndarray, said_supported: np.ndarray) -> float:
    """The mean of the per-class accuracies of the classes present (supported, not supported); NaN
    with neither. With one class only it is that class's accuracy, not half of it."""
    rates = [
        float(said_supported[gold_supported].mean()) if gold_supported.any() else None,
        float((~said_supported[~gold_supported]).mean()) if (~gold_supported).any() else None,
    ]
    present = [r for r in rates if r is not None]
    return sum(present) / len(present) if present else float("nan")


def bootstrap_ba(
    gold_supported: np.ndarray,
    said_supported: np.ndarray,
    groups: Sequence[str],
    reps: int = BOOTSTRAP_REPS,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95 % percentile interval of balanced accuracy, resampling claims (a claim's pairs together)."""
    return bootstrap(
        lambda rows: balanced_accuracy(gold_supported[rows], said_supported[rows]), groups, reps, seed
    )


def report(gold: Sequence[str], predicted: Sequence[str], groups: Sequence[str]) -> dict[str, object]:
    """Everything the lab reports for one variant on one split."""
    import numpy as np

    g = np.array(gold)
    p = np.array(predicted)
    gold_sup = g == "SUPPORT"
    said_sup = p == "SUPPORT"
    flagged = ~said_sup
    unsupported = ~gold_sup
    ba = balanced_accuracy(gold_sup, said_sup)
    out: dict[str, object] = {
        "n": len(g),
        "balanced_accuracy": ba,
        "balanced_accuracy_ci": bootstrap_ba(gold_sup, said_sup, groups),
        "accuracy_3way": Rate(int((g == p).sum()), len(g)),
        "contradict_flagged": Rate(int(flagged[g == "CONTRADICT"].sum()), int((g == "CONTRADICT").sum())),
        "contradict_recall": Rate(
            int((p[g == "CONTRADICT"] == "CONTRADICT").sum()), int((g == "CONTRADICT").sum())
        ),
        "flag_precision": Rate(int((flagged & unsupported).sum()), int(flagged.sum())),
        "flag_recall": Rate(int((flagged & unsupported).sum()), int(unsupported.sum())),
    }
    for label in LABELS:
        out[f"acc_{label}"] = Rate(int((p[g == label] == label).sum()), int((g == label).sum()))
    return out


def format_report(name: str, r: dict[str, object]) -> str:
    ci: tuple[float, float] = r["balanced_accuracy_ci"]  # type: ignore[assignment]
    lo, hi = ci
    lines = [
        f"== {name} (n={r['n']})",
        f"  balanced accuracy (supported vs not): {r['balanced_accuracy']:.3f} [{lo:.2f}, {hi:.2f}]",
        f"  3-way accuracy: {r['accuracy_3way']}",
    ]
    lines += [f"  accuracy on gold {label}: {r[f'acc_{label}']}" for label in LABELS]
    lines += [
        f"  CONTRADICT flagged not-supported: {r['contradict_flagged']}",
        f"  CONTRADICT labelled contradicted: {r['contradict_recall']}",
        f"  flag-unsupported precision: {r['flag_precision']}  recall: {r['flag_recall']}",
    ]
    return "\n".join(lines)
