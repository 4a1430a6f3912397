"""``askpapers eval --verify claims.jsonl``: the verifiers side by side on labelled claim–abstract pairs.

Pairs come from any claims file in SciFact's format (evals/scifact.py): every (claim, cited abstract),
labelled SUPPORT or CONTRADICT where the claim's evidence names the abstract, else NEI. Each verifier
(``learned``, ``rules``; ``llm`` only when asked, through settings.verify's endpoint) checks every pair
in one ``verify`` call (``llm``: one pair a call, for the progress bar); what is reported
(evals/verifier_metrics.py, intervals from evals/intervals.py):

- balanced accuracy of supported vs not, with a bootstrap interval over claims, and its difference from
  the ``rules`` baseline (a paired bootstrap: both verifiers on the same resampled claims);
- accuracy per gold label, precision and recall at flagging unsupported (gold CONTRADICT or NEI),
  CONTRADICT pairs flagged, three-way label accuracy — each k/n with Wilson's interval;
- pairs per second: wall time of the one ``verify`` call, after a one-pair warm-up that loads the model.

``--split held_out`` scores the part of SciFact's ``claims_train.jsonl`` the shipped model never saw
(the hash split of python -m evals.train_verifier); any other claims file is scored whole.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from evals.intervals import Interval, Rate, bootstrap
from evals.scifact import CLASSES, Pair, load_claim_pairs, statements
from evals.verifier_metrics import balanced_accuracy, report
from rag.embedders import Embedder, make_embedder
from rag.errors import AskpapersError, ConfigError, EndpointError, InputError
from rag.verify import LABELS, Statement, Verifier
from rag.verify.factory import make_verifier

if TYPE_CHECKING:
    from rag.settings import Settings

VERIFIERS = ("learned", "rules", "llm")
DEFAULT_VERIFIERS = ("learned", "rules")
SPLITS = ("held_out", "all")
BASELINE = "rules"
TRAINING_CLAIMS = "claims_train.jsonl"  # the file whose hash split the shipped model was trained on
#: (key in verifier_metrics.report, what the report calls it), in the report's order
FIGURES = (
    ("balanced_accuracy", "balanced accuracy (supported vs not)"),
    ("acc_SUPPORT", "accuracy on gold SUPPORT"),
    ("acc_CONTRADICT", "accuracy on gold CONTRADICT (labelled contradicted)"),
    ("acc_NEI", "accuracy on gold NEI"),
    ("contradict_flagged", "CONTRADICT flagged (not supported)"),
    ("flag_precision", "precision at flagging unsupported"),
    ("flag_recall", "recall at flagging unsupported"),
    ("accuracy_3way", "three-way label accuracy"),
)
VS_BASELINE = "ba_minus_rules"


@dataclass(frozen=True)
class VerifyData:
    """The pairs scored, and where they came from."""

    claims: Path
    corpus: Path
    split: str  # the split scored: 'held_out' or 'all'
    pairs: list[Pair]
    note: str = ""  # why the split asked for is not the one scored, if it isn't


def load_eval_pairs(
    claims: Path, corpus: Path | None = None, split: str = "all", limit: int | None = None
) -> VerifyData:
    """The pairs of ``claims`` against ``corpus`` (default: corpus.jsonl beside it); ``split='held_out'``
    keeps SciFact training claims' held-out part; ``limit`` keeps the first N claims."""
    if split not in SPLITS:
        raise ConfigError(f"--split with --verify is one of {', '.join(SPLITS)}, not {split!r}")
    if not claims.is_file():
        raise InputError("no such claims file", path=str(claims))
    corpus = corpus or claims.parent / "corpus.jsonl"
    if not corpus.is_file():
        raise InputError("no corpus for the claims (give --corpus FILE)", path=str(corpus))
    pairs = load_claim_pairs(claims, corpus)
    note = ""
    if split == "held_out":
        if claims.name == TRAINING_CLAIMS:
            pairs = [p for p in pairs if p.split == "held_out"]
        else:
            split, note = (
                "all",
                f"--split held_out applies to SciFact's {TRAINING_CLAIMS} only: all pairs scored",
            )
    if limit is not None:
        keep = set(list(dict.fromkeys(p.claim_id for p in pairs))[:limit])
        pairs = [p for p in pairs if p.claim_id in keep]
    if not pairs:
        raise InputError("no claim–abstract pairs to score", path=str(claims))
    return VerifyData(claims, corpus, split, pairs, note)


@dataclass
class VerifierResult:
    """One verifier's figures on the pairs: values, their intervals, and its speed."""

    name: str
    said: list[str]  # its label per pair, in SciFact's words
    figures: dict[str, float] = field(default_factory=dict)
    intervals: dict[str, Interval] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def pairs_per_s(self) -> float:
        return len(self.said) / self.seconds if self.seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """As JSON: an undefined figure (NaN, e.g. a rate of 0 pairs) is null, never NaN."""
        return {
            **{k: _finite(v) for k, v in self.figures.items()},
            "n": len(self.said),
            "pairs_per_s": _finite(round(self.pairs_per_s, 1)),
            "seconds": round(self.seconds, 3),
            "intervals": {k: iv.to_dict() for k, iv in self.intervals.items()},
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass
class VerifyRun:
    data: VerifyData
    results: list[VerifierResult]

    def meta(self) -> dict[str, Any]:
        pairs = self.data.pairs
        return {
            "claims": str(self.data.claims),
            "corpus": str(self.data.corpus),
            "split": self.data.split,
            "note": self.data.note,
            "claims_scored": len({p.claim_id for p in pairs}),
            "pairs": len(pairs),
            "gold": {label: sum(p.label == label for p in pairs) for label in CLASSES},
        }

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta(), "verifiers": {r.name: r.to_dict() for r in self.results}}


