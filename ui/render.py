"""The chat page's own HTML: source cards, the sources panel, the streaming bubble, the error banner.

Pure functions; no Gradio here, so they are cheap to test. The answer itself is rendered by
:mod:`rag.answer_format` (HTML for the chat message, Markdown for the API and the export), and
record text is escaped with :mod:`rag.escape` — here too: titles, abstracts, authors, categories,
dates and evidence are data, and only http(s) URLs become links.
"""

from __future__ import annotations

from collections.abc import Iterable

from rag.escape import html_text, safe_url
from rag.types import Answer, Hit

__all__ = ["contradicting_by_source", "error_html", "evidence_by_source", "sources_html", "streaming_html"]


def streaming_html(partial: str) -> str:
    """Text while it streams in: plain escaped text (links come with the checked answer) and a cursor."""
    return html_text(partial) + " ▍"


def _evidence(answer: Answer, contradicted: bool) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for s in answer.sentences:
        if s.contradicted != contradicted:
            continue
        for n in s.cites:
            if not 1 <= n <= len(answer.sources):
                continue
            source = answer.sources[n - 1]
            if s.evidence_paper and s.evidence_paper != source.paper_id:
                continue  # the evidence came from another of the cited papers
            candidates = (s.evidence,) if contradicted else (s.evidence, s.text)
            for candidate in candidates:
                if candidate and candidate in source.abstract and candidate not in found.setdefault(n, []):
                    found[n].append(candidate)
    return found


def evidence_by_source(answer: Answer) -> dict[int, list[str]]:
    """For each cited source number, the abstract sentences that support the answer."""
    return _evidence(answer, contradicted=False)


def contradicting_by_source(answer: Answer) -> dict[int, list[str]]:
    """For each cited source number, the abstract sentences that contradict an answer sentence."""
    return _evidence(answer, contradicted=True)


def _highlight(abstract: str, supporting: Iterable[str], contradicting: Iterable[str] = ()) -> str:
    """The abstract with supporting sentences in <mark> and contradicting ones in <mark class='against'>."""
    spans: list[tuple[int, int, bool]] = []
    for sentences, against in ((supporting, False), (contradicting, True)):
        for sentence in sentences:
            start = abstract.find(sentence)
            if start >= 0:
                spans.append((start, start + len(sentence), against))
    spans.sort()
    out, pos = [], 0
    for start, end, against in spans:
        if start < pos:
            continue
        out.append(html_text(abstract[pos:start]))
        mark = "<mark class='against' title='Contradicts a sentence of the answer'>" if against else "<mark>"
        out.append(f"{mark}{html_text(abstract[start:end])}</mark>")
        pos = end
    out.append(html_text(abstract[pos:]))
    return "".join(out)


def _card(n: int, hit: Hit, cited: bool, evidence: list[str], against: list[str]) -> str:
    title = html_text(hit.title)
    url = safe_url(hit.url)
    if url:
        title = f"<a href='{html_text(url)}' target='_blank' rel='noopener noreferrer nofollow'>{title}</a>"
    authors = ", ".join(hit.authors[:6]) + (" et al." if len(hit.authors) > 6 else "")
    meta = [html_text(hit.year or hit.date or "n.d.")]
    if authors:
        meta.append(html_text(authors))
    if hit.categories:
        meta.append(html_text(", ".join(hit.categories[:3])))
    badge = "<span class='badge cited'>cited</span>" if cited else "<span class='badge'>retrieved</span>"
    abstract = hit.abstract or hit.chunk
    body = _highlight(abstract, evidence, against) if evidence or against else html_text(abstract)
    return (
        f"<div class='source-card{' cited' if cited else ''}' id='source-{n}'>"
        f"<div class='card-head'><span class='num'>[{n}]</span> {badge}"
        f"<span class='score' title='retrieval score (fused rank)'>score {hit.score:.3f}</span></div>"
        f"<div class='card-title'>{title}</div>"
        f"<div class='card-meta'>{' · '.join(meta)}</div>"
        f"<details{' open' if cited else ''}><summary>Abstract</summary><div class='abstract'>{body}</div></details>"
        "</div>"
    )


def sources_html(answer: Answer | None) -> str:
    """One card per retrieved paper, cited papers first; each card has id ``source-n``."""
    if answer is None or not answer.sources:
        return "<div class='sources-empty'>Sources for the answer appear here.</div>"
    evidence, against = evidence_by_source(answer), contradicting_by_source(answer)
    cited = set(answer.citations) | set(evidence) | set(against)
    order = sorted(range(1, len(answer.sources) + 1), key=lambda n: (n not in cited, n))
    head = (
        "Closest papers (no answer)"
        if answer.refused
        else f"{len(cited)} cited · {len(answer.sources)} retrieved"
    )
    cards = [
        _card(n, answer.sources[n - 1], n in cited, evidence.get(n, []), against.get(n, [])) for n in order
    ]
    return f"<div class='sources'><div class='sources-head'>{head}</div>{''.join(cards)}</div>"


def error_html(message: str) -> str:
    return (
        "<div class='error-banner' role='alert'><b>⚠ The answer failed.</b> "
        f"{html_text(message)}<br><small>The rest of the page still works: try again, "
        "or switch the answer mode to <i>extractive</i>.</small></div>"
    )
