"""The chat page's "Check a draft" tab: paste a draft with numbered references — or one claim and the
ids of the papers to check it against — press Check, and see each cited sentence marked supported,
contradicted or not enough info, with its evidence sentence and the paper's title.

Requests are bounded like questions (ui/access.py, settings section ``server``): a draft by
``max_draft_chars``, a claim by ``max_question_chars``, the papers one claim names by ``max_k``; a
check holds one of the client's slots while it runs. HTML: ui/render_check.py. Gradio is imported
inside :func:`add_check_tab` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rag.checker import Checker, paper_ids_of
from ui import access, render_check

if TYPE_CHECKING:
    from rag.engine import Engine
    from rag.settings import ServerSettings

__all__ = ["add_check_tab", "check_html", "respond"]


def check_html(engine: Engine, server: ServerSettings, text: str, paper_ids: str) -> str:
    """The tab's result for what was pasted: with paper ids, ``text`` is one claim checked against them;
    without, it is a draft. Raises :class:`~ui.access.LimitError` for text over the bounds."""
    text = (text or "").strip()
    if not text:
        return render_check.empty_html()
    ids = paper_ids_of(access.check_field("Paper ids", paper_ids or "", server))
    checker = Checker(engine)
    if ids:
        if len(text) > server.max_question_chars:
            raise access.LimitError(
                f"the claim is too long: {len(text):,} characters, and at most {server.max_question_chars:,} "
                "are accepted. To check a longer text, clear the paper ids and paste it as a draft with "
                "its references."
            )
        if len(ids) > server.max_k:
            raise access.LimitError(f"name at most {server.max_k} papers for one claim, not {len(ids)}.")
        return render_check.claim_html(checker.check(text, ids))
    if len(text) > server.max_draft_chars:
        raise access.LimitError(
            f"the draft is too long: {len(text):,} characters, and at most {server.max_draft_chars:,} are "
            "checked at once. Check it a section at a time (each with its references), or use "
            "'askpapers check FILE' on the command line."
        )
    return render_check.draft_html(checker.check_draft_text(text))


def respond(
    engine: Engine,
    limiter: access.ClientLimiter,
    text: str,
    paper_ids: str,
    request: Any,
    failure: Callable[[Exception], str],
) -> str:
    """The Check button: the result, or the error banner with what ``failure`` tells the user."""
    try:
        with limiter.slot(access.client_key(request)):
            return check_html(engine, engine.settings.server, text, paper_ids)
    except Exception as exc:  # every failure is a message in the result panel, never a stuck page
        return render_check.error_html(failure(exc))


def add_check_tab(engine: Engine, limiter: access.ClientLimiter, failure: Callable[[Exception], str]) -> None:
    """The tab's inputs, button and result panel, in the Blocks (and tab) being built."""
    import gradio as gr

    text = gr.Textbox(
        label="Draft or claim",
        placeholder="A draft whose sentences cite [1], [2] with a numbered reference list "
        "(titles, DOIs or arXiv ids) — or one claim, with paper ids below",
        lines=12,
        max_lines=30,
        elem_id="check-text",
    )
    paper_ids = gr.Textbox(
        label="Paper ids (only to check one claim)",
        placeholder="ids as indexed, DOIs or arXiv ids, separated by commas or spaces",
        max_lines=1,
        elem_id="check-papers",
    )
    button = gr.Button("Check", variant="primary", elem_id="check")
    result = gr.HTML(render_check.empty_html(), elem_id="check-result")

    def check(text: str, paper_ids: str, request: gr.Request) -> str:
        return respond(engine, limiter, text, paper_ids, request, failure)

    check.__annotations__["request"] = gr.Request  # Gradio reads it to pass the request in
    button.click(check, [text, paper_ids], [result], api_visibility="private", show_progress="minimal")
