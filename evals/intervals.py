"""95 % intervals for every rate an eval reports, and the one rule that calls a change beyond noise.

- A proportion k/n (refused questions, hits, flagged pairs, supported sentences) gets Wilson's score
  interval: it stays inside [0, 1] and is not zero-wide at 0/n or n/n — 12/12 is 1.00 [0.76, 1.00].
- A mean of per-question scores (MRR, nDCG, fact coverage, judge grades) gets a percentile bootstrap
  over questions; when every score is 0 or 1 the mean *is* a proportion and gets Wilson's instead (a
  bootstrap of 12 ones is [1, 1], which says nothing about 12 questions).
- Two runs differ beyond noise when the new value lies outside the old run's interval **and** the two
  intervals don't overlap. That is conservative (non-overlapping 95 % intervals mean p < ~0.01 for a
  difference), on purpose: a gate that fires on noise gets ignored. A figure with no interval (a
  results.json from before intervals) is a point, so the rule reads "the old value lies outside the
  new interval".

numpy is imported inside the bootstrap, so importing this module is cheap.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval
#: Resamples of a bootstrap interval and its seed: 2,000 puts the 2.5/97.5 percentiles within ~0.005 of
#: their limit for the question sets here (n ≤ a few hundred); a fixed seed makes reruns identical.
BOOTSTRAP_REPS = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A figure, its 95 % interval and how many it was measured on (``k``: successes of a proportion)."""

    value: float
    lo: float
    hi: float
    n: int
    k: int | None = None  # set for a proportion (Wilson); None for a bootstrap mean

    def __str__(self) -> str:
        if math.isnan(self.value):
            return "–"
        return f"{self.value:.2f} [{self.lo:.2f}, {self.hi:.2f}]"

    def with_n(self) -> str:
        """``1.00 [0.76, 1.00] (12/12)`` for a proportion, ``0.67 [0.55, 0.78] (n=53)`` for a mean."""
        return f"{self} ({self.k}/{self.n})" if self.k is not None else f"{self} (n={self.n})"

    @classmethod
    def point(cls, value: float) -> Interval:
        """A figure without an interval (an earlier run's): zero wide."""
        return cls(value, value, value, 0)

    def to_dict(self) -> dict[str, Any]:
        """As JSON: an undefined bound or value (NaN, e.g. of 0/0) is null, never NaN."""
        out: dict[str, Any] = {}
        for key, v in asdict(self).items():
            if v is not None:
                out[key] = None if isinstance(v, float) and not math.isfinite(v) else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interval:
        k = data.get("k")

        def number(key: str) -> float:
            v = data.get(key)
            return float("nan") if v is None else float(v)

        return cls(
            number("value"),
            number("lo"),
            number("hi"),
            int(data.get("n", 0)),
            None if k is None else int(k),
        )


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of k successes in n trials (NaNs for n = 0)."""
    if not n:
        return (float("nan"), float("nan"))
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Rate:
    """k of n, with Wilson's interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def wilson(self, z: float = Z95) -> tuple[float, float]:
        return wilson(self.k, self.n, z)

    def interval(self) -> Interval:
        lo, hi = self.wilson()
        return Interval(self.value, lo, hi, self.n, self.k)

    def __str__(self) -> str:
        return self.interval().with_n()


def rate_interval(k: int, n: int) -> Interval | None:
    """Wilson's interval of k/n; None when there is nothing to count (n = 0)."""
    return Rate(k, n).interval() if n else None


def bootstrap(
    statistic: Callable[[np.ndarray], float],
    groups: Sequence[str],
    reps: int = BOOTSTRAP_REPS,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """95 % percentile interval of ``statistic(rows)``, resampling groups (a claim's or question's rows
    together): ``statistic`` gets the row indices of one resample."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ids = sorted(set(groups))
    index = {g: np.array([i for i, h in enumerate(groups) if h == g]) for g in ids}
    values = [
        statistic(np.concatenate([index[ids[j]] for j in rng.integers(0, len(ids), len(ids))]))
        for _ in range(reps)
    ]
    values = [v for v in values if v == v]  # a resample the statistic is undefined on (NaN) is left out
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def mean_interval(
    values: Sequence[float],
    *,
    proportion: bool = True,
    reps: int = BOOTSTRAP_REPS,
    seed: int = BOOTSTRAP_SEED,
) -> Interval | None:
    """The mean of per-question scores with its interval: Wilson's when the scores are shares
    (``proportion``, in 0..1) and every one is 0 or 1, else a percentile bootstrap over the questions
    (``proportion=False`` for grades such as a judge's 1–5). None for no scores."""
    if not values:
        return None
    if proportion and all(v in (0.0, 1.0) for v in values):
        return Rate(int(sum(values)), len(values)).interval()
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), (reps, len(data)))].mean(axis=1)
    return Interval(
        float(data.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)), len(data)
    )


def beyond_noise(old: Interval, new: Interval) -> bool:
    """The new value lies outside the old interval and the two intervals don't overlap."""
    outside = not old.lo <= new.value <= old.hi
    apart = new.hi < old.lo or new.lo > old.hi
    return outside and apart
