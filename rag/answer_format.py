"""Every serialisation of an :class:`~rag.types.Answer`, in one place.

- :func:`to_dict` / :func:`to_json` / :func:`from_dict`: the JSON shape (``askpapers ask --json``,
  ``--batch`` lines, the eval harness's results.json);
- :func:`to_text`: a terminal (``askpapers ask``);
- :func:`to_markdown` / :func:`conversation_markdown`: the ``/ask`` API and the chat export;
- :func:`to_html`: the chat message body.

Record text (titles, quotes, reasons, URLs) is data: each format escapes it with :mod:`rag.escape`,
and only http(s) URLs become links. Citation markers and links are built from each sentence's
``cites``, never from bracketed numbers in its text, so a quote's own "[1][2][3]" stays text.
Quoted sentences (an extractive answer's) are recognised by ``SentenceCheck.quoted``, never by text.
Every format marks a sentence the verifier labelled ``contradicted`` (its cited abstract says
otherwise: ✗, with the reason naming the sentence) apart from one merely not supported (⚠).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from rag.citations import markers, sentence_text
from rag.escape import html_text, markdown_escape, plain
from rag.links import paper_date, paper_link
from rag.types import Answer, Citation, Hit, SentenceCheck

#: Source fields left out of :func:`to_dict` with ``texts=False`` (the bulk of an answer's size).
SOURCE_TEXTS = ("abstract", "chunk")


# --- dict / JSON ---------------------------------------------------------------------------------
def to_dict(answer: Answer, *, texts: bool = True) -> dict[str, Any]:
    """The answer's fields as JSON-ready data, citations as a list in number order, plus
    ``latency_ms`` (the total, rounded). ``texts=False`` leaves out the sources' abstracts and
    chunks (batch lines and eval results keep their ids and titles)."""
    data = asdict(answer)
    data["citations"] = [asdict(c) for _, c in sorted(answer.citations.items())]
    if not texts:
        data["sources"] = [{k: v for k, v in s.items() if k not in SOURCE_TEXTS} for s in data["sources"]]
    data["latency_ms"] = round(answer.timings.get("total_ms", 0.0), 1)
    return data


def to_json(answer: Answer, *, texts: bool = True, indent: int | None = None) -> str:
    return json.dumps(to_dict(answer, texts=texts), indent=indent)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


def from_dict(data: dict[str, Any]) -> Answer:
    """The Answer :func:`to_dict` wrote (sources without texts come back with empty ones)."""
    citations = [Citation(**_known(Citation, c)) for c in data.get("citations", [])]
    return Answer(
        **{
            **_known(Answer, data),
            "citations": {c.n: c for c in citations},
            "sources": [Hit(**{"chunk": "", **_known(Hit, h)}) for h in data.get("sources", [])],
            "sentences": [SentenceCheck(**_known(SentenceCheck, s)) for s in data.get("sentences", [])],
        }
    )


# --- terminal ------------------------------------------------------------------------------------
def to_text(answer: Answer) -> str:
    """The answer, unsupported (⚠) and contradicted (✗) sentences marked, then numbered references; without control
    characters, so an abstract can't send escape sequences to the terminal."""
    lines: list[str] = []
    if answer.refused:
        lines.append(plain(answer.text))
        lines.append("\nClosest papers:")
        for i, hit in enumerate(answer.sources, start=1):
            lines.append(
                f"  {i}. {plain(hit.title)} ({hit.year or 'n.d.'}) {_link(hit.title, hit.url, hit.paper_id, hit.source)}"
            )
        return "\n".join(lines)
    if answer.intro:
        lines.append(plain(answer.intro))
    for s in answer.sentences:
        if s.supported:
            mark = ""
        elif s.contradicted:
            mark = f"  ✗ contradicted: {plain(s.reason) or 'the cited abstract says otherwise'}"
        else:
            mark = f"  ⚠ unsupported: {plain(s.reason) or 'not backed by its citation'}"
        lines.append(f"{plain(sentence_text(s.text, s.cites, quoted=s.quoted, heading=s.heading))}{mark}")
    if not answer.sentences:
        lines.append(plain(answer.text))
    lines.append("\nReferences:")
    for n, cite in sorted(answer.citations.items()):
        lines.append(
            f"  [{n}] {plain(cite.title)} ({cite.year or 'n.d.'}) {_link(cite.title, cite.url, cite.paper_id)}"
        )
    if note := flagged_note(answer.sentences):
        lines.append(f"\n{note}.")
    return "\n".join(lines)


