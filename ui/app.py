"""The Gradio chat page: streamed, cited answers beside the papers that back them.

    from ui.app import serve
    serve(settings, host="127.0.0.1", port=7860)

Gradio is imported inside the functions, so importing this module is cheap. Beyond loopback the
page needs a login, and every request is bounded (ui/access.py, settings section ``server``).
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import answer_format, engine_for
from rag.errors import AskpapersError, ConfigError, EndpointError
from rag.escape import html_text
from rag.index.store import IndexStore
from rag.modes import REGISTRY
from rag.modes import available_modes as checked_modes
from rag.settings import ServerSettings, load_settings
from rag.types import Answer
from ui import access, check_tab, conversation, render
from ui.corpus import CorpusFacts, filters_html, parse_filters

if TYPE_CHECKING:
    import gradio as gr

    from rag.engine import Engine
    from rag.settings import ServerSettings, Settings

log = logging.getLogger(__name__)
CSS_PATH = Path(__file__).with_name("style.css")
FONTS = [
    "ui-sans-serif",
    "system-ui",
    "-apple-system",
    "Segoe UI",
    "Roboto",
    "Helvetica",
    "Arial",
    "sans-serif",
]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]  # no web fonts: works offline


def available_modes(settings: Settings) -> dict[str, str]:
    """Each answer mode → '' when its health check passed here, else why not (rag/modes.py): the
    page offers only modes that really answered, so a broken one can't hang or kill a question."""
    return checked_modes(settings)


def status_line(settings: Settings, mode: str) -> str:
    """The header's index line as HTML: in full, and short for a phone (CSS shows one of them)."""
    try:
        stats = IndexStore.stats(settings)
    except Exception as exc:  # the status line must never take the page down
        return f"<span class='long'>Index unavailable: {html_text(exc)}</span><span class='short'>no index</span>"
    sources = ", ".join(  # source names come from file suffixes: data, escaped
        f"{html_text(k)} {v}"
        for k, v in dict(stats.get("sources") or {}).items()  # type: ignore[call-overload]
    )
    papers = f"<b>{stats['papers']}</b> papers" + (f" ({sources})" if sources else "")
    model = html_text(stats["embedding_model"])
    return (
        f"<span class='long'>Index: {papers} · {stats.get('chunks', 0)} chunks · embeddings {model} · "
        f"mode {html_text(mode)}</span><span class='short'>{stats['papers']} papers · {html_text(mode)}</span>"
    )


def _remedy(exc: Exception, mode: str) -> str:
    """What to do after ``exc``, for the banner: only suggest what would change something."""
    if isinstance(exc, ConfigError):
        return "The rest of the page still works."
    if isinstance(exc, EndpointError) and mode != "extractive":
        return "Try again, or switch the answer mode to extractive (quotes, no model) under Options."
    if isinstance(exc, access.LimitError):
        return "Change the request as the message says and ask again."
    return "The rest of the page still works: try again, or ask another question."


#: Runs once the page has loaded: the question box is the first stop of the Tab key and has a name.
PAGE_JS = """() => {
  const box = document.querySelector('#question textarea');
  if (box) { box.setAttribute('tabindex', '1'); box.setAttribute('aria-label', 'Your question about the papers'); }
  const ask = document.querySelector('#ask');
  if (ask) { ask.setAttribute('tabindex', '2'); }
}"""


def _failure(exc: Exception) -> str:
    """What a user is told: our errors say what to do; anything else is logged with its traceback."""
    if isinstance(exc, AskpapersError | ValueError):
        return str(exc)
    log.error("unexpected error while answering", exc_info=exc)
    return f"unexpected error ({type(exc).__name__}); the server's log has the details — please report it"


