"""Calibrate and report the support checker (rag/support.py) on evals/sets/support_labels.jsonl.

The positive class is *unsupported*: the checker's job is to flag sentences their citations don't
back. The labelled set is split in two by a stable hash of each id; the threshold is chosen on the
calibration half only (midpoint of the thresholds that maximise F1 there) and the held-out half is
reported separately, so the headline figures are not ones the threshold was fit on.

With ``--scifact DIR`` it also scores an outside set it never fits on: every claim of SciFact's
training claims (``claims_train.jsonl`` + ``corpus.jsonl``) against each abstract it cites, labelled
supported (SUPPORT) or not (CONTRADICT, or a cited abstract without evidence), and reports the
balanced accuracy of "supported" at each threshold shown.

Usage: .venv/bin/python -m evals.calibrate_support [--write] [--scifact ../shared/data/scifact]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ingest.sources import read_inputs
from rag import calibration as calibration_file
from rag.embedders import make_embedder
from rag.records import Paper, normalise_title
from rag.settings import Settings, SupportSettings
from rag.support import SupportScorer

REPO = Path(__file__).resolve().parent.parent

LABELS = REPO / "evals" / "sets" / "support_labels.jsonl"
CORPUS = REPO / "data" / "sample"
GRID = [round(0.30 + 0.005 * i, 3) for i in range(131)]  # 0.30 .. 0.95


def load_labels(path: Path = LABELS) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_abstracts(root: Path = CORPUS) -> dict[str, str]:
    """Abstract of every paper in the corpus, keyed by normalised title (first copy wins)."""
    out: dict[str, str] = {}
    for item in read_inputs([root]):
        if isinstance(item, Paper):
            out.setdefault(normalise_title(item.title), item.abstract)
    return out


def is_calibration(label_id: str) -> bool:
    """Stable half of the set: the same ids land in the same half on every machine and run."""
    return hashlib.sha1(label_id.encode()).digest()[0] % 2 == 0


def score_rows(
    scorer: SupportScorer, labels: Sequence[Mapping[str, Any]], abstracts_by_title: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Check every labelled sentence (one batch) and keep what the metrics need."""
    items = [
        (row["sentence"], [abstracts_by_title[normalise_title(t)] for t in row["cites"]]) for row in labels
    ]
    results = scorer.check_many(items)
    return [
        {
            "id": row["id"],
            "kind": row["kind"],
            "unsupported": row["label"] == "unsupported",
            "score": res.score,
            # a failed hard check (missing number/name, reversed comparison) flags at any threshold
            "hard": not res.supported and not res.reason.startswith("little overlap"),
            "reason": res.reason,
        }
        for row, res in zip(labels, results, strict=True)
    ]