def flagged_note(sentences: Sequence[SentenceCheck], where: str = "the abstracts they cite") -> str:
    """ "2 of 4 sentences are not supported by the abstracts they cite; 1 is contradicted by them"
    ("" when every sentence is supported), without a final full stop."""
    flagged = sum(not s.supported for s in sentences)
    if not flagged:
        return ""
    contradicted = sum(s.contradicted for s in sentences)
    verb = "are" if len(sentences) != 1 else "is"
    note = f"{flagged} of {len(sentences)} sentence{'s' if len(sentences) != 1 else ''} {verb} not supported by {where}"
    if contradicted:
        note += f"; {contradicted} {'is' if contradicted == 1 else 'are'} contradicted by them"
    return note


# --- Markdown ------------------------------------------------------------------------------------
def _link(title: str, url: str | None, paper_id: str, source: str = "") -> str:
    """The paper's link (rag/links.py: URL, DOI, arXiv id, else a labelled arXiv title search)."""
    link = paper_link(title, url=url, paper_id=paper_id, source=source)
    return f"{link.url} (search arXiv)" if link.kind == "search" else link.url


def _ref(title: str, year: int | None, url: str | None, paper_id: str = "", source: str = "") -> str:
    text = f"{markdown_escape(title)} ({year or 'n.d.'})"
    link = paper_link(title, url=url, paper_id=paper_id, source=source)
    return f"{text} <{link.url}>" + (" (search arXiv)" if link.kind == "search" else "")


def _sentence_markdown(sentence: SentenceCheck) -> str:
    marks = markers(sentence.cites)
    gap = " " if marks else ""
    lead = f"**{markdown_escape(sentence.heading)}**: " if sentence.heading else ""
    if sentence.quoted:
        return f"{lead}“{markdown_escape(sentence.text)}”{gap}{marks}"
    stem = sentence.text.rstrip(".!?")
    return f"{markdown_escape(stem)}{gap}{marks}{sentence.text[len(stem) :]}"


def to_markdown(answer: Answer) -> str:
    """Markdown of one answer with its reference list (the ``/ask`` API and the export)."""
    lines: list[str] = []
    if answer.refused:
        lines += [markdown_escape(answer.text), "", "**Closest papers:**", ""]
        lines += [
            f"{i}. {_ref(h.title, h.year, h.url, h.paper_id, h.source)}"
            for i, h in enumerate(answer.sources, start=1)
        ]
        return "\n".join(lines)
    quotes = any(s.quoted for s in answer.sentences)
    for s in answer.sentences:
        if s.supported:
            lines.append(_sentence_markdown(s))
        elif s.contradicted:
            reason = markdown_escape(s.reason or "the cited abstract says otherwise")
            lines.append(f"{_sentence_markdown(s)} ✗ *(contradicted: {reason})*")
        else:
            reason = markdown_escape(s.reason or "not backed by its citation")
            lines.append(f"{_sentence_markdown(s)} ⚠ *(unsupported: {reason})*")
    if not answer.sentences:
        lines.append(markdown_escape(answer.text))
    body = "\n\n".join(lines) if quotes else " ".join(lines)
    if answer.intro:
        body = f"*{markdown_escape(answer.intro)}*\n\n{body}"
    refs = ["", "", "**References**", ""]
    for n, cite in sorted(answer.citations.items()):
        refs += [f"[{n}] {_ref(cite.title, cite.year, cite.url, cite.paper_id)}", ""]
    if note := flagged_note(answer.sentences, "the cited abstracts"):
        refs.append(f"_{note}._")
    return body + "\n".join(refs).rstrip() + "\n"


def conversation_markdown(answers: Sequence[Answer]) -> str:
    """The whole conversation: every question and its answer with references."""
    parts = ["# askpapers conversation", ""]
    for i, answer in enumerate(answers, start=1):
        parts += [f"## Q{i}. {markdown_escape(answer.question)}", ""]
        if answer.standalone_question:
            parts += [f"*Searched as:* {markdown_escape(answer.standalone_question)}", ""]
        parts += [to_markdown(answer), ""]
    return "\n".join(parts).rstrip() + "\n"


# --- HTML ----------------------------------------------------------------------------------------
def _cite_links(cites: Sequence[int], n_sources: int, anchor: str = "", seen: set[int] | None = None) -> str:
    """``<sup>[1, 2]</sup>`` with each number linking to its source card (``#source-n``); with an
    ``anchor``, the first marker of each number gets the id ``{anchor}-cite-n`` its card links back to."""
    valid = [n for n in dict.fromkeys(cites) if 1 <= n <= n_sources]
    if not valid:
        return ""
    links = []
    for n in valid:
        ident = ""
        if anchor and seen is not None and n not in seen:
            seen.add(n)
            ident = f' id="{html_text(anchor)}-cite-{n}"'
        links.append(f'<a href="#source-{n}"{ident} class="cite" title="Source {n}">{n}</a>')
    return f"<sup>[{', '.join(links)}]</sup>"


