"""Every serialisation of a checked claim (:class:`~rag.checker.CheckResult`) and a checked draft
(:class:`~rag.draft_check.DraftReport`) but the chat page's HTML (ui/render_check.py):

- :func:`result_to_dict` — ``askpapers check "claim" --json`` (``line=True``: a ``--batch`` output line,
  ``{"id", "label", "supported", "score", "evidence", "paper_id", "unknown_ids"}``);
- :func:`result_to_text` — the terminal;
- :func:`report_to_dict` / :func:`report_to_text` — ``askpapers check draft.md [--json]``.

Abstract and draft text is data: the terminal forms pass it through :func:`rag.escape.plain`, so it
can't send escape sequences. Labels are the verifier's (``supported`` | ``contradicted`` |
``not_enough_info``); a draft sentence none of whose references resolved was not checked (label None).
"""

from __future__ import annotations

from typing import Any

from rag.checker import CheckResult
from rag.citations import markers
from rag.draft_check import CheckedSentence, DraftReport, Reference
from rag.escape import plain
from rag.verify import Verdict

#: How each label reads to a person, with its mark (the marks of rag/answer_format.py: ✗ contradicted,
#: ⚠ not supported); "not checked" is a draft sentence whose references name no indexed paper.
LABEL_TEXT = {"supported": "supported", "contradicted": "contradicted", "not_enough_info": "not enough info"}
MARKS = {"supported": "✓", "contradicted": "✗", "not_enough_info": "⚠"}
NOT_CHECKED = "not checked"


def label_text(verdict: Verdict | None) -> str:
    """``✓ supported`` / ``✗ contradicted`` / ``⚠ not enough info`` / ``– not checked``."""
    if verdict is None:
        return f"– {NOT_CHECKED}"
    return f"{MARKS[verdict.label]} {LABEL_TEXT[verdict.label]}"


# --- a claim -------------------------------------------------------------------------------------
def result_to_dict(result: CheckResult, *, line: bool = False) -> dict[str, Any]:
    """The JSON shape of a checked claim; ``line=True``: the fields of a ``--batch`` output line."""
    verdict, top = result.verdict, result.top_evidence
    data: dict[str, Any] = {"id": result.id} if line or result.id != "" else {}
    if not line:
        data["claim"] = result.claim
    data |= {
        "label": verdict.label,
        "supported": verdict.supported,
        "score": round(verdict.score, 4),
        "evidence": top.sentence if top else "",
        "paper_id": top.paper_id if top else None,
        "unknown_ids": list(result.unknown_ids),
    }
    if not line:
        data["reason"] = verdict.reason
        data["evidence_sentences"] = [
            {"sentence": e.sentence, "paper_id": e.paper_id, "score": e.score} for e in verdict.evidence
        ]
        data["papers"] = [{"given": p.given, "paper_id": p.paper_id, "title": p.title} for p in result.papers]
    return data


def result_to_text(result: CheckResult) -> str:
    """Verdict and score, the claim, the reason when not supported, each evidence sentence with its paper."""
    verdict = result.verdict
    lines = [f"{label_text(verdict)} · score {verdict.score:.3f}", f"claim     {plain(result.claim)}"]
    if verdict.reason:
        lines.append(f"reason    {plain(verdict.reason)}")
    for i, e in enumerate(verdict.evidence):
        head = "evidence  " if i == 0 else "          "
        lines.append(f"{head}“{plain(e.sentence)}”")
        lines.append(f"            — {plain(e.paper_id)}  {plain(result.title_of(e.paper_id))}")
    if not verdict.evidence:
        lines.append("evidence  none")
    if result.unknown_ids:
        lines.append(f"not in the index: {plain(', '.join(result.unknown_ids))}")
    return "\n".join(lines)


