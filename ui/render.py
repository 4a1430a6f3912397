"""The chat page's own HTML: source cards, the sources panel, the streaming bubble, the error banner.

Pure functions; no Gradio here, so they are cheap to test. The answer itself is rendered by
:mod:`rag.answer_format` (HTML for the chat message, Markdown for the API and the export), and
record text is escaped with :mod:`rag.escape` — here too: titles, abstracts, authors, categories,
dates and evidence are data, and only http(s) URLs become links.
"""

from __future__ import annotations

from collections.abc import Iterable

from rag.answer_format import answer_anchor
from rag.escape import html_text
from rag.links import paper_date, paper_link
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


_EXTERNAL = "target='_blank' rel='noopener noreferrer nofollow'"


def _title_html(hit: Hit) -> str:
    """The title linking to the paper (URL, DOI or arXiv id), or the title and a link labelled as an
    arXiv title search when the record names no page of its own (rag/links.py)."""
    link = paper_link(hit.title, url=hit.url, paper_id=hit.paper_id, source=hit.source)
    href = html_text(link.url)
    title = html_text(hit.title)
    if link.kind == "search":
        return f"{title} <a class='paper-link search' href='{href}' {_EXTERNAL}>search arXiv</a>"
    return f"<a class='paper-link {link.kind}' href='{href}' {_EXTERNAL}>{title}</a>" + (
        f" <span class='link-kind'>{link.label}</span>" if link.kind != "url" else ""
    )


def _card(
    n: int,
    hit: Hit,
    cited: bool,
    evidence: list[str],
    against: list[str],
    anchor: str = "",
    listed: bool = False,
) -> str:
    """One source card; ``anchor`` names the message whose citation (or closest-papers entry, when
    ``listed``) the card links back to."""
    title = _title_html(hit)
    authors = ", ".join(hit.authors[:6]) + (" et al." if len(hit.authors) > 6 else "")
    meta = [html_text(paper_date(hit.year, hit.date))]
    if authors:
        meta.append(html_text(authors))
    if hit.categories:
        meta.append(html_text(", ".join(hit.categories[:3])))
    badge = "<span class='badge cited'>cited</span>" if cited else "<span class='badge'>retrieved</span>"
    back = (
        f"<a class='back' href='#{html_text(anchor)}-cite-{n}' title='Back to where the answer cites [{n}]'>"
        "↑ in the answer</a>"
        if (cited or listed) and anchor
        else ""
    )
    abstract = hit.abstract or hit.chunk
    body = _highlight(abstract, evidence, against) if evidence or against else html_text(abstract)
    return (
        f"<div class='source-card{' cited' if cited else ''}' id='source-{n}'>"
        f"<div class='card-head'><span class='num'>[{n}]</span> {badge}{back}"
        f"<span class='score' title='retrieval score (fused z-scores of dense and BM25; higher is closer)'>score {hit.score:.3f}</span></div>"
        f"<div class='card-title'>{title}</div>"
        f"<div class='card-meta'>{' · '.join(meta)}</div>"
        f"<details{' open' if cited else ''}><summary>Abstract</summary><div class='abstract'>{body}</div></details>"
        "</div>"
    )


def sources_html(answer: Answer | None, anchor: str = "") -> str:
    """One card per retrieved paper, cited papers first; each card has id ``source-n`` and a cited
    card links back to where the message rendered with the same ``anchor`` cites it."""
    if answer is None or not answer.sources:
        return "<div class='sources-empty'>Sources for the answer appear here.</div>"
    anchor = anchor or answer_anchor(answer)
    evidence, against = evidence_by_source(answer), contradicting_by_source(answer)
    cited = set(answer.citations) | set(evidence) | set(against)
    order = sorted(range(1, len(answer.sources) + 1), key=lambda n: (n not in cited, n))
    head = (
        "Closest papers (no answer)"
        if answer.refused
        else f"{len(cited)} cited · {len(answer.sources)} retrieved"
    )
    cards = [
        _card(
            n,
            answer.sources[n - 1],
            n in cited,
            evidence.get(n, []),
            against.get(n, []),
            anchor,
            answer.refused,
        )
        for n in order
    ]
    return f"<div class='sources'><div class='sources-head'>{head}</div>{''.join(cards)}</div>"


def error_html(message: str, remedy: str = "The rest of the page still works: try again.") -> str:
    """The banner above the chat: what failed and what to do (``remedy`` fits the error and the mode)."""
    return (
        "<div class='error-banner' role='alert'><b>⚠ The answer failed.</b> "
        f"{html_text(message)}<br><span class='remedy'>{html_text(remedy)}</span></div>"
    )