def _sentence_html(
    sentence: SentenceCheck, n_sources: int, anchor: str = "", seen: set[int] | None = None
) -> str:
    links = _cite_links(sentence.cites, n_sources, anchor, seen)
    gap = " " if links else ""
    lead = f"<span class='heading'>{html_text(sentence.heading)}</span>: " if sentence.heading else ""
    if sentence.quoted:  # the quote in quotation marks: its own bracketed numbers visibly belong to it
        return f"{lead}<span class='quote'>“{html_text(sentence.text)}”</span>{gap}{links}"
    stem = sentence.text.rstrip(".!?")
    return f"{html_text(stem)}{gap}{links}{html_text(sentence.text[len(stem) :])}"


def _flag_html(kind: str, symbol: str, reason: str, ident: str) -> str:
    """A focusable mark (⚠ or ✗) and its reason as text: shown while the sentence is hovered, the mark
    focused (keyboard) or tapped (the link targets the reason); screen readers read it from the label."""
    label = f"{kind}: {reason}"
    css = "warn" if symbol == "⚠" else "contra"
    return (
        f"<a href='#{ident}' class='{css} flag' aria-label='{label}' title='{label}'>{symbol}</a>"
        f"<span class='why' id='{ident}'>{label}</span>"
    )


def answer_anchor(answer: Answer) -> str:
    """An id prefix derived from the answer, for a message rendered without one of its own."""
    return "a" + hashlib.sha1(f"{answer.question}\n{answer.text}".encode()).hexdigest()[:8]


def searched_as(answer: Answer) -> str:
    """The question as it was searched when a follow-up was rewritten ('' when it was searched as asked)."""
    searched = " ".join((answer.standalone_question or "").split())
    return (
        searched if searched and searched.casefold() != " ".join(answer.question.split()).casefold() else ""
    )


def to_html(answer: Answer, anchor: str = "") -> str:
    """The chat message: cited sentences linking to their source cards (``#source-n``), ⚠ on
    unsupported ones, ✗ on contradicted ones (each with its reason as text); a refusal lists the
    closest papers. ``anchor`` (unique per message) names the first citation of each source
    (``{anchor}-cite-n``, where a card links back to) and the reasons; without it the ids are
    derived from the answer."""
    n = len(answer.sources)
    anchor = anchor or answer_anchor(answer)
    searched = searched_as(answer)
    head = f"<div class='searched'>Searched as: “{html_text(searched)}”</div>\n" if searched else ""
    if answer.refused:
        lines = [f"{head}<div class='refusal'>{html_text(answer.text)}</div>", "<ol class='closest'>"]
        for i, hit in enumerate(answer.sources, start=1):
            year = html_text(paper_date(hit.year, hit.date))
            lines.append(
                f"<li><a href='#source-{i}' id='{html_text(anchor)}-cite-{i}'>{html_text(hit.title)}</a> ({year})</li>"
            )
        lines.append("</ol>")
        return "\n".join(lines)
    if not answer.sentences:  # nothing was checked (no sentence in the text): show it as plain text
        return head + html_text(answer.text)
    out: list[str] = []
    seen: set[int] = set()
    for i, s in enumerate(answer.sentences, start=1):
        body = _sentence_html(s, n, anchor, seen)
        ident = f"{html_text(anchor)}-why-{i}"
        if s.supported:
            out.append(f"<span class='sent ok'>{body}</span>")
        elif s.contradicted:
            reason = html_text(s.reason or "the abstract it cites says otherwise")
            out.append(
                f"<span class='sent contradicted'>{body} {_flag_html('Contradicted', '✗', reason, ident)}</span>"
            )
        else:
            reason = html_text(s.reason or "not backed by the abstract it cites")
            out.append(
                f"<span class='sent unsupported'>{body} {_flag_html('Unsupported', '⚠', reason, ident)}</span>"
            )
    text = "<br>".join(out) if any(s.quoted for s in answer.sentences) else " ".join(out)
    if answer.intro:
        text = f"<div class='intro'>{html_text(answer.intro)}</div>\n{text}"
    if note := flagged_note(answer.sentences):
        marks = "the ⚠ or ✗" if any(s.contradicted for s in answer.sentences) else "the ⚠"
        text += f"\n\n<div class='unsupported-note'>⚠ {html_text(note)} (focus, tap or hover {marks} for the reason).</div>"
    return head + text
