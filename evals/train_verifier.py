"""Train, calibrate and evaluate the learned verifier; write its weights (rag/verify/verifier.npz, a few kB).

Data (nothing is copied into the repo):
- SciFact's training claims (``claims_train.jsonl`` + ``corpus.jsonl`` in ``--scifact``, licence
  CC BY-NC 2.0), split by a stable hash of the claim id into train 60 % / calibration 20 % /
  held-out 20 % (evals/scifact.py);
- CONTRADICT copies of SUPPORT training claims (negated or direction-flipped), and labelled edits of
  sample-corpus sentences (data/sample) from abstracts that evals/sets/support_labels.jsonl does not
  cite (evals/verifier_data.py).
The two stages train on train (+ edits), the decision (temperature, thresholds) is fitted on
calibration, and the figures printed are held-out SciFact and support_labels.jsonl, which neither saw,
for the learned verifier (hard veto on and off) and the rules baseline. With ``--write`` the decision
and the model's id go to rag/calibration.json, with the held-out figures as provenance.

Usage: python -m evals.train_verifier --scifact ../shared/data/scifact [--write] [--out FILE]
       [--limit N]  (a quick run on the first N claims, for smoke tests; never --write with it)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from evals.scifact import CLASSES, Pair, load_pairs, statements
from evals.verifier_data import LabelledSentence, contradict_edits, load_support_labels, synthetic_pairs
from evals.verifier_fit import Example, FitConfig, fit_decision, fit_two_stage, unit_labels
from evals.verifier_metrics import format_report, report
from rag import calibration
from rag.embedders import Embedder, make_embedder
from rag.records import normalise_title
from rag.settings import Settings
from rag.support import SupportScorer
from rag.verify import LABELS, Source, Statement, Verifier
from rag.verify.features import abstract_units, make_block
from rag.verify.learned import LearnedVerifier
from rag.verify.model import SHIPPED, save
from rag.verify.rules import RulesVerifier

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "data" / "sample"
LABELS_FILE = REPO / "evals" / "sets" / "support_labels.jsonl"
CONFIG = FitConfig()


class StoredEmbedder:
    """The bundled embedder behind a dict of the vectors already computed (each text embedded once)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.max_tokens = inner.name, inner.max_tokens
        self.vectors: dict[str, np.ndarray] = {}

    def ensure(self, texts: Sequence[str]) -> None:
        fresh = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if fresh:
            self.vectors.update(
                zip(fresh, np.asarray(self.inner.embed_batch(fresh), np.float32), strict=True)
            )

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        self.ensure(texts)
        return [self.vectors[t].tolist() for t in texts]

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)


def examples(pairs: Sequence[Pair], store: StoredEmbedder, config: FitConfig) -> list[Example]:
    out = []
    for p in pairs:
        units = abstract_units(p.title, p.abstract)
        block = make_block(
            p.claim,
            store.vectors[p.claim],
            units,
            np.stack([store.vectors[t] for t in units.texts]),
            embedding=config.embedding,
        )
        labels = unit_labels(len(units.texts), units.has_title, p.rationale, p.label)
        out.append(Example(block, labels, p.label, p.claim_id, config.source_weights[p.source]))
    return out


def labelled_statements(rows: Sequence[LabelledSentence]) -> list[Statement]:
    return [Statement(r.sentence, tuple(Source(normalise_title(t), t, a) for t, a in r.cited)) for r in rows]


def evaluate(
    verifier: Verifier, held: Sequence[Pair], labelled: Sequence[LabelledSentence]
) -> dict[str, Any]:
    """Held-out SciFact and support_labels.jsonl figures of one verifier, and its pairs per second."""
    started = time.perf_counter()
    said = [CLASSES[LABELS.index(v.label)] for v in verifier.verify(statements(held))]
    seconds = time.perf_counter() - started
    scifact = report([p.label for p in held], said, [p.claim_id for p in held])
    said = [CLASSES[LABELS.index(v.label)] for v in verifier.verify(labelled_statements(labelled))]
    gold = ["SUPPORT" if r.supported else "NEI" for r in labelled]
    labels = report(gold, said, [r.id for r in labelled])
    return {"scifact": scifact, "support_labels": labels, "pairs_per_s": len(held) / seconds}


