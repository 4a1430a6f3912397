"""SciFact's training claims as claim–abstract pairs with unit-level rationale labels.

SciFact (Wadden et al., EMNLP 2020; data licence CC BY-NC 2.0) is read from its directory
(``../shared/data/scifact``: ``claims_train.jsonl`` + ``corpus.jsonl``), never copied into the repo.
The BEIR copy of the corpus joins each abstract's sentences into one ``text``; the rationale indices of
``claims_train.jsonl`` refer to the original sentence list. We don't rebuild that list: the verifier
sees abstracts split as the product splits them (:func:`rag.verify.features.abstract_units`), so a
sentence of *our* split is a rationale sentence when it overlaps the character span of a rationale
text by more than half of either (every rationale text occurs verbatim in ``text``).

Claims are split by a stable hash of their id into train / calibration / held-out, so every pair of a
claim lands in the same split on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rag.support import prepare

CLASSES = ("SUPPORT", "CONTRADICT", "NEI")  # the model's class order (rag.verify.LABELS, in words)


@dataclass(frozen=True)
class Pair:
    """One claim against one abstract it cites, labelled."""

    claim_id: str  # pairs of one claim share it: splits and CV folds keep them together
    claim: str
    doc_id: str
    title: str
    abstract: str
    label: str  # SUPPORT | CONTRADICT | NEI
    rationale: frozenset[int] = field(default_factory=frozenset)  # indices into prepare(abstract).sentences
    split: str = "train"  # train | calibration | held_out
    source: str = "scifact"  # scifact | edit | sample


def split_of(claim_id: str, calibration: int = 20, held_out: int = 20) -> str:
    """Stable split by SHA-1 of the claim id: bucket = first 4 bytes big-endian mod 100; the last
    ``held_out`` buckets are held out, the ``calibration`` before them calibrate, the rest train."""
    bucket = int.from_bytes(hashlib.sha1(claim_id.encode()).digest()[:4], "big") % 100
    if bucket >= 100 - held_out:
        return "held_out"
    if bucket >= 100 - held_out - calibration:
        return "calibration"
    return "train"


def sentence_spans(text: str, sentences: Sequence[str]) -> list[tuple[int, int]]:
    """(start, end) of each sentence in ``text``, searched in order."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for sentence in sentences:
        start = text.find(sentence, cursor)
        start = cursor if start < 0 else start
        spans.append((start, start + len(sentence)))
        cursor = start + len(sentence)
    return spans


def rationale_indices(text: str, spans: Sequence[tuple[int, int]], rationale: Sequence[str]) -> set[int]:
    """Indices of the sentences that overlap a rationale text by more than half of either."""
    out: set[int] = set()
    for piece in rationale:
        piece = " ".join(piece.split())
        start = text.find(piece)
        if start < 0:
            continue
        end = start + len(piece)
        for i, (s, e) in enumerate(spans):
            overlap = min(e, end) - max(s, start)
            if overlap > 0 and (overlap * 2 > e - s or overlap * 2 > end - start):
                out.add(i)
    return out


def _jsonl(path: Path) -> Iterator[dict[str, object]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_pairs(root: Path) -> list[Pair]:
    """Every (claim, cited abstract) pair of ``claims_train.jsonl``, labelled and split."""
    if not (root / "claims_train.jsonl").is_file() or not (root / "corpus.jsonl").is_file():
        raise SystemExit(f"{root} has no claims_train.jsonl and corpus.jsonl (SciFact's training split)")
    corpus = {str(d["_id"]): d for d in _jsonl(root / "corpus.jsonl")}
    pairs: list[Pair] = []
    for claim in _jsonl(root / "claims_train.jsonl"):
        evidence: dict[str, dict[str, object]] = claim.get("evidence", {})  # type: ignore[assignment]
        claim_id = str(claim["id"])
        for doc_id in claim["cited_doc_ids"]:  # type: ignore[attr-defined]
            doc = corpus[str(doc_id)]
            text = str(doc["text"])
            prepared = prepare(text)
            found = evidence.get(str(doc_id))
            label = str(found["label"]) if found else "NEI"
            spans = sentence_spans(prepared.text, prepared.sentences)
            rationale = (
                rationale_indices(prepared.text, spans, [str(r) for r in found["rationale"]])  # type: ignore[attr-defined]
                if found
                else set()
            )
            pairs.append(
                Pair(
                    claim_id=claim_id,
                    claim=str(claim["claim"]),
                    doc_id=str(doc_id),
                    title=str(doc.get("title", "")),
                    abstract=text,
                    label=label if label in CLASSES else "NEI",
                    rationale=frozenset(rationale),
                    split=split_of(claim_id),
                )
            )
    return pairs
