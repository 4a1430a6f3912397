"""The refusal gate's fit: the split, the logistic models, the threshold, the figures, and the old gate
refitted on the same half for comparison (used by evals/calibrate_refusal.py).

- Split: within each kind of question (``kind``, else ``type``), questions ordered by the SHA-1 of
  their id, every other one is in the calibration half; the rest is held out.
- Models: one logistic regression per group of questions (rag.evidence.FEATURES: figure/name
  questions, open questions) on standardised signals with an L2 penalty, by gradient descent from
  zero (deterministic), then written back as weights of the raw signals.
- Threshold: the gate answers when the probability is at least the threshold. It is set so that at
  most a share ``cap`` of the calibration half's answerable questions is refused; ``cap`` is the
  largest of ``CAPS`` whose 5-fold cross-validated false-refusal rate *on the calibration half*
  stays within ``MAX_FALSE_REFUSALS`` (a threshold fitted on the same questions refuses fewer of them
  than of new ones: cross-validation measures that slack without touching the held-out half).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from evals.intervals import Rate
from evals.questions import Question, sha1_hex
from rag.evidence import FEATURES, Signals, answerable_probability
from rag.settings import RefusalSettings

#: The most false refusals (answerable questions refused) the gate may make on new questions, as a share.
MAX_FALSE_REFUSALS = 0.05
#: Candidate shares of the calibration half's answerable questions the threshold may refuse.
CAPS = (0.01, 0.02, 0.03, 0.04, 0.05)
FOLDS = 5
#: L2 penalty on the standardised weights: a few signals are close to collinear (cosine, relevance).
L2 = 1.0
STEPS, RATE = 3000, 0.5
UNANSWERABLE_KINDS = ("near_miss", "off_topic", "unanswerable")


@dataclass(frozen=True)
class Measured:
    question: Question
    signals: Signals | None

    @property
    def kind(self) -> str:
        return self.question.kind or self.question.type


def fit_logistic(x: np.ndarray, y: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """Weights of the raw signals (and 'intercept') of an L2-penalised logistic regression."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    constant = scale < 1e-9
    scale[constant] = 1.0
    z = (x - mean) / scale
    z[:, constant] = 0.0
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(STEPS):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        w -= RATE * (z.T @ (p - y) + L2 * w) / len(y)
        b -= RATE * float((p - y).mean())
    raw = w / scale
    weights = {"intercept": round(b - float(raw @ mean), 4)}
    weights.update({name: round(float(v), 4) for name, v in zip(names, raw, strict=True)})
    return weights


def fit_models(rows: Sequence[Measured]) -> dict[str, dict[str, float]]:
    """One logistic model per group of questions (rag.evidence.FEATURES)."""
    models = {}
    for group, names in FEATURES.items():
        mine = [r for r in rows if r.signals is not None and r.signals.group == group]
        if len({r.question.answerable for r in mine}) < 2:
            models[group] = {"intercept": 0.0}  # nothing to learn from: a coin
            continue
        x = np.array([[r.signals.values[n] for n in names] for r in mine if r.signals is not None])
        y = np.array([float(r.question.answerable) for r in mine])
        models[group] = fit_logistic(x, y, names)
    return models


def probabilities(rows: Sequence[Measured], settings: RefusalSettings) -> list[float]:
    return [0.0 if r.signals is None else answerable_probability(r.signals, settings) for r in rows]


def threshold_at(rows: Sequence[Measured], settings: RefusalSettings, cap: float) -> float:
    """The threshold that refuses at most ``cap`` of ``rows``' answerable questions: midway between the
    answerable probability it must keep and the next probability below it."""
    p = probabilities(rows, settings)
    kept = sorted(pi for pi, r in zip(p, rows, strict=True) if r.question.answerable)
    if not kept:
        return 0.5
    lowest = kept[int(math.floor(cap * len(kept)))]
    below = [pi for pi in p if pi < lowest]
    return round((lowest + max(below)) / 2, 6) if below else lowest


def fit(rows: Sequence[Measured], cap: float) -> RefusalSettings:
    """Models and threshold fitted on ``rows`` with ``cap`` (module docstring)."""
    settings = RefusalSettings(model=fit_models(rows), answer_threshold=0.5)
    return settings.model_copy(update={"answer_threshold": threshold_at(rows, settings, cap)})


def folds(rows: Sequence[Measured], k: int = FOLDS) -> list[list[Measured]]:
    out: list[list[Measured]] = [[] for _ in range(k)]
    for r in rows:
        out[int(sha1_hex("fold:" + r.question.id), 16) % k].append(r)
    return out


