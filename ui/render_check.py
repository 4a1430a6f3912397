"""The HTML of the chat page's "Check a draft" tab: each checked sentence with its verdict, score,
reason and evidence sentence (with the title of the paper it came from), the references that name no
indexed paper, and the error banner.

Pure functions, no Gradio. Everything shown is data and goes through :func:`rag.escape.html_text`:
abstract sentences, titles and reasons come from ingested files, and the draft, its references and
the paper ids are what the user pasted. Labels and marks are rag/check_format.py's.
"""

from __future__ import annotations

from rag.check_format import label_text, missing_references, reference_for, summary
from rag.checker import CheckResult
from rag.citations import markers
from rag.draft_check import CheckedSentence, DraftReport
from rag.escape import html_text
from rag.verify import Evidence, Verdict

__all__ = ["claim_html", "draft_html", "empty_html", "error_html"]

#: Text colour per verdict (contrast ≥ 4.5:1 on white and on the page's light panels).
COLOURS = {"supported": "#166534", "contradicted": "#a4161a", "not_enough_info": "#8a4b00", None: "#4b5563"}


def empty_html() -> str:
    return (
        "<div class='sources-empty'>Paste a draft whose sentences cite [1], [2] with its numbered reference "
        "list (titles, DOIs or arXiv ids), or one claim with the ids of the papers to check it against.</div>"
    )


def error_html(message: str) -> str:
    return f"<div class='error-banner' role='alert'><b>⚠ The check failed.</b> {html_text(message)}</div>"


def _verdict(verdict: Verdict | None) -> str:
    label = verdict.label if verdict else None
    score = f" <span class='check-score'>score {verdict.score:.2f}</span>" if verdict else ""
    name = label or "not_checked"
    return (
        f"<span class='check-label {name}' style='color:{COLOURS[label]};font-weight:600'>"
        f"{html_text(label_text(verdict))}</span>{score}"
    )


def _evidence(evidence: Evidence, source: str) -> str:
    return (
        f"<blockquote class='check-evidence'>“{html_text(evidence.sentence)}”"
        f"<br><small>— {html_text(source)}</small></blockquote>"
    )


def _item(verdict: Verdict | None, sentence: str, details: list[str]) -> str:
    name = verdict.label if verdict else "not_checked"
    reason = (
        f"<div class='check-reason'>{html_text(verdict.reason)}</div>" if verdict and verdict.reason else ""
    )
    return (
        f"<li class='check-sentence {name}'>{_verdict(verdict)}"
        f"<div class='check-text'>{sentence}</div>{reason}{''.join(details)}</li>"
    )


def _draft_item(report: DraftReport, checked: CheckedSentence) -> str:
    verdict = checked.verdict
    sentence = f"{html_text(checked.sentence.text)} {html_text(markers(checked.sentence.cites))}"
    details: list[str] = []
    if verdict and verdict.evidence:
        top = verdict.evidence[0]
        ref = reference_for(report, checked, top.paper_id)
        details.append(_evidence(top, f"[{ref.n}] {ref.title}" if ref else top.paper_id))
    if checked.unresolved:
        details.append(
            f"<div class='check-unresolved'>Not in the index: {html_text(markers(checked.unresolved))}</div>"
        )
    return _item(verdict, sentence, details)


def draft_html(report: DraftReport) -> str:
    """Every cited sentence of the draft with its verdict and evidence; unresolved references listed."""
    if not report.sentences:
        body = (
            "<p>No sentence cites a numbered reference ([1], [2, 3]), so there is nothing to check. "
            "Cite the references by number, and list them after a 'References' heading.</p>"
        )
    else:
        items = "".join(_draft_item(report, s) for s in report.sentences)
        body = f"<ol class='check-sentences'>{items}</ol>"
    missing = missing_references(report)
    unresolved = [f"<li>[{r.n}] {html_text(r.text)}</li>" for r in report.unresolved_references]
    unresolved += [f"<li>[{n}] cited, but the reference list has no entry {n}</li>" for n in missing]
    refs = (
        f"<div class='check-unresolved-refs'><b>References not in the index</b><ul>{''.join(unresolved)}</ul></div>"
        if unresolved
        else ""
    )
    head = f"<div class='check-summary'>{html_text(summary(report))}.</div>"
    return f"<div class='check-report'>{head}{body}{refs}</div>"


def claim_html(result: CheckResult) -> str:
    """One claim's verdict, its evidence sentences with their papers' titles, and names not in the index."""
    verdict = result.verdict
    details = [_evidence(e, result.title_of(e.paper_id) or e.paper_id) for e in verdict.evidence]
    papers = "".join(
        f"<li>{html_text(p.title)} <code>{html_text(p.paper_id)}</code></li>" for p in result.papers
    )
    checked = f"<div class='check-papers'><b>Checked against</b><ul>{papers}</ul></div>" if papers else ""
    unknown = (
        f"<div class='check-unresolved'>Not in the index: {html_text(', '.join(result.unknown_ids))}</div>"
        if result.unknown_ids
        else ""
    )
    item = _item(verdict, html_text(result.claim), details)
    return f"<div class='check-report'><ol class='check-sentences'>{item}</ol>{checked}{unknown}</div>"