# --- a draft -------------------------------------------------------------------------------------
def _sentence_dict(checked: CheckedSentence) -> dict[str, Any]:
    verdict = checked.verdict
    top = verdict.evidence[0] if verdict and verdict.evidence else None
    return {
        "line": checked.sentence.line,
        "text": checked.sentence.text,
        "cites": list(checked.sentence.cites),
        "label": verdict.label if verdict else None,
        "supported": verdict.supported if verdict else False,
        "score": round(verdict.score, 4) if verdict else None,
        "reason": verdict.reason if verdict else "",
        "evidence": top.sentence if top else "",
        "paper_id": top.paper_id if top else None,
        "unresolved": list(checked.unresolved),
    }


def report_to_dict(report: DraftReport) -> dict[str, Any]:
    """Each cited sentence with its verdict (label None: none of its references resolved), every
    reference with the indexed paper it names (paper_id None: none), and a count per label."""
    return {
        "sentences": [_sentence_dict(s) for s in report.sentences],
        "references": [
            {"n": r.n, "text": r.text, "paper_id": r.paper_id, "title": r.title, "how": r.how}
            for r in report.references
        ],
        "unresolved_references": [r.n for r in report.unresolved_references],
        "missing_references": missing_references(report),
        "counts": counts(report),
    }


def missing_references(report: DraftReport) -> list[int]:
    """Numbers cited in the text that the reference list has no entry for."""
    listed = {r.n for r in report.references}
    return sorted({n for s in report.sentences for n in s.sentence.cites if n not in listed})


def counts(report: DraftReport) -> dict[str, int]:
    """Cited sentences per label, and how many were not checked (no reference resolved)."""
    out = dict.fromkeys([*LABEL_TEXT, "not_checked"], 0)
    for s in report.sentences:
        out[s.verdict.label if s.verdict else "not_checked"] += 1
    return out


def reference_for(report: DraftReport, checked: CheckedSentence, paper_id: str) -> Reference | None:
    """The reference, among those the sentence cites, that names ``paper_id``."""
    return next(
        (r for r in report.references if r.paper_id == paper_id and r.n in checked.sentence.cites), None
    )


def summary(report: DraftReport) -> str:
    """ "3 cited sentences: 1 supported, 1 contradicted, 0 not enough info, 1 not checked; 1 of 4
    references not in the index" """
    n, c = len(report.sentences), counts(report)
    parts = [f"{c[k]} {LABEL_TEXT[k]}" for k in LABEL_TEXT] + [f"{c['not_checked']} {NOT_CHECKED}"]
    text = f"{n} cited sentence{'s' if n != 1 else ''}: {', '.join(parts)}"
    unresolved = len(report.unresolved_references)
    return text + f"; {unresolved} of {len(report.references)} references not in the index"


def report_to_text(report: DraftReport) -> str:
    """Every cited sentence with its verdict and evidence, then the references no indexed paper matches."""
    lines: list[str] = []
    paragraph = 0
    for checked in report.sentences:
        if checked.sentence.line != paragraph:
            paragraph = checked.sentence.line
            lines.append(f"{'' if not lines else chr(10)}paragraph at line {paragraph}")
        verdict = checked.verdict
        score = f" ({verdict.score:.2f})" if verdict else ""
        lines.append(
            f"  {label_text(verdict)}{score}  {plain(checked.sentence.text)} {markers(checked.sentence.cites)}"
        )
        if verdict and verdict.reason:
            lines.append(f"      reason: {plain(verdict.reason)}")
        if verdict and verdict.evidence:
            top = verdict.evidence[0]
            ref = reference_for(report, checked, top.paper_id)
            source = f"[{ref.n}] {ref.title}" if ref else top.paper_id
            lines.append(f"      evidence from {plain(source)}: “{plain(top.sentence)}”")
        if checked.unresolved:
            lines.append(f"      not in the index: {markers(checked.unresolved)}")
    if not report.sentences:
        lines.append("no sentence cites a numbered reference ([1], [2, 3]) — nothing to check")
    missing = missing_references(report)
    if report.unresolved_references or missing:
        lines.append("\nReferences not in the index:")
        lines += [f"  [{r.n}] {plain(r.text)}" for r in report.unresolved_references]
        lines += [f"  [{n}] (cited, but the reference list has no entry {n})" for n in missing]
    lines.append(f"\n{summary(report)}.")
    return "\n".join(lines)
