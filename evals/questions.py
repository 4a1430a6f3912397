"""Load a question set and resolve its gold papers (ids or exact titles) to paper ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import InputError
from rag.index.manifest import Manifest
from rag.records import normalise_title

if TYPE_CHECKING:
    from rag.index.store import IndexStore
    from rag.settings import Settings

REPO = Path(__file__).resolve().parent.parent
#: The corpus the question sets are written on, and where the sets are.
SAMPLE = REPO / "data" / "sample"
SETS = REPO / "evals" / "sets"
TYPES = ("fact", "concept", "multi", "unanswerable")
#: Finer kinds a set may give a question (optional): which probe it is, for per-kind figures.
KINDS = (
    "fact",  # a figure or fact one paper states
    "paraphrase",  # a concept question in everyday words, not the paper's own terms (answerable)
    "about",  # "what is X about?"
    "which_papers",  # "which papers do X?" (multi-paper)
    "compare",  # how papers compare on something (multi-paper)
    "near_miss",  # about a real paper, asking for something it doesn't give (unanswerable)
    "off_topic",  # about nothing the corpus holds (unanswerable)
)


@dataclass
class Question:
    id: str
    question: str
    type: str
    gold: list[str]
    answer_facts: list[str] = field(default_factory=list)
    gold_ids: list[str] = field(default_factory=list)
    kind: str = ""  # one of KINDS, when the set says
    about: list[str] = field(default_factory=list)  # near misses: the paper(s) the question is about

    @property
    def answerable(self) -> bool:
        return self.type != "unanswerable"


def load_questions(path: Path) -> list[Question]:
    out: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            question = Question(
                id=str(data["id"]),
                question=data["question"],
                type=data.get("type", "fact"),
                gold=list(data.get("gold", [])),
                answer_facts=list(data.get("answer_facts", [])),
                kind=str(data.get("kind", "")),
                about=list(data.get("about", [])),
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"not a question record ({exc})", path=str(path), line=number) from None
        if question.type not in TYPES:
            raise InputError(
                f"type {question.type!r} is not one of {', '.join(TYPES)}", path=str(path), line=number
            )
        if question.kind and question.kind not in KINDS:
            raise InputError(
                f"kind {question.kind!r} is not one of {', '.join(KINDS)}", path=str(path), line=number
            )
        out.append(question)
    return out


def resolve_gold(questions: list[Question], manifest: Manifest) -> list[str]:
    """Fill ``gold_ids``; returns the gold entries that match no indexed paper (by id or title)."""
    known = manifest.hashes()
    missing: list[str] = []
    for q in questions:
        q.gold_ids = []
        for gold in q.gold:
            pid = gold if gold in known else manifest.id_for_title(normalise_title(gold))
            if pid is None:
                missing.append(f"{q.id}: {gold}")
            else:
                q.gold_ids.append(pid)
    return missing


# --- halves: calibrate on one, report the other --------------------------------------------------
def stratum(question: Question) -> str:
    return question.kind or question.type


def calibration_ids(questions: Sequence[Question]) -> set[str]:
    """The calibration half: within each stratum, questions ordered by the SHA-1 of their id, every
    other one. The same set splits the same way on every machine and run."""
    chosen: set[str] = set()
    for group in sorted({stratum(q) for q in questions}):
        ids = sorted((q.id for q in questions if stratum(q) == group), key=sha1_hex)
        chosen.update(ids[::2])
    return chosen


def sha1_hex(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def index_sample(settings: Settings, store: IndexStore) -> None:
    """Ingest data/sample (what the question sets are written on) into an empty ``store``."""
    if store.manifest.counts()[0] == 0:
        from ingest.pipeline import ingest

        ingest(settings, [str(SAMPLE)], store=store, progress=False)


def halved_sets(names: Sequence[str], manifest: Manifest) -> Iterator[tuple[str, Question, bool]]:
    """Each question of evals/sets/<name>.jsonl with its gold papers resolved against ``manifest``: the
    set's name, the question, and whether it is in the calibration half (:func:`calibration_ids`)."""
    for name in names:
        questions = load_questions(SETS / f"{name}.jsonl")
        resolve_gold(questions, manifest)
        halves = calibration_ids(questions)
        for q in questions:
            yield name, q, q.id in halves
