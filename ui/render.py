"""HTML and Markdown for the chat page: answers with linked citations, source cards, exports.

Pure functions over :class:`rag.types.Answer`; no Gradio here, so they are cheap to test.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence

from rag.types import Answer, Hit

_CITE = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_TRAILING_CITES = re.compile(r"(\s*\[\d+(?:\s*,\s*\d+)*\])+\s*$")
INTRO = "From the indexed abstracts (quoted verbatim):"


def link_citations(text: str, n_sources: int | None = None) -> str:
    """``[1]`` / ``[1, 2]`` → anchors to the source cards (``#source-n``)."""

    def repl(match: re.Match[str]) -> str:
        numbers = [int(x) for x in re.split(r"\s*,\s*", match.group(1))]
        if n_sources is not None and any(not 1 <= n <= n_sources for n in numbers):
            return match.group(0)
        links = ", ".join(f'<a href="#source-{n}" class="cite" title="Source {n}">{n}</a>' for n in numbers)
        return f"<sup>[{links}]</sup>"

    return _CITE.sub(repl, text)


def _strip_cites(text: str) -> str:
    return _TRAILING_CITES.sub("", text).strip()


def answer_html(answer: Answer) -> str:
    """The assistant message for the chat: linked citations, ⚠ on unsupported sentences."""
    n = len(answer.sources)
    if answer.refused:
        lines = [f"<div class='refusal'>{html.escape(answer.text)}</div>", "<ol class='closest'>"]
        for i, hit in enumerate(answer.sources, start=1):
            lines.append(
                f"<li><a href='#source-{i}'>{html.escape(hit.title)}</a> ({hit.year or 'n.d.'})</li>"
            )
        lines.append("</ol>")
        return "\n".join(lines)
    out: list[str] = []
    if answer.text.startswith(INTRO):
        out.append(f"<div class='intro'>{INTRO}</div>")
    flagged = 0
    if not answer.sentences:  # nothing was checked (should not happen): show the text as is
        return link_citations(html.escape(answer.text), n)
    for s in answer.sentences:
        body = link_citations(html.escape(s.text), n)
        if s.supported:
            out.append(f"<span class='sent ok'>{body}</span>")
        else:
            flagged += 1
            reason = html.escape(s.reason or "not backed by the abstract it cites", quote=True)
            out.append(
                f"<span class='sent unsupported' title='Unsupported: {reason}'>{body} "
                f"<span class='warn' title='Unsupported: {reason}'>⚠</span></span>"
            )
    sep = "<br>" if answer.text.startswith(INTRO) else " "
    text = (out[0] + "\n" + sep.join(out[1:])) if answer.text.startswith(INTRO) else sep.join(out)
    if flagged:
        text += (
            f"\n\n<div class='unsupported-note'>⚠ {flagged} of {len(answer.sentences)} sentence"
            f"{'s are' if len(answer.sentences) != 1 else ' is'} not supported by the abstracts "
            "they cite (hover the ⚠ for the reason).</div>"
        )
    return text


def streaming_html(partial: str, n_sources: int | None = None) -> str:
    """Text while it streams in: escaped, citations linked, a cursor at the end."""
    return link_citations(html.escape(partial), n_sources) + " ▍"


def evidence_by_source(answer: Answer) -> dict[int, list[str]]:
    """For each cited source number, the abstract sentences that support the answer."""
    found: dict[int, list[str]] = {}
    for s in answer.sentences:
        quote = _strip_cites(s.text)
        for n in s.cites:
            if not 1 <= n <= len(answer.sources):
                continue
            abstract = answer.sources[n - 1].abstract
            for candidate in (s.evidence, quote):
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
        out.append(html.escape(abstract[pos:start]))
        out.append(f"<mark>{html.escape(abstract[start:end])}</mark>")
        pos = end
    out.append(html.escape(abstract[pos:]))
    return "".join(out)


def _card(n: int, hit: Hit, cited: bool, evidence: list[str]) -> str:
    title = html.escape(hit.title)
    if hit.url:
        title = f"<a href='{html.escape(hit.url, quote=True)}' target='_blank' rel='noopener'>{title}</a>"
    authors = ", ".join(hit.authors[:6]) + (" et al." if len(hit.authors) > 6 else "")
    meta = [str(hit.year) if hit.year else (hit.date or "n.d.")]
    if authors:
        meta.append(html.escape(authors))
    if hit.categories:
        meta.append(html.escape(", ".join(hit.categories[:3])))
    badge = "<span class='badge cited'>cited</span>" if cited else "<span class='badge'>retrieved</span>"
    abstract = hit.abstract or hit.chunk
    body = _highlight(abstract, evidence) if evidence else html.escape(abstract)
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


def answer_markdown(answer: Answer) -> str:
    """Plain Markdown of one answer with its reference list (API and export)."""
    lines: list[str] = []
    if answer.refused:
        lines.append(answer.text)
        lines.append("")
        lines.append("**Closest papers:**")
        lines.append("")
        for i, hit in enumerate(answer.sources, start=1):
            lines.append(f"{i}. {_ref(hit.title, hit.year, hit.url)}")
        return "\n".join(lines)
    unsupported = 0
    for s in answer.sentences:
        if s.supported:
            lines.append(s.text)
        else:
            unsupported += 1
            lines.append(f"{s.text} ⚠ *(unsupported: {s.reason or 'not backed by its citation'})*")
    if not answer.sentences:
        lines.append(answer.text)
    body = f"*{INTRO}*\n\n" + "\n\n".join(lines) if answer.text.startswith(INTRO) else " ".join(lines)
    refs = ["", "", "**References**", ""]
    for n, cite in sorted(answer.citations.items()):
        refs.append(f"[{n}] {_ref(cite.title, cite.year, cite.url)}")
        refs.append("")
    if unsupported:
        refs.append(
            f"_{unsupported} of {len(answer.sentences)} sentences are not supported by the cited abstracts._"
        )
    return body + "\n".join(refs).rstrip() + "\n"


def _ref(title: str, year: int | None, url: str | None) -> str:
    text = f"{title} ({year or 'n.d.'})"
    return f"{text} <{url}>" if url else text


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The whole conversation: every question and its answer with references."""
    parts = ["# askpapers conversation", ""]
    for i, answer in enumerate(answers, start=1):
        parts += [f"## Q{i}. {answer.question}", ""]
        if answer.standalone_question:
            parts += [f"*Searched as:* {answer.standalone_question}", ""]
        parts += [answer_markdown(answer), ""]
    return "\n".join(parts).rstrip() + "\n"


def error_html(message: str) -> str:
    return (
        "<div class='error-banner' role='alert'><b>⚠ The answer failed.</b> "
        f"{html.escape(message)}<br><small>The rest of the page still works: try again, "
        "or switch the answer mode to <i>extractive</i>.</small></div>"
    )