def summary(figures: dict[str, Any]) -> str:
    """One line for provenance: the held-out figures the decision was chosen with."""
    s = figures["scifact"]
    lo, hi = s["balanced_accuracy_ci"]
    return (
        f"SciFact held-out (n={s['n']}): balanced accuracy {s['balanced_accuracy']:.3f} [{lo:.2f},{hi:.2f}], "
        f"CONTRADICT flagged {s['contradict_flagged'].value:.2f}, labelled contradicted "
        f"{s['contradict_recall'].value:.2f}; support_labels.jsonl flag precision "
        f"{figures['support_labels']['flag_precision'].value:.2f} recall "
        f"{figures['support_labels']['flag_recall'].value:.2f}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m evals.train_verifier",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--scifact", type=Path, required=True, help="directory with claims_train.jsonl and corpus.jsonl"
    )
    ap.add_argument("--out", type=Path, default=SHIPPED, help=f"where to write the model (default {SHIPPED})")
    ap.add_argument(
        "--write", action="store_true", help="record the decision and model id in rag/calibration.json"
    )
    ap.add_argument("--limit", type=int, help="only the first N claims (a quick smoke run)")
    args = ap.parse_args(argv)
    if args.write and args.limit:
        raise SystemExit("--write records the shipped model's calibration: not with --limit")

    started = time.perf_counter()
    pairs = load_pairs(args.scifact)
    if args.limit:
        keep = list(dict.fromkeys(p.claim_id for p in pairs))[: args.limit]
        pairs = [p for p in pairs if p.claim_id in set(keep)]
    labelled = load_support_labels(LABELS_FILE, SAMPLE)
    cited = {normalise_title(t) for r in labelled for t, _ in r.cited}
    extra = contradict_edits(pairs) + (synthetic_pairs(SAMPLE, cited) if not args.limit else [])
    home = Path(tempfile.mkdtemp(prefix="askpapers-train-verifier-"))
    store = StoredEmbedder(make_embedder(Settings(home=home)))
    store.ensure([p.claim for p in pairs + extra])
    store.ensure([t for p in pairs + extra for t in abstract_units(p.title, p.abstract).texts])
    embedded = time.perf_counter()

    training = [p for p in pairs if p.split == "train"] + extra
    model = fit_two_stage(examples(training, store, CONFIG), CONFIG)
    calibration_pairs = [p for p in pairs if p.split == "calibration"]
    logits = np.stack([model.score(ex.block)[0] for ex in examples(calibration_pairs, store, CONFIG)])
    decision = fit_decision(logits, [p.label for p in calibration_pairs])
    fitted = time.perf_counter()
    print(f"embedding {embedded - started:.0f}s, fitting {fitted - embedded:.0f}s; {decision}")

    held = [p for p in pairs if p.split == "held_out"]
    figures: dict[str, dict[str, Any]] = {}
    verifiers: dict[str, Verifier] = {
        "learned": LearnedVerifier(model, store, decision),
        "learned, no veto": LearnedVerifier(model, store, decision, hard_veto=False),
        "rules": RulesVerifier(SupportScorer(store)),
    }
    for name, verifier in verifiers.items():
        figures[name] = evaluate(verifier, held, labelled)
        print(f"--- {name}")
        print(format_report("SciFact held-out", figures[name]["scifact"]))
        print(format_report("support_labels.jsonl", figures[name]["support_labels"]))

    counts = {s: sum(p.split == s for p in pairs) for s in ("train", "calibration", "held_out")}
    provenance = {
        "command": "python -m evals.train_verifier" + (f" --limit {args.limit}" if args.limit else ""),
        "data": f"SciFact claims_train (CC BY-NC 2.0) pairs {counts} by SHA-1 of claim id; {len(extra)} "
        "edited SciFact/sample-corpus pairs (train only)",
        "fit": {k: v for k, v in CONFIG.__dict__.items()},
        "decision": decision.__dict__,
        "held_out": summary(figures["learned"]),
    }
    model_id = save(model, args.out, provenance)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.1f} kB), id {model_id[:16]}")
    if args.write:
        how = (
            f"python -m evals.train_verifier --write: decision fitted on SciFact's calibration split "
            f"({counts['calibration']} pairs; temperature by NLL, thresholds as midpoints of the best grid "
            f"values) for model {model_id[:16]}; {summary(figures['learned'])}"
        )
        calibration.write(
            {
                "verify.temperature": decision.temperature,
                "verify.support_threshold": decision.support_threshold,
                "verify.contradict_share": decision.contradict_share,
                "verify.model_id": model_id,
            },
            how,
        )
        print(f"wrote the decision to {calibration.FILE}")
    print(json.dumps({"model_id": model_id, "decision": decision.__dict__}))


if __name__ == "__main__":
    main()
