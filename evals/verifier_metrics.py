"""Verifier metrics with 95 % intervals: Wilson for rates, a bootstrap over claims for balanced accuracy.

Balanced accuracy is of "supported" against everything else (the anchors LLM-AggreFact reports are
the same binary figure); the three-way figures say how often CONTRADICT pairs are flagged and labelled
``contradicted``. Labels are SciFact's words (SUPPORT, CONTRADICT, NEI).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evals.scifact import CLASSES as LABELS


@dataclass(frozen=True)
class Rate:
    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def wilson(self, z: float = 1.96) -> tuple[float, float]:
        if not self.n:
            return (float("nan"), float("nan"))
        p = self.k / self.n
        denom = 1 + z * z / self.n
        centre = (p + z * z / (2 * self.n)) / denom
        half = z * math.sqrt(p * (1 - p) / self.n + z * z / (4 * self.n * self.n)) / denom
        return (centre - half, centre + half)

    def __str__(self) -> str:
        lo, hi = self.wilson()
        return f"{self.value:.3f} [{lo:.2f},{hi:.2f}] ({self.k}/{self.n})"


def balanced_accuracy(gold_supported: np.ndarray, said_supported: np.ndarray) -> float:
    tpr = said_supported[gold_supported].mean() if gold_supported.any() else 0.0
    tnr = (~said_supported[~gold_supported]).mean() if (~gold_supported).any() else 0.0
    return float((tpr + tnr) / 2)


def bootstrap_ba(
    gold_supported: np.ndarray,
    said_supported: np.ndarray,
    groups: Sequence[str],
    reps: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """95 % percentile interval of balanced accuracy, resampling claims (a claim's pairs together)."""
    rng = np.random.default_rng(seed)
    ids = sorted(set(groups))
    index = {g: np.array([i for i, h in enumerate(groups) if h == g]) for g in ids}
    values = []
    for _ in range(reps):
        rows = np.concatenate([index[ids[j]] for j in rng.integers(0, len(ids), len(ids))])
        values.append(balanced_accuracy(gold_supported[rows], said_supported[rows]))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def report(gold: Sequence[str], predicted: Sequence[str], groups: Sequence[str]) -> dict[str, object]:
    """Everything the lab reports for one variant on one split."""
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
        f"  balanced accuracy (supported vs not): {r['balanced_accuracy']:.3f} [{lo:.2f},{hi:.2f}]",
        f"  3-way accuracy: {r['accuracy_3way']}",
    ]
    lines += [f"  accuracy on gold {label}: {r[f'acc_{label}']}" for label in LABELS]
    lines += [
        f"  CONTRADICT flagged not-supported: {r['contradict_flagged']}",
        f"  CONTRADICT labelled contradicted: {r['contradict_recall']}",
        f"  flag-unsupported precision: {r['flag_precision']}  recall: {r['flag_recall']}",
    ]
    return "\n".join(lines)
