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

__all__ = ["error_html", "evidence_by_source", "sources_html", "streaming_html"]


def streaming_html(partial: str) -> str:
    """Text while it streams in: plain escaped text (links come with the checked answer) and a cursor."""
    return html_text(partial) + " ▍"


def evidence_by_source(answer: Answer) -> dict[int, list[str]]:
    """For each cited source number, the abstract sentences that support the answer."""
    found: dict[int, list[str]] = {}
    for s in answer.sentences:
        for n in s.cites:
            if not 1 <= n <= len(answer.sources):
                continue
            abstract = answer.sources[n - 1].abstract
            for candidate in (s.evidence, s.text):
                if candidate and candidate in abstract and candidate not in found.setdefault(n, []):
                    found[n].append(candidate)
    return found


def _highlight(abstract: str, sentences: Iterable[str]) -> str:
    spans: list[tuple[int, int]] = []
    for sentence in sentences:
        start = abstract.find(sentence)
        if start >= 0:
            spans.append((start, start + len(sentence)))
    spans.sort()
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        out.append(html_text(abstract[pos:start]))
        out.append(f"<mark>{html_text(abstract[start:end])}</mark>")
        pos = end
    out.append(html_text(abstract[pos:]))
    return "".join(out)


def _card(n: int, hit: Hit, cited: bool, evidence: list[str]) -> str:
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
    body = _highlight(abstract, evidence) if evidence else html_text(abstract)
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
    evidence = evidence_by_source(answer)
    cited = set(answer.citations) | set(evidence)
    order = sorted(range(1, len(answer.sources) + 1), key=lambda n: (n not in cited, n))
    head = (
        "Closest papers (no answer)"
        if answer.refused
        else f"{len(cited)} cited · {len(answer.sources)} retrieved"
    )
    cards = [_card(n, answer.sources[n - 1], n in cited, evidence.get(n, [])) for n in order]
    return f"<div class='sources'><div class='sources-head'>{head}</div>{''.join(cards)}</div>"


def error_html(message: str) -> str:
    return (
        "<div class='error-banner' role='alert'><b>⚠ The answer failed.</b> "
        f"{html_text(message)}<br><small>The rest of the page still works: try again, "
        "or switch the answer mode to <i>extractive</i>.</small></div>"
    )
