"""Feature rows for the learned verifier: one per (claim, abstract unit), then one per (claim, abstract).

A cited abstract's units are its title and its sentences (split as rag/support.py's ``prepare``
splits them, so training and answering see the same sentences). Unit level: the MiniLM cosine and
where it ranks within the abstract, the unit's position, and the explicit signals of
:mod:`rag.verify.signals` (optionally the vectors' [u⊙v, |u−v|] too; the shipped model doesn't use
them: they added nothing measurable on ~560 training pairs). Abstract level: how the sentence
model's probabilities spread over the abstract, abstract-wide signals, and rag/support.py's hard
checks as numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.support import HardCheck, hard_check, prepare
from rag.verify.signals import SIGNAL_NAMES, abstract_context, coverage, signals

if TYPE_CHECKING:
    import numpy as np

UNIT_EXTRA = ("cos", "cos_gap", "cos_rank0", "cos_rank1", "position", "is_title")
ABSTRACT_FEATURES = (
    "max_p_support",
    "max_p_contradict",
    "max_p_evidence",
    "best_p_support",  # at the unit most likely to be evidence
    "best_p_contradict",
    "top_cos_p_support",  # at the unit most similar to the claim
    "top_cos_p_contradict",
    "sum_p_evidence",
    "top_cos",
    "second_cos",
    "num_claim",
    "num_found_abstract",
    "ent_claim",
    "ent_found_abstract",
    "best_null_mismatch",
    "best_neg_parity",
    "best_dir_conflict",
    "max_overlap",  # the largest share of the claim's content words found in one unit
    "coverage",  # share of the claim's content words found anywhere in the abstract
)
HARD_CHECK_NAMES = (
    "missing_numbers",
    "missing_entities",
    "missing_entity_share",
    "reversed_comparison",
    "any_veto",
)
_SIG = {name: i for i, name in enumerate(SIGNAL_NAMES)}


@dataclass(frozen=True)
class Units:
    """The texts of one cited abstract the verifier compares a claim with (title first, if any)."""

    texts: tuple[str, ...]
    has_title: bool
    hard_text: str  # title and abstract as the hard checks read them


def abstract_units(title: str, abstract: str) -> Units:
    """The title (without its final full stop) and the abstract's sentences."""
    title = title.strip().rstrip(".")
    sentences = prepare(abstract).sentences if abstract.strip() else ()
    return Units(((title,) if title else ()) + sentences, bool(title), f"{title}.\n{abstract}")


def hard_features(check: HardCheck) -> list[float]:
    """rag/support.py's hard checks as the numbers of ``HARD_CHECK_NAMES``."""
    missing = len(check.missing_names)
    return [
        float(min(len(check.missing_numbers), 3)),
        float(min(missing, 3)),
        missing / len(check.names) if check.names else 0.0,
        float(check.reversed is not None),
        float(check.failed),
    ]


@dataclass
class Block:
    """Everything the model reads about one claim–abstract pair."""

    claim: str
    texts: tuple[str, ...]
    emb: np.ndarray  # [n, 768] or [n, 0]
    extra: np.ndarray  # [n, len(UNIT_EXTRA)]
    sig: np.ndarray  # [n, len(SIGNAL_NAMES)]
    coverage: float
    hard: HardCheck


def make_block(
    claim: str, claim_vec: np.ndarray, units: Units, unit_vecs: np.ndarray, *, embedding: bool
) -> Block:
    """The unit rows of one pair (``units`` must not be empty)."""
    import numpy as np

    cos = unit_vecs @ claim_vec
    order = np.argsort(-cos, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    n = len(units.texts)
    context = abstract_context(units.texts[1:] if units.has_title else units.texts)
    sig = np.array([signals(claim, text, context) for text in units.texts], dtype=np.float32)
    extra = np.stack(
        [
            cos,
            cos - cos.max(),
            (rank == 0).astype(np.float32),
            (rank <= 1).astype(np.float32),
            np.arange(n) / max(n - 1, 1),
            np.array([units.has_title and i == 0 for i in range(n)], dtype=np.float32),
        ],
        axis=1,
    ).astype(np.float32)
    emb = (
        np.concatenate([unit_vecs * claim_vec, np.abs(unit_vecs - claim_vec)], axis=1)
        if embedding
        else np.zeros((n, 0), np.float32)
    )
    hard = hard_check(claim, [prepare(units.hard_text)])
    return Block(claim, units.texts, emb.astype(np.float32), extra, sig, coverage(claim, units.texts), hard)


def unit_rows(block: Block, *, embedding: bool, use_signals: bool) -> np.ndarray:
    """Stage-1 inputs: one row per unit."""
    import numpy as np

    parts = [block.extra] + ([block.emb] if embedding else []) + ([block.sig] if use_signals else [])
    return np.concatenate(parts, axis=1)


def abstract_row(probs: np.ndarray, block: Block, *, hard_checks: bool) -> np.ndarray:
    """Stage-2 inputs from the sentence model's probabilities [n, 3] (SUPPORT, CONTRADICT, NEI)."""
    import numpy as np

    evidence = 1.0 - probs[:, 2]
    best = int(np.argmax(evidence))
    cos, sig = block.extra[:, 0], block.sig
    top = int(np.argmax(cos))
    second = float(np.sort(cos)[-2]) if len(cos) > 1 else float(cos[0])
    row = [
        probs[:, 0].max(),
        probs[:, 1].max(),
        evidence.max(),
        probs[best, 0],
        probs[best, 1],
        probs[top, 0],
        probs[top, 1],
        min(evidence.sum(), 3.0),
        cos[top],
        second,
        sig[0, _SIG["num_claim"]],
        sig[0, _SIG["num_found_abstract"]],
        sig[0, _SIG["ent_claim"]],
        sig[0, _SIG["ent_found_abstract"]],
        sig[best, _SIG["null_mismatch"]],
        sig[best, _SIG["neg_parity_mismatch"]],
        sig[best, _SIG["dir_conflict"]],
        sig[:, _SIG["overlap_claim"]].max(),
        block.coverage,
    ]
    return np.array(row + (hard_features(block.hard) if hard_checks else []), dtype=np.float32)


def evidence_order(unit_probs: np.ndarray, units: Units, count: int) -> Sequence[int]:
    """The ``count`` units most likely to be evidence (lowest P(NEI)), best first. The title only when
    the abstract has no sentence: stage 1 never trained on titles, and a reason should quote a finding."""
    import numpy as np

    order = [int(i) for i in np.argsort(unit_probs[:, 2], kind="stable")]
    if units.has_title and len(units.texts) > 1:
        order.remove(0)
    return order[:count]
