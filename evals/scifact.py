"""SciFact's training claims as claim–abstract pairs with unit-level rationale labels.

SciFact (Wadden et al., EMNLP 2020; data licence CC BY-NC 2.0) is read from its directory
(``../shared/data/scifact``: ``claims_train.jsonl`` + ``corpus.jsonl``), never copied into the repo.
The BEIR copy of the corpus joins each abstract's sentences into one ``text``; the rationale indices of
``claims_train.jsonl`` refer to the original sentence list. We don't rebuild that list: the verifier
sees abstracts split as the product splits them (:func:`rag.verify.features.abstract_units`), so a
sentence of *our* split is a rationale sentence when it overlaps the character span of a rationale
text by more than half of either (every rationale text occurs verbatim in ``text``).

Claims are split into train / calibration / held-out by a stable hash, so every pair lands in the same
split on every machine. The hash is of a *group* of claims, not of one claim: claims that cite a common
abstract are one group (connected components over shared cited abstracts). SciFact writes negated
claims as siblings of others on the same abstract ("Ly49Q induces …" / "Ly49Q prevents …"), so a split
by claim id would put near-copies of training claims, on the same abstracts, into the held-out part.

Any claims file in SciFact's format can be read (:func:`load_claim_pairs`, for ``askpapers eval
--verify``): evidence as this copy writes it (``{doc_id: {"label", "sentences", "rationale"}}``) or as
the original release does (``{doc_id: [{"sentences": [...], "label"}]}``), against a corpus in BEIR's
layout (``_id``, ``title``, ``text``) or the original one (``doc_id``, ``title``, ``abstract``: sentences).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import InputError
from rag.support import prepare
from rag.verify import Source, Statement

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
    """Stable split by SHA-1 of a key (a claim group's, :func:`claim_groups`): bucket = first 4 bytes big-endian mod 100; the last
    ``held_out`` buckets are held out, the ``calibration`` before them calibrate, the rest train."""
    bucket = int.from_bytes(hashlib.sha1(claim_id.encode()).digest()[:4], "big") % 100
    if bucket >= 100 - held_out:
        return "held_out"
    if bucket >= 100 - held_out - calibration:
        return "calibration"
    return "train"


def claim_groups(cited: dict[str, Sequence[str]]) -> dict[str, str]:
    """Each claim id's group key: claims citing a common abstract share a group (union-find over
    abstracts); the key is the smallest abstract id of the group ('claim:<id>' when it cites none)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for claim_id, docs in cited.items():
        nodes = [f"doc:{d}" for d in docs] or [f"claim:{claim_id}"]
        for node in nodes[1:]:
            a, b = find(nodes[0]), find(node)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {
        claim_id: find(f"doc:{docs[0]}" if docs else f"claim:{claim_id}") for claim_id, docs in cited.items()
    }


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


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; an InputError for anything else."""
    number = 0
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON ({exc.msg})", path=str(path), line=number) from None
                if not isinstance(record, dict):
                    raise InputError("expected a JSON object", path=str(path), line=number)
                yield number, record
    except UnicodeDecodeError as exc:
        raise InputError(f"file is not valid UTF-8 ({exc.reason})", path=str(path), line=number + 1) from None
    except OSError as exc:
        raise InputError(f"can't read file ({exc.strerror})", path=str(path)) from None


@dataclass(frozen=True)
class _Doc:
    title: str
    text: str
    sentences: tuple[str, ...] = ()  # the original release's sentence list, when the corpus has one


def read_corpus(path: Path, wanted: set[str]) -> dict[str, _Doc]:
    """The abstracts of ``wanted`` ids from a BEIR-layout or original SciFact corpus."""
    docs: dict[str, _Doc] = {}
    for number, record in _jsonl(path):
        doc_id = str(record.get("_id", record.get("doc_id", ""))).strip()
        if not doc_id:
            raise InputError("corpus record has no '_id' (or 'doc_id')", path=str(path), line=number)
        if doc_id not in wanted:
            continue
        body = record.get("text", record.get("abstract", ""))
        sentences = tuple(str(x) for x in body) if isinstance(body, list) else ()
        text = " ".join(sentences) if sentences else str(body)
        docs[doc_id] = _Doc(str(record.get("title", "")), text, sentences)
    return docs


def _label_and_rationale(found: Any, doc: _Doc) -> tuple[str, list[str]]:
    """The gold label and rationale texts of one cited abstract's evidence (either format)."""
    if not found:
        return "NEI", []
    sets = found if isinstance(found, list) else [found]
    label = str(sets[0].get("label", "NEI")) if isinstance(sets[0], dict) else "NEI"
    texts: list[str] = []
    for entry in sets:
        if not isinstance(entry, dict):
            continue
        if entry.get("rationale"):
            texts += [str(r) for r in entry["rationale"]]
        elif doc.sentences:
            texts += [
                doc.sentences[i] for i in entry.get("sentences", []) if 0 <= int(i) < len(doc.sentences)
            ]
    return (label if label in CLASSES else "NEI"), texts


def load_claim_pairs(claims: Path, corpus: Path) -> list[Pair]:
    """Every (claim, cited abstract) pair of a claims file in SciFact's format, labelled and split
    (by claim group, as for the training claims)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, claim in _jsonl(claims):
        missing = [k for k in ("id", "claim", "cited_doc_ids") if k not in claim]
        if missing or not isinstance(claim["cited_doc_ids"], list):
            why = f"no {', '.join(repr(k) for k in missing)}" if missing else "'cited_doc_ids' is not a list"
            raise InputError(f"not a SciFact claim ({why})", path=str(claims), line=number)
        rows.append((number, claim))
    docs = read_corpus(corpus, {str(d) for _, claim in rows for d in claim["cited_doc_ids"]})
    groups = claim_groups({str(c["id"]): [str(d) for d in c["cited_doc_ids"]] for _, c in rows})
    pairs: list[Pair] = []
    for number, claim in rows:
        evidence = claim.get("evidence") or {}
        claim_id = str(claim["id"])
        for doc_id in map(str, claim["cited_doc_ids"]):
            doc = docs.get(doc_id)
            if doc is None:
                raise InputError(
                    f"claim {claim_id} cites {doc_id}, which {corpus} does not hold (give --corpus)",
                    path=str(claims),
                    line=number,
                )
            label, rationale_texts = _label_and_rationale(evidence.get(doc_id), doc)
            prepared = prepare(doc.text)
            spans = sentence_spans(prepared.text, prepared.sentences)
            pairs.append(
                Pair(
                    claim_id=claim_id,
                    claim=str(claim["claim"]),
                    doc_id=doc_id,
                    title=doc.title,
                    abstract=doc.text,
                    label=label,
                    rationale=frozenset(rationale_indices(prepared.text, spans, rationale_texts)),
                    split=split_of(groups[claim_id]),
                )
            )
    return pairs


def load_pairs(root: Path) -> list[Pair]:
    """Every (claim, cited abstract) pair of ``claims_train.jsonl``, labelled and split."""
    if not (root / "claims_train.jsonl").is_file() or not (root / "corpus.jsonl").is_file():
        raise SystemExit(f"{root} has no claims_train.jsonl and corpus.jsonl (SciFact's training split)")
    return load_claim_pairs(root / "claims_train.jsonl", root / "corpus.jsonl")


def statements(pairs: Sequence[Pair]) -> list[Statement]:
    """Each pair as what a verifier checks: the claim, citing its one abstract."""
    return [Statement(p.claim, (Source(p.doc_id, p.title, p.abstract),)) for p in pairs]