def load_scifact(root: Path) -> list[tuple[str, str, bool]]:
    """(claim, "title.\nabstract" of a cited abstract, supported?) for every SciFact claim-abstract pair,
    the abstract as the verifier sees a cited source (rag/support.py's SentenceVerifier)."""
    abstracts: dict[str, str] = {}
    with (root / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                doc = json.loads(line)
                abstracts[str(doc["_id"])] = f"{doc.get('title', '')}.\n{doc.get('text', '')}"
    pairs: list[tuple[str, str, bool]] = []
    with (root / "claims_train.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            claim = json.loads(line)
            evidence = claim.get("evidence", {})
            for doc_id in claim.get("cited_doc_ids", []):
                label = evidence.get(str(doc_id), {}).get("label")
                pairs.append((claim["claim"], abstracts[str(doc_id)], label == "SUPPORT"))
    return pairs


def score_scifact(scorer: SupportScorer, pairs: Sequence[tuple[str, str, bool]]) -> list[dict[str, Any]]:
    results = scorer.check_many([(claim, [abstract]) for claim, abstract, _ in pairs])
    return [
        {"supported": label, "score": res.score, "hard": res.vetoed}
        for (_, _, label), res in zip(pairs, results, strict=True)
    ]


def balanced_accuracy(rows: Sequence[Mapping[str, Any]], threshold: float) -> dict[str, float]:
    """Balanced accuracy of calling a pair supported (no hard-check failure, score >= threshold)."""
    said = [not r["hard"] and r["score"] >= threshold for r in rows]
    pos = [s for s, r in zip(said, rows, strict=True) if r["supported"]]
    neg = [not s for s, r in zip(said, rows, strict=True) if not r["supported"]]
    tpr = sum(pos) / len(pos) if pos else 0.0
    tnr = sum(neg) / len(neg) if neg else 0.0
    return {"balanced_accuracy": (tpr + tnr) / 2, "tpr": tpr, "tnr": tnr, "n": len(rows)}


def flagged(row: Mapping[str, Any], threshold: float) -> bool:
    return bool(row["hard"] or row["score"] < threshold)


def metrics(rows: Iterable[Mapping[str, Any]], threshold: float) -> dict[str, Any]:
    """Precision/recall/F1 at flagging unsupported sentences, accuracy, and accuracy per kind."""
    rows = list(rows)
    tp = sum(flagged(r, threshold) and r["unsupported"] for r in rows)
    fp = sum(flagged(r, threshold) and not r["unsupported"] for r in rows)
    fn = sum(not flagged(r, threshold) and r["unsupported"] for r in rows)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    per_kind: dict[str, dict[str, Any]] = {}
    for r in rows:
        kind = per_kind.setdefault(r["kind"], {"n": 0, "correct": 0, "errors": []})
        kind["n"] += 1
        if flagged(r, threshold) == r["unsupported"]:
            kind["correct"] += 1
        else:
            kind["errors"].append(r["id"])
    for kind in per_kind.values():
        kind["accuracy"] = kind["correct"] / kind["n"]
    correct = sum(k["correct"] for k in per_kind.values())
    return {
        "threshold": threshold,
        "n": len(rows),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": correct / len(rows) if rows else 0.0,
        "per_kind": per_kind,
    }


def evaluate_scorer(
    scorer: SupportScorer, labels: Sequence[Mapping[str, Any]], abstracts_by_title: Mapping[str, str]
) -> dict[str, Any]:
    """Metrics of a scorer at its own threshold over the labelled sentences (plus the scored rows)."""
    rows = score_rows(scorer, labels, abstracts_by_title)
    return metrics(rows, scorer.threshold) | {"rows": rows}


def best_threshold(rows: Sequence[Mapping[str, Any]]) -> float:
    """Midpoint of the grid thresholds with the highest F1: the choice least tied to one sentence."""
    f1 = {t: metrics(rows, t)["f1"] for t in GRID}
    top = max(f1.values())
    best = [t for t in GRID if f1[t] >= top - 1e-9]
    return round((best[0] + best[-1]) / 2, 3)


def _line(name: str, m: Mapping[str, Any]) -> str:
    return (
        f"{name:<22}{m['n']:>4}{m['threshold']:>7.3f}{m['precision']:>7.3f}{m['recall']:>7.3f}"
        f"{m['f1']:>7.3f}{m['accuracy']:>7.3f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.calibrate_support", description=__doc__)
    parser.add_argument(
        "--write", action="store_true", help="store the fitted threshold in rag/calibration.json"
    )
    parser.add_argument(
        "--scifact",
        type=Path,
        metavar="DIR",
        help="also report balanced accuracy on SciFact's training claims (an outside check, never fitted on)",
    )
    args = parser.parse_args(argv)
    current = SupportSettings().threshold
    labels, abstracts = load_labels(), load_abstracts()
    home = Path(tempfile.mkdtemp(prefix="askpapers-calibrate-"))
    embedder = make_embedder(Settings(home=home))
    # threshold 1.0: every sentence gets its full score (adjacent pairs included), so one pass of
    # scores answers "what would a scorer with threshold t say" exactly for every t on the grid
    started = time.perf_counter()
    rows = score_rows(SupportScorer(embedder, threshold=1.0), labels, abstracts)
    elapsed = time.perf_counter() - started
    calibration = [r for r in rows if is_calibration(r["id"])]
    held_out = [r for r in rows if not is_calibration(r["id"])]
    chosen = best_threshold(calibration)
    best = [t for t in GRID if metrics(calibration, t)["f1"] >= metrics(calibration, chosen)["f1"] - 1e-9]

    print(f"scored {len(rows)} labelled sentences in {elapsed:.1f}s; positive class = unsupported")
    print(f"threshold maximising F1 on the calibration half: {chosen} (best range {best[0]}..{best[-1]})")
    print(f"current threshold (rag/calibration.json): {current}\n")
    print(f"{'split':<22}{'n':>4}{'thr':>7}{'prec':>7}{'recall':>7}{'f1':>7}{'acc':>7}")
    for threshold in dict.fromkeys([chosen, current]):
        for name, subset in (("calibration", calibration), ("held-out", held_out), ("all", rows)):
            print(_line(name, metrics(subset, threshold)))

    print(f"\nper kind at threshold {current} (accuracy = share judged correctly)")
    print(f"{'kind':<16}{'label':<13}{'calib':>9}{'held-out':>10}{'all':>9}  errors")
    kinds = {r["kind"]: "unsupported" if r["unsupported"] else "supported" for r in rows}
    by_split = [metrics(s, current)["per_kind"] for s in (calibration, held_out, rows)]
    for kind, label in kinds.items():
        cells = [f"{k[kind]['correct']}/{k[kind]['n']}" if kind in k else "-" for k in by_split]
        print(
            f"{kind:<16}{label:<13}{cells[0]:>9}{cells[1]:>10}{cells[2]:>9}  {' '.join(by_split[2][kind]['errors'])}"
        )

    wrong = [r for r in rows if flagged(r, current) != r["unsupported"]]
    for r in wrong:
        print(f"  miss {r['id']} {r['kind']}: score {r['score']:.3f} {r['reason'] or '(judged supported)'}")
    unsupported_max = max((r["score"] for r in rows if r["unsupported"] and not r["hard"]), default=0.0)
    supported_min = min((r["score"] for r in rows if not r["unsupported"]), default=1.0)
    print(
        f"\nmargin: lowest supported score {supported_min:.3f}, highest unsupported without a hard-check "
        f"failure {unsupported_max:.3f}"
    )

    if args.scifact:
        pairs = load_scifact(args.scifact)
        started = time.perf_counter()
        scored = score_scifact(SupportScorer(embedder, threshold=1.0), pairs)
        n_pos = sum(label for *_, label in pairs)
        print(
            f"\nSciFact claims_train: {len(pairs)} claim-abstract pairs ({n_pos} supported), scored in "
            f"{time.perf_counter() - started:.1f}s"
        )
        for threshold in dict.fromkeys([chosen, current]):
            ba = balanced_accuracy(scored, threshold)
            print(
                f"  threshold {threshold:.3f}: balanced accuracy {ba['balanced_accuracy']:.3f} "
                f"(supported recall {ba['tpr']:.3f}, not-supported recall {ba['tnr']:.3f})"
            )

    if args.write:
        held = metrics(held_out, chosen)
        calibration_file.write(
            {"support.threshold": chosen},
            f"python -m evals.calibrate_support --write: midpoint of the thresholds maximising F1 at flagging "
            f"unsupported sentences on the calibration half of evals/sets/support_labels.jsonl ({len(calibration)} "
            f"of {len(rows)} sentences); held-out half: precision {held['precision']:.3f}, recall "
            f"{held['recall']:.3f} (n={held['n']})",
        )
        print(f"\nwrote support.threshold = {chosen} to {calibration_file.FILE}")


if __name__ == "__main__":
    main()