def cross_validate(rows: Sequence[Measured], cap: float) -> Figures:
    """Figures of predicting each fold with the gate fitted on the others."""
    parts = folds(rows)
    refused: list[tuple[Measured, bool]] = []
    for i, held in enumerate(parts):
        fitted = fit([r for j, part in enumerate(parts) if j != i for r in part], cap)
        refused += [(r, refuses(r, fitted)) for r in held]
    return figures(refused)


def choose_cap(rows: Sequence[Measured]) -> tuple[float, dict[float, Figures]]:
    """The largest cap whose cross-validated false refusals stay within MAX_FALSE_REFUSALS."""
    tried = {cap: cross_validate(rows, cap) for cap in CAPS}
    fine = [cap for cap, f in tried.items() if f.false_refusals.value <= MAX_FALSE_REFUSALS]
    return (max(fine) if fine else min(CAPS)), tried


def refuses(row: Measured, settings: RefusalSettings) -> bool:
    return row.signals is None or answerable_probability(row.signals, settings) < settings.answer_threshold


@dataclass(frozen=True)
class Figures:
    """Refusal accuracy (unanswerable refused) and false refusals (answerable refused), overall and by kind."""

    refusal_accuracy: Rate
    false_refusals: Rate
    by_kind: dict[str, Rate]  # the share refused, per kind


def figures(verdicts: Iterable[tuple[Measured, bool]]) -> Figures:
    verdicts = list(verdicts)
    refused, total = Counter[str](), Counter[str]()
    for row, was_refused in verdicts:
        total[row.kind] += 1
        refused[row.kind] += was_refused
    unanswerable = [k for k in total if k in UNANSWERABLE_KINDS]
    answerable = [k for k in total if k not in UNANSWERABLE_KINDS]
    return Figures(
        Rate(sum(refused[k] for k in unanswerable), sum(total[k] for k in unanswerable)),
        Rate(sum(refused[k] for k in answerable), sum(total[k] for k in answerable)),
        {k: Rate(refused[k], total[k]) for k in sorted(total)},
    )


def judged(rows: Iterable[Measured], refuse: Callable[[Measured], bool]) -> Figures:
    return figures((r, refuse(r)) for r in rows)


# --- the gate before issue 10 part 3, refitted on the same calibration half ---------------------------
@dataclass(frozen=True)
class Baseline:
    """The old gate: refuse when strength = dense + coverage_weight × coverage is under a threshold, or
    when the question names something no retrieved abstract mentions and coverage is middling."""

    strength_threshold: float
    coverage_weight: float
    coverage_with_missing_names: float

    def refuses(self, row: Measured) -> bool:
        s = row.signals
        if s is None:
            return True
        coverage = s.values["coverage"]
        if s.missing and coverage < self.coverage_with_missing_names:
            return True
        return s.values["dense"] + self.coverage_weight * coverage < self.strength_threshold


def fit_baseline(rows: Sequence[Measured]) -> Baseline:
    """The old fit (git history of this script): the missing-name coverage midway between the groups,
    then the weight (>= 0.5) and threshold with the best balanced accuracy at false refusals <= 5%
    and the widest run of equally good thresholds (in strength SDs)."""
    named = [r for r in rows if r.signals is not None and r.signals.missing]
    high = max(
        (r.signals.values["coverage"] for r in named if r.signals and not r.question.answerable), default=0.0
    )
    low = min(
        (r.signals.values["coverage"] for r in named if r.signals and r.question.answerable), default=1.0
    )
    c = round((high + low) / 2, 3) if high < low else low
    grid = [round(0.50 + 0.005 * i, 3) for i in range(401)]
    best: tuple[float, float] | None = None
    chosen = Baseline(0.0, 0.5, c)
    for w in [round(0.5 + 0.1 * i, 1) for i in range(16)]:
        scores = []
        for t in grid:
            f = judged(rows, Baseline(t, w, c).refuses)
            ok = f.false_refusals.value <= MAX_FALSE_REFUSALS
            scores.append((f.refusal_accuracy.value + 1 - f.false_refusals.value) / 2 if ok else -1.0)
        top = max(scores)
        if top < 0:
            continue
        first, last = _longest_run([s >= top - 1e-9 for s in scores])
        strengths = [r.signals.values["dense"] + w * r.signals.values["coverage"] for r in rows if r.signals]
        key = (top, (grid[last] - grid[first] + 0.005) / (statistics.pstdev(strengths) or 1.0))
        if best is None or key > best:
            best, chosen = key, Baseline(round((grid[first] + grid[last]) / 2, 3), w, c)
    return chosen


def _longest_run(good: Sequence[bool]) -> tuple[int, int]:
    best, start = (0, -1), None
    for i, ok in enumerate([*good, False]):
        if ok and start is None:
            start = i
        elif not ok and start is not None:
            if i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best