def score(name: str, said: Sequence[str], pairs: Sequence[Pair], seconds: float) -> VerifierResult:
    """The figures of one verifier's labels against the gold ones."""
    r = report([p.label for p in pairs], said, [p.claim_id for p in pairs])
    lo, hi = cast(tuple[float, float], r["balanced_accuracy_ci"])
    ba = cast(float, r["balanced_accuracy"])
    result = VerifierResult(name, list(said), seconds=seconds)
    result.figures["balanced_accuracy"] = ba
    result.intervals["balanced_accuracy"] = Interval(ba, lo, hi, len(pairs))
    rates = {key: rate for key, rate in r.items() if isinstance(rate, Rate)}
    for key, _ in FIGURES[1:]:
        result.figures[key] = rates[key].value
        if rates[key].n:
            result.intervals[key] = rates[key].interval()
    return result


def versus(result: VerifierResult, baseline: VerifierResult, pairs: Sequence[Pair]) -> Interval:
    """Balanced accuracy of ``result`` minus the baseline's, with a paired bootstrap interval over claims."""
    import numpy as np

    gold = np.array([p.label == "SUPPORT" for p in pairs])
    a, b = np.array(result.said) == "SUPPORT", np.array(baseline.said) == "SUPPORT"

    def diff(rows: Any) -> float:
        return balanced_accuracy(gold[rows], a[rows]) - balanced_accuracy(gold[rows], b[rows])

    lo, hi = bootstrap(diff, [p.claim_id for p in pairs])
    return Interval(diff(np.arange(len(pairs))), lo, hi, len(pairs))


def build_verifier(name: str, settings: Settings, embedder: Embedder | None) -> Verifier:
    """The verifier ``name`` with the rest of ``settings.verify`` as configured."""
    verify = settings.verify.model_copy(update={"method": name})
    return make_verifier(settings.model_copy(update={"verify": verify}), embedder)


def _llm_error(exc: AskpapersError) -> EndpointError:
    """One line that says the llm verifier can't run, why, and which endpoints it can ask."""
    detail = " ".join(str(exc).split())
    return EndpointError(
        f"the llm verifier can't run: {detail} (it asks settings.verify.llm_endpoint: 'openai', the endpoint "
        "of OPENAI_BASE_URL, or 'local' with ASKPAPERS_VERIFY__LLM_ENDPOINT=local)"
    )


def _warm(name: str, verifier: Verifier, first: Pair) -> None:
    """Load the model (and, for ``llm``, reach the endpoint) before the clock starts."""
    statement = Statement(f"A study of {first.title}", statements([first])[0].sources)
    try:
        verifier.verify([statement])
    except AskpapersError as exc:
        if name != "llm":
            raise
        raise _llm_error(exc) from None


def run_verifier(name: str, verifier: Verifier, pairs: Sequence[Pair], progress: bool) -> VerifierResult:
    from tqdm import tqdm

    items = statements(pairs)
    _warm(name, verifier, pairs[0])
    step = 1 if name == "llm" else len(items)  # llm: a call per pair, so the bar moves
    verdicts = []
    started = time.perf_counter()
    with tqdm(
        total=len(items), desc=name, unit="pair", file=sys.stderr, disable=not progress, leave=False
    ) as bar:
        for i in range(0, len(items), step):
            verdicts += verifier.verify(items[i : i + step])
            bar.update(min(step, len(items) - i))
    seconds = time.perf_counter() - started
    said = [CLASSES[LABELS.index(v.label)] for v in verdicts]
    return score(name, said, pairs, seconds)


def parse_verifiers(text: str | None) -> list[str]:
    names = [n.strip() for n in (text or ",".join(DEFAULT_VERIFIERS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in VERIFIERS]
    if unknown or not names:
        raise ConfigError(f"--verifiers takes {', '.join(VERIFIERS)} (comma-separated), not {text!r}")
    return list(dict.fromkeys(names))


def run_verify_eval(
    settings: Settings, data: VerifyData, names: Sequence[str], *, progress: bool = True
) -> VerifyRun:
    """Each named verifier on the pairs, in order; the ``llm`` one's endpoint is checked first."""
    embedder = make_embedder(settings) if any(n != "llm" for n in names) else None
    verifiers: dict[str, Verifier] = {}
    for name in names:
        try:
            verifiers[name] = build_verifier(name, settings, embedder)
        except AskpapersError as exc:
            if name != "llm":
                raise
            raise _llm_error(exc) from None
    if "llm" in verifiers:  # an unreachable endpoint fails the run before minutes of the others
        _warm("llm", verifiers["llm"], data.pairs[0])
    results = [run_verifier(n, v, data.pairs, progress) for n, v in verifiers.items()]
    base = next((r for r in results if r.name == BASELINE), None)
    for r in results:
        if base is not None and r is not base:
            iv = versus(r, base, data.pairs)
            r.figures[VS_BASELINE], r.intervals[VS_BASELINE] = iv.value, iv
    return VerifyRun(data, results)
