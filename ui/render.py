"""HTML and Markdown for the chat page, the ``/ask`` API and the export.

Pure functions over :class:`rag.types.Answer`; no Gradio here, so they are cheap to test.

Everything that comes from an ingested record — titles, abstracts, authors, categories, dates,
URLs, quoted sentences, evidence — is data. It is escaped wherever it is rendered:
:func:`html_text` for HTML (it also neutralises Markdown, because the chat renders its messages as
Markdown before HTML) and :func:`markdown_escape` for Markdown. Only http(s) URLs become links
(:func:`safe_url`), and citation links are built from each sentence's ``cites``, never from
bracketed numbers in its text, so a quote's own "[1][2][3]" stays plain text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rag.citations import markers, safe_url
from rag.extractive import INTRO
from rag.types import Answer, Hit, SentenceCheck

__all__ = [
    "INTRO",
    "answer_html",
    "answer_markdown",
    "conversation_markdown",
    "error_html",
    "evidence_by_source",
    "html_text",
    "markdown_escape",
    "safe_url",
    "sources_html",
    "streaming_html",
]


# One pass: HTML's special characters as entities, and the characters Markdown (and the chat's
# Markdown extensions: tables, strikethrough, $$ maths, e-mail autolinks) acts on as numeric
# character references, which both read as plain text.
_HTML_TABLE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}
    | {c: f"&#{ord(c)};" for c in "\\`*_[](){}!#|~$@"}
)
# Markdown punctuation that can start a link, an image, emphasis, code, a table cell,
# strikethrough or maths anywhere in a line; backslash-escaped.
_MD_INLINE = re.compile(r"([\\`*_\[\]{}()!|~$#@])")  # '@': no GFM e-mail autolink (a mailto: link)
# at the start of a line, these make a list item, a heading or a block quote
_MD_LINE_START = re.compile(r"^(\d+)([.)])|^([-+=>])")


def html_text(text: object) -> str:
    """Text for HTML (element content or a quoted attribute) that no HTML or Markdown reads as markup."""
    return str(text).translate(_HTML_TABLE)


def markdown_escape(text: object) -> str:
    """Text for Markdown that can't make a link, an image, emphasis, a heading, a list or raw HTML.

    Whitespace runs (newlines too) become one space, so the text never starts a line of its own;
    ``&``, ``<`` and ``>`` become entities (no raw HTML, no ``<autolink>``); the rest of Markdown's
    punctuation is backslash-escaped. A Markdown viewer shows the text exactly as it was.
    """
    flat = " ".join(str(text).split())
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    flat = _MD_INLINE.sub(r"\\\1", flat)
    return _MD_LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", flat, count=1)


def _cite_links(cites: Sequence[int], n_sources: int) -> str:
    """``<sup>[1, 2]</sup>`` with each number linking to its source card (``#source-n``)."""
    valid = [n for n in dict.fromkeys(cites) if 1 <= n <= n_sources]
    if not valid:
        return ""
    links = ", ".join(f'<a href="#source-{n}" class="cite" title="Source {n}">{n}</a>' for n in valid)
    return f"<sup>[{links}]</sup>"


def _sentence_html(sentence: SentenceCheck, n_sources: int, quoted: bool) -> str:
    links = _cite_links(sentence.cites, n_sources)
    gap = " " if links else ""
    if quoted:  # the quote in quotation marks: its own bracketed numbers visibly belong to it
        return f"<span class='quote'>“{html_text(sentence.text)}”</span>{gap}{links}"
    stem = sentence.text.rstrip(".!?")
    return f"{html_text(stem)}{gap}{links}{html_text(sentence.text[len(stem) :])}"


def answer_html(answer: Answer) -> str:
    """The assistant message for the chat: cited sentences with their links, ⚠ on unsupported ones."""
    n = len(answer.sources)
    if answer.refused:
        lines = [f"<div class='refusal'>{html_text(answer.text)}</div>", "<ol class='closest'>"]
        for i, hit in enumerate(answer.sources, start=1):
            year = html_text(hit.year or "n.d.")
            lines.append(f"<li><a href='#source-{i}'>{html_text(hit.title)}</a> ({year})</li>")
        lines.append("</ol>")
        return "\n".join(lines)
    if not answer.sentences:  # nothing was checked (should not happen): show the text as plain text
        return html_text(answer.text)
    quoted = answer.mode == "extractive"
    out: list[str] = []
    flagged = 0
    for s in answer.sentences:
        body = _sentence_html(s, n, quoted)
        if s.supported:
            out.append(f"<span class='sent ok'>{body}</span>")
        else:
            flagged += 1
            reason = html_text(s.reason or "not backed by the abstract it cites")
            out.append(
                f"<span class='sent unsupported' title='Unsupported: {reason}'>{body} "
                f"<span class='warn' title='Unsupported: {reason}'>⚠</span></span>"
            )
    text = f"<div class='intro'>{INTRO}</div>\n" + "<br>".join(out) if quoted else " ".join(out)
    if flagged:
        text += (
            f"\n\n<div class='unsupported-note'>⚠ {flagged} of {len(answer.sentences)} sentence"
            f"{'s are' if len(answer.sentences) != 1 else ' is'} not supported by the abstracts "
            "they cite (hover the ⚠ for the reason).</div>"
        )
    return text


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


def _sentence_markdown(sentence: SentenceCheck, quoted: bool) -> str:
    marks = markers(sentence.cites)
    gap = " " if marks else ""
    if quoted:
        return f"“{markdown_escape(sentence.text)}”{gap}{marks}"
    stem = sentence.text.rstrip(".!?")
    return f"{markdown_escape(stem)}{gap}{marks}{sentence.text[len(stem) :]}"


def answer_markdown(answer: Answer) -> str:
    """Markdown of one answer with its reference list (the ``/ask`` API and the export)."""
    lines: list[str] = []
    if answer.refused:
        lines.append(markdown_escape(answer.text))
        lines.append("")
        lines.append("**Closest papers:**")
        lines.append("")
        for i, hit in enumerate(answer.sources, start=1):
            lines.append(f"{i}. {_ref(hit.title, hit.year, hit.url)}")
        return "\n".join(lines)
    quoted = answer.mode == "extractive"
    unsupported = 0
    for s in answer.sentences:
        if s.supported:
            lines.append(_sentence_markdown(s, quoted))
        else:
            unsupported += 1
            reason = markdown_escape(s.reason or "not backed by its citation")
            lines.append(f"{_sentence_markdown(s, quoted)} ⚠ *(unsupported: {reason})*")
    if not answer.sentences:
        lines.append(markdown_escape(answer.text))
    body = f"*{INTRO}*\n\n" + "\n\n".join(lines) if quoted else " ".join(lines)
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
    text = f"{markdown_escape(title)} ({year or 'n.d.'})"
    link = safe_url(url)
    return f"{text} <{link}>" if link else text


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The whole conversation: every question and its answer with references."""
    parts = ["# askpapers conversation", ""]
    for i, answer in enumerate(answers, start=1):
        parts += [f"## Q{i}. {markdown_escape(answer.question)}", ""]
        if answer.standalone_question:
            parts += [f"*Searched as:* {markdown_escape(answer.standalone_question)}", ""]
        parts += [answer_markdown(answer), ""]
    return "\n".join(parts).rstrip() + "\n"


def error_html(message: str) -> str:
    return (
        "<div class='error-banner' role='alert'><b>⚠ The answer failed.</b> "
        f"{html_text(message)}<br><small>The rest of the page still works: try again, "
        "or switch the answer mode to <i>extractive</i>.</small></div>"
    )
