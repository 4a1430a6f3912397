"""Labelled claim–abstract pairs built from the sample corpus, and the support_labels.jsonl check set.

SciFact is biomedical; askpapers' sample corpus is machine learning. Edits of real abstract
sentences give labelled pairs in the product's own domain without any annotation:
- the sentence itself, or with its discourse opener dropped and "we" made "the authors": SUPPORT;
- one number changed, "not" inserted, or a direction word turned round: CONTRADICT;
- one named thing swapped for a name from another abstract, or a sentence of another paper: NEI.

Abstracts cited by ``evals/sets/support_labels.jsonl`` are left out, so that set stays a check the
verifier never trained on (its unsupported kinds are made the same way).
The same claim edits also turn SciFact SUPPORT training claims into CONTRADICT ones
(``contradict_edits``): SciFact has half as many CONTRADICT pairs as SUPPORT pairs.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.scifact import Pair
from ingest.sources import read_inputs
from rag.records import Paper, normalise_title
from rag.support import prepare
from rag.text import names_in, numbers_in

_OPENER = re.compile(
    r"^(?:(?:in this (?:paper|work|study)|here|specifically|furthermore|moreover|additionally|"
    r"in addition|finally|overall|notably|importantly|however|to this end|as a result),?\s+)",
    re.IGNORECASE,
)
_AUX = re.compile(r"\b(is|are|was|were|can|could|will|would|should|may|might|has|have|does|do|did)\b")
_FLIPS = {
    "increases": "decreases",
    "increase": "decrease",
    "increased": "decreased",
    "increasing": "decreasing",
    "decreases": "increases",
    "decrease": "increase",
    "decreased": "increased",
    "decreasing": "increasing",
    "higher": "lower",
    "lower": "higher",
    "more": "less",
    "less": "more",
    "better": "worse",
    "worse": "better",
    "improves": "worsens",
    "improve": "worsen",
    "improved": "worsened",
    "improving": "worsening",
    "outperforms": "underperforms",
    "outperform": "underperform",
    "outperformed": "underperformed",
    "reduces": "increases",
    "reduce": "increase",
    "reduced": "increased",
    "reduction": "increase",
    "enhances": "impairs",
    "enhance": "impair",
    "enhanced": "impaired",
    "promotes": "inhibits",
    "promote": "inhibit",
    "inhibits": "promotes",
    "inhibit": "promote",
    "larger": "smaller",
    "smaller": "larger",
    "faster": "slower",
    "slower": "faster",
    "greater": "smaller",
    "fewer": "more",
    "superior": "inferior",
    "inferior": "superior",
    "positively": "negatively",
    "negatively": "positively",
    "activates": "inhibits",
    "suppresses": "promotes",
    "induces": "prevents",
    "prevents": "induces",
    "associated with increased": "associated with decreased",
}
_FLIP = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _FLIPS), key=len, reverse=True)) + r")\b", re.IGNORECASE
)


@dataclass(frozen=True)
class LabelledSentence:
    """One row of support_labels.jsonl with the (title, abstract) of each paper it cites."""

    id: str
    sentence: str
    cited: tuple[tuple[str, str], ...]
    supported: bool
    kind: str


def load_papers(sample_root: Path) -> dict[str, Paper]:
    """Sample-corpus papers by normalised title (first copy wins)."""
    out: dict[str, Paper] = {}
    for item in read_inputs([sample_root]):
        if isinstance(item, Paper):
            out.setdefault(normalise_title(item.title), item)
    return out


def load_support_labels(path: Path, sample_root: Path) -> list[LabelledSentence]:
    papers = load_papers(sample_root)
    rows: list[LabelledSentence] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            cited = tuple(
                (papers[normalise_title(t)].title, papers[normalise_title(t)].abstract) for t in row["cites"]
            )
            rows.append(
                LabelledSentence(row["id"], row["sentence"], cited, row["label"] == "supported", row["kind"])
            )
    return rows


def change_number(sentence: str, rng: random.Random) -> str | None:
    """The sentence with one of its numbers replaced by a plausible other value."""
    found = [m for m in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.]\d)", sentence)]
    found = [m for m in found if any(m.group(0) in text for text, _ in numbers_in(sentence))]
    if not found:
        return None
    m = rng.choice(found)
    text = m.group(0)
    value = float(text)
    new = value * rng.choice([0.5, 0.7, 1.3, 1.6, 2.0]) + rng.choice([1, 2, 3])
    new_text = f"{new:.{len(text.split('.')[1])}f}" if "." in text else str(int(round(new)))
    return None if new_text == text else sentence[: m.start()] + new_text + sentence[m.end() :]


def negate(sentence: str) -> str | None:
    """Insert "not" after the first auxiliary verb ("is" -> "is not"); None when there is none."""
    m = _AUX.search(sentence)
    if not m or sentence[m.end() :].lstrip().lower().startswith(("not", "no ")):
        return None
    return sentence[: m.end()] + " not" + sentence[m.end() :]


def flip_direction(sentence: str) -> str | None:
    """Turn the first direction word round (increases -> decreases, outperforms -> underperforms)."""
    m = _FLIP.search(sentence)
    if not m:
        return None
    word = m.group(0)
    new = _FLIPS[word.lower()]
    new = new.capitalize() if word[0].isupper() else new
    return sentence[: m.start()] + new + sentence[m.end() :]


def light_paraphrase(sentence: str) -> str:
    """Drop a discourse opener and say "the authors" for "we": how answers restate abstracts."""
    text = _OPENER.sub("", sentence)
    text = re.sub(r"\bWe\b", "The authors", text)
    text = re.sub(r"\bwe\b", "the authors", text)
    text = re.sub(r"\bour\b", "their", text, flags=re.IGNORECASE)
    return text[:1].upper() + text[1:]


def swap_entity(sentence: str, others: Sequence[str], rng: random.Random) -> str | None:
    names = [e for e in names_in(sentence) if len(e) >= 3]
    if not names or not others:
        return None
    name = rng.choice(names)
    return sentence.replace(name, rng.choice([o for o in others if o != name] or [name]), 1)


def _pair(group: str, claim: str, paper: Paper, label: str, rationale: set[int]) -> Pair:
    return Pair(
        group, claim, paper.id, paper.title, paper.abstract, label, frozenset(rationale), "train", "sample"
    )


def synthetic_pairs(
    sample_root: Path, exclude_titles: set[str], per_abstract: int = 1, seed: int = 0
) -> list[Pair]:
    """Labelled pairs from every sample abstract not in ``exclude_titles`` (normalised titles)."""
    rng = random.Random(seed)
    papers = [p for t, p in sorted(load_papers(sample_root).items()) if t not in exclude_titles]
    all_entities = sorted({e for p in papers for e in names_in(p.abstract) if len(e) >= 3})
    out: list[Pair] = []
    for n, paper in enumerate(papers):
        sentences = prepare(paper.abstract).sentences
        usable = [i for i, s in enumerate(sentences) if len(s.split()) >= 8]
        if not usable:
            continue
        other = papers[(n + 1 + rng.randrange(len(papers) - 1)) % len(papers)]
        other_sentences = [s for s in prepare(other.abstract).sentences if len(s.split()) >= 8]
        edits: list[tuple[str, Callable[[str], str | None]]] = [
            ("SUPPORT", lambda s: s),  # verbatim: the only edit allowed to leave the sentence as it is
            ("SUPPORT", light_paraphrase),
            ("CONTRADICT", lambda s: change_number(s, rng)),
            ("CONTRADICT", negate),
            ("CONTRADICT", flip_direction),
            ("NEI", lambda s: swap_entity(s, all_entities, rng)),
        ]
        group = f"sample:{paper.id}"
        for k, (label, edit) in enumerate(edits):
            for i in rng.sample(usable, min(per_abstract, len(usable))):
                claim = edit(sentences[i])
                if claim and (k == 0 or claim != sentences[i]):
                    out.append(_pair(group, claim, paper, label, {i} if label != "NEI" else set()))
        if other_sentences:
            out.append(_pair(group, rng.choice(other_sentences), paper, "NEI", set()))
    return out


def contradict_edits(pairs: Sequence[Pair], seed: int = 0) -> list[Pair]:
    """A CONTRADICT copy of each SciFact SUPPORT training pair whose claim can be negated or turned round."""
    rng = random.Random(seed)
    out: list[Pair] = []
    for pair in pairs:
        if pair.label != "SUPPORT" or pair.split != "train":
            continue
        edit = flip_direction(pair.claim) if rng.random() < 0.5 else negate(pair.claim)
        edit = edit or negate(pair.claim) or flip_direction(pair.claim)
        if edit:
            out.append(
                Pair(
                    pair.claim_id,
                    edit,
                    pair.doc_id,
                    pair.title,
                    pair.abstract,
                    "CONTRADICT",
                    pair.rationale,
                    "train",
                    "edit",
                )
            )
    return out
