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

import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

from rag.citations import markers, sentence_text
from rag.escape import html_text, markdown_escape, plain, safe_url
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
                f"  {i}. {plain(hit.title)} ({hit.year or 'n.d.'}) {safe_url(hit.url) or ''}".rstrip()
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
        lines.append(f"{plain(sentence_text(s.text, s.cites, quoted=s.quoted))}{mark}")
    if not answer.sentences:
        lines.append(plain(answer.text))
    lines.append("\nReferences:")
    for n, cite in sorted(answer.citations.items()):
        lines.append(
            f"  [{n}] {plain(cite.title)} ({cite.year or 'n.d.'}) {safe_url(cite.url) or ''}".rstrip()
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
def _ref(title: str, year: int | None, url: str | None) -> str:
    text = f"{markdown_escape(title)} ({year or 'n.d.'})"
    link = safe_url(url)
    return f"{text} <{link}>" if link else text


def _sentence_markdown(sentence: SentenceCheck) -> str:
    marks = markers(sentence.cites)
    gap = " " if marks else ""
    if sentence.quoted:
        return f"“{markdown_escape(sentence.text)}”{gap}{marks}"
    stem = sentence.text.rstrip(".!?")
    return f"{markdown_escape(stem)}{gap}{marks}{sentence.text[len(stem) :]}"


def to_markdown(answer: Answer) -> str:
    """Markdown of one answer with its reference list (the ``/ask`` API and the export)."""
    lines: list[str] = []
    if answer.refused:
        lines += [markdown_escape(answer.text), "", "**Closest papers:**", ""]
        lines += [f"{i}. {_ref(h.title, h.year, h.url)}" for i, h in enumerate(answer.sources, start=1)]
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
        refs += [f"[{n}] {_ref(cite.title, cite.year, cite.url)}", ""]
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
def _cite_links(cites: Sequence[int], n_sources: int) -> str:
    """``<sup>[1, 2]</sup>`` with each number linking to its source card (``#source-n``)."""
    valid = [n for n in dict.fromkeys(cites) if 1 <= n <= n_sources]
    if not valid:
        return ""
    links = ", ".join(f'<a href="#source-{n}" class="cite" title="Source {n}">{n}</a>' for n in valid)
    return f"<sup>[{links}]</sup>"


def _sentence_html(sentence: SentenceCheck, n_sources: int) -> str:
    links = _cite_links(sentence.cites, n_sources)
    gap = " " if links else ""
    if sentence.quoted:  # the quote in quotation marks: its own bracketed numbers visibly belong to it
        return f"<span class='quote'>“{html_text(sentence.text)}”</span>{gap}{links}"
    stem = sentence.text.rstrip(".!?")
    return f"{html_text(stem)}{gap}{links}{html_text(sentence.text[len(stem) :])}"


def to_html(answer: Answer) -> str:
    """The chat message: cited sentences linking to their source cards (``#source-n``), ⚠ on
    unsupported ones, ✗ on contradicted ones; a refusal lists the closest papers."""
    n = len(answer.sources)
    if answer.refused:
        lines = [f"<div class='refusal'>{html_text(answer.text)}</div>", "<ol class='closest'>"]
        for i, hit in enumerate(answer.sources, start=1):
            year = html_text(hit.year or "n.d.")
            lines.append(f"<li><a href='#source-{i}'>{html_text(hit.title)}</a> ({year})</li>")
        lines.append("</ol>")
        return "\n".join(lines)
    if not answer.sentences:  # nothing was checked (no sentence in the text): show it as plain text
        return html_text(answer.text)
    out: list[str] = []
    for s in answer.sentences:
        body = _sentence_html(s, n)
        if s.supported:
            out.append(f"<span class='sent ok'>{body}</span>")
        elif s.contradicted:
            reason = html_text(s.reason or "the abstract it cites says otherwise")
            out.append(
                f"<span class='sent contradicted' title='Contradicted: {reason}'>{body} "
                f"<span class='contra' role='img' aria-label='Contradicted: {reason}' "
                f"title='Contradicted: {reason}'>✗</span></span>"
            )
        else:
            reason = html_text(s.reason or "not backed by the abstract it cites")
            out.append(
                f"<span class='sent unsupported' title='Unsupported: {reason}'>{body} "
                f"<span class='warn' title='Unsupported: {reason}'>⚠</span></span>"
            )
    text = "<br>".join(out) if any(s.quoted for s in answer.sentences) else " ".join(out)
    if answer.intro:
        text = f"<div class='intro'>{html_text(answer.intro)}</div>\n{text}"
    if note := flagged_note(answer.sentences):
        marks = "the ⚠ or ✗" if any(s.contradicted for s in answer.sentences) else "the ⚠"
        text += f"\n\n<div class='unsupported-note'>⚠ {html_text(note)} (hover {marks} for the reason).</div>"
    return text