def build_app(engine: Engine) -> gr.Blocks:
    access.go_offline()  # before gradio is imported: no analytics, no version check
    import gradio as gr

    settings = engine.settings
    server = settings.server
    limiter = access.ClientLimiter(server.max_concurrent_per_client)  # shared, thread-safe
    default_k = min(settings.retrieval.k, server.max_k)
    modes = available_modes(settings)
    usable = [m for m, why in modes.items() if not why]  # registry order: the first needs nothing
    default_mode = settings.answer_mode if settings.answer_mode in usable else usable[0]
    missing = "; ".join(f"{m}: {why}" for m, why in modes.items() if why)
    facts = CorpusFacts.read(engine)

    def ask_api(request: gr.Request, question: str, k: int | None = None) -> str:
        """Answer a question from the indexed abstracts; Markdown with a numbered reference list."""
        try:
            with limiter.slot(access.client_key(request)):
                question = access.check_question(question, server)
                n = access.check_k(default_k if k is None else k, server)
                return answer_format.to_markdown(engine.ask(question, k=n, mode=default_mode))
        except Exception as exc:
            raise gr.Error(_failure(exc)) from None

    def respond(
        question: str,
        chat: list[dict[str, Any]],
        answers: list[Answer],
        k: float,
        year_from: Any,
        year_to: Any,
        author: str,
        category: str,
        mode: str,
        request: gr.Request,
    ) -> Iterator[tuple[Any, ...]]:
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        keep = 2 * (server.max_history_turns - 1)  # messages of the earlier turns that stay on screen
        shown = question if len(question) <= server.max_question_chars else question[:200] + "…"
        chat = [
            *chat[max(0, len(chat) - keep) :],
            {"role": "user", "content": html_text(shown)},
            {"role": "assistant", "content": "Searching the abstracts… ▍"},
        ]
        hidden = gr.update(value="", visible=False)
        yield "", chat, gr.skip(), answers, hidden, gr.skip()
        partial = ""
        try:
            with limiter.slot(access.client_key(request)):
                asked = access.check_question(question, server)
                n = access.check_k(k, server)
                filters = parse_filters(
                    year_from,
                    year_to,
                    access.check_field("Author", author, server),
                    access.check_field("Category", category, server),
                )
                if filters is not None and facts.papers and not facts.matching(filters):
                    # nothing can be retrieved: say that the filters did it, not the question
                    chat[-1] = {"role": "assistant", "content": filters_html(facts, filters, n)}
                    yield question, chat, render.sources_html(None), answers, hidden, gr.skip()
                    return
                # the Answers themselves: a follow-up finds the papers they cited by id, not by title
                history = answers[-server.max_history_turns :]
                for item in engine.ask_stream(asked, k=n, filters=filters, history=history, mode=mode):
                    if isinstance(item, str):
                        partial += item
                        chat[-1] = {"role": "assistant", "content": render.streaming_html(partial)}
                        yield gr.skip(), chat, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    else:
                        answers = [*answers, item][-server.max_history_turns :]
                        anchor = f"m{uuid.uuid4().hex[:10]}"  # this message's ids, unique on the page
                        above = filters_html(facts, filters, n, len(item.sources))
                        chat[-1] = {
                            "role": "assistant",
                            "content": above + answer_format.to_html(item, anchor),
                        }
                        yield (
                            gr.skip(),
                            chat,
                            render.sources_html(item, anchor),
                            answers,
                            hidden,
                            gr.update(value=conversation.export(answers), interactive=True),
                        )
        except Exception as exc:  # every failure ends the spinner with a message, never a stuck bubble
            message = _failure(exc)
            failed = f"<span class='failed'>⚠ No answer: {html_text(message)}</span>"
            chat[-1] = {"role": "assistant", "content": failed}
            yield (
                question,
                chat,
                render.sources_html(None),  # the previous answer's sources are not this question's
                answers,
                gr.update(value=render.error_html(message, _remedy(exc, mode)), visible=True),
                gr.skip(),
            )

    def show_filters(year_from: Any, year_to: Any, author: str, category: str) -> str:
        """The active-filters line above the chat, kept current while Options is closed."""
        try:
            return filters_html(facts, parse_filters(year_from, year_to, author, category))
        except ConfigError as exc:
            return f"<div class='active-filters invalid' role='status'>{html_text(exc)}</div>"

    def new_chat() -> tuple[Any, ...]:
        return (
            [],
            [],
            render.sources_html(None),
            gr.update(value="", visible=False),
            gr.update(value=None, interactive=False),
            "",
        )

    # Gradio reads these annotations to pass the request in; here they are strings it can't resolve
    ask_api.__annotations__["request"] = respond.__annotations__["request"] = gr.Request

    with gr.Blocks(
        title="askpapers — cited answers from paper abstracts", fill_width=True, analytics_enabled=False
    ) as app:
        answers_state = gr.State([])
        with gr.Row(elem_id="header"):
            gr.HTML(
                "<h1>askpapers</h1> <span class='tagline'>Cited, grounding-checked answers over "
                "research-paper abstracts.</span>",
                elem_id="brand",
            )
            gr.HTML(status_line(settings, default_mode), elem_id="status")
        error = gr.HTML("", visible=False, elem_id="error")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Ask", elem_id="ask-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=6, min_width=420):
                    active = gr.HTML("", elem_id="active-filters")
                    chatbot = gr.Chatbot(
                        elem_id="chat",
                        height=560,
                        show_label=False,
                        buttons=["copy"],
                        feedback_options=None,
                        placeholder="Ask about the indexed papers. Citations like [1] jump to the source card.",
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            placeholder="Ask a question about the papers…",
                            label="Your question about the papers",
                            show_label=False,
                            scale=8,
                            elem_id="question",
                            max_lines=4,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                    gr.Examples(examples=[[e] for e in facts.examples], inputs=[question], label="Try")
                    with gr.Row():
                        clear = gr.Button("New chat", size="sm", elem_id="new-chat")
                        download = gr.DownloadButton(
                            "Export as Markdown", size="sm", interactive=False, elem_id="export"
                        )
                    with gr.Accordion("Options", open=False, elem_id="options"):
                        with gr.Row():
                            k = gr.Slider(1, server.max_k, value=default_k, step=1, label="Sources (k)")
                            mode = gr.Radio(
                                [(REGISTRY[m].label, m) for m in usable],
                                value=default_mode,
                                label="Answer mode",
                                info=f"Unavailable — {missing}" if missing else None,
                                elem_id="answer-mode",
                            )
                        year_note = facts.year_note() or None
                        with gr.Row():
                            year_from = gr.Textbox(
                                label="Year from", placeholder="any", info=year_note, elem_id="year-from"
                            )
                            year_to = gr.Textbox(
                                label="Year to", placeholder="any", info=year_note, elem_id="year-to"
                            )
                            author = (
                                gr.Textbox(  # hidden when no indexed paper has authors: it could never match
                                    label="Author (name words)",
                                    placeholder="e.g. Vaswani",
                                    visible=bool(facts.with_authors),
                                    elem_id="author",
                                )
                            )
                            category = gr.Dropdown(
                                [("any", ""), *facts.categories],
                                value="",
                                label="Category",
                                allow_custom_value=True,
                                visible=bool(facts.categories),
                                elem_id="category",
                            )
                        if note := facts.missing_fields_note():
                            gr.Markdown(note, elem_id="missing-filters")
                with gr.Column(scale=5, min_width=360):
                    sources = gr.HTML(render.sources_html(None), elem_id="sources-panel")
            with gr.Tab("Check a draft", elem_id="check-tab"):
                check_tab.add_check_tab(engine, limiter, _failure)
        inputs = [question, chatbot, answers_state, k, year_from, year_to, author, category, mode]
        outputs = [question, chatbot, sources, answers_state, error, download]
        for trigger in (question.submit, send.click):
            trigger(respond, inputs, outputs, api_visibility="private", show_progress="hidden")
        for field in (year_from, year_to, author, category):
            field.change(
                show_filters,
                [year_from, year_to, author, category],
                [active],
                api_visibility="private",
                show_progress="hidden",
            )
        clear.click(
            new_chat,
            None,
            [chatbot, answers_state, sources, error, download, question],
            api_visibility="private",
        )
        gr.api(ask_api, api_name="ask")
    return app


def launch(
    app: gr.Blocks,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    block: bool = True,
    server: ServerSettings | None = None,
) -> None:
    """Queue and start ``app`` on ``host:port`` (never a public share link).

    Beyond loopback it refuses to start without a login (``server.auth`` or ``server.auth_file``);
    with one configured, the page and the API both ask for it."""

    server = server or ServerSettings()
    credentials = access.load_credentials(server)
    access.require_login_beyond_loopback(host, credentials)
    access.go_offline()
    import gradio as gr

    app.queue(default_concurrency_limit=server.concurrency, max_size=server.queue_size)
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=True,
        quiet=True,
        prevent_thread_lock=not block,
        auth=access.login_checker(credentials) if credentials else None,
        auth_message="Sign in to ask questions about the indexed papers." if credentials else None,
        theme=gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=FONTS, font_mono=MONO),
        css=CSS_PATH.read_text(encoding="utf-8"),
        js=PAGE_JS,
        footer_links=["api"],
    )


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Open the index, build the page and serve it until interrupted."""
    access.go_offline()  # before onnxruntime, huggingface_hub or gradio is imported
    # a missing login fails now, before the index is loaded
    credentials = access.load_credentials(settings.server)
    access.require_login_beyond_loopback(host, credentials)

    engine = engine_for(settings)
    engine.warm_up()  # load the embedder and index now, not on the first question
    login = " (login required)" if credentials else ""
    print(f"askpapers chat on http://{host}:{port}{login}", flush=True)
    launch(build_app(engine), host, port, server=settings.server)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ui.app", description="Serve the askpapers chat page.")
    parser.add_argument("--home")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    try:
        serve(load_settings(home=Path(args.home) if args.home else None), args.host, args.port)
    except AskpapersError as exc:
        print(f"askpapers: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
