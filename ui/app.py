"""The Gradio chat page: streamed, cited answers beside the papers that back them.

    from ui.app import serve
    serve(settings, host="127.0.0.1", port=7860)

Gradio is imported inside the functions, so importing this module is cheap. Beyond loopback the
page needs a login, and every request is bounded (ui/access.py, settings section ``server``).
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import answer_format, engine_for
from rag.errors import AskpapersError, ConfigError
from rag.escape import html_text, markdown_escape
from rag.index.store import IndexStore
from rag.modes import REGISTRY
from rag.modes import available_modes as checked_modes
from rag.settings import ServerSettings, load_settings
from rag.types import Answer, Filters
from ui import access, check_tab, render

if TYPE_CHECKING:
    import gradio as gr

    from rag.engine import Engine
    from rag.settings import ServerSettings, Settings

log = logging.getLogger(__name__)
CLOUDFORMER_QUESTION = "What mean absolute error does CloudFormer reach?"
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


def corpus_facts(engine: Engine, max_examples: int = 4) -> tuple[list[str], list[str]]:
    """Example questions built from the index, and the categories it holds."""
    examples = [CLOUDFORMER_QUESTION]
    categories: set[str] = set()
    try:
        papers = list(engine.store.manifest.papers())
    except AskpapersError:
        return examples, []
    for paper in papers:
        categories.update(paper.categories)
    names = []
    for paper in papers:
        name = paper.title.split(":")[0].strip() if ":" in paper.title else paper.title
        if 3 <= len(name) <= 50 and "CloudFormer" not in name:
            names.append(name)
    step = max(1, len(names) // max_examples)
    examples += [f"What is {name} about?" for name in names[::step][: max_examples - 1]]
    return examples, sorted(categories)


def status_line(settings: Settings, mode: str) -> str:
    try:
        stats = IndexStore.stats(settings)
    except Exception as exc:  # the status line must never take the page down
        return f"Index unavailable: {markdown_escape(exc)}"
    sources = ", ".join(  # source names come from file suffixes: data, escaped
        f"{markdown_escape(k)} {v}"
        for k, v in dict(stats.get("sources") or {}).items()  # type: ignore[call-overload]
    )
    papers = f"**{stats['papers']}** papers" + (f" ({sources})" if sources else "")
    return f"Index: {papers} · {stats.get('chunks', 0)} chunks · embeddings {stats['embedding_model']} · mode {mode}"


def _year(value: Any, label: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1000 <= int(text) <= 2999:
        raise ConfigError(f"{label} must be a year like 2023, not {text!r}")
    return int(text)


def _filters(year_from: Any, year_to: Any, author: str, category: str) -> Filters | None:
    f = Filters(
        year_from=_year(year_from, "Year from"),
        year_to=_year(year_to, "Year to"),
        author=(author or "").strip() or None,
        category=(category or "").strip() or None,
    )
    return None if f.is_empty() else f


def _history(answers: list[Answer]) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for a in answers:
        turns += [{"role": "user", "content": a.question}, {"role": "assistant", "content": a.text}]
    return turns


_EXPORTS: list[Path] = []  # this process's export folder, made on first use
EXPORT_KEEP_S = 24 * 3600  # an export older than a day is deleted when the next one is written


def _export(answers: list[Answer]) -> str:
    """The conversation as a Markdown file to download (one folder per page process, pruned)."""
    if not _EXPORTS:
        _EXPORTS.append(Path(tempfile.mkdtemp(prefix="askpapers-export-")))
    folder = _EXPORTS[0]
    now = time.time()
    for old in folder.glob("*.md"):
        if now - old.stat().st_mtime > EXPORT_KEEP_S:
            old.unlink(missing_ok=True)
    handle, name = tempfile.mkstemp(
        prefix=f"askpapers-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".md", dir=folder
    )
    with open(handle, "w", encoding="utf-8") as out:
        out.write(answer_format.conversation_markdown(answers))
    return name


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
    examples, categories = corpus_facts(engine)

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
                filters = _filters(
                    year_from,
                    year_to,
                    access.check_field("Author", author, server),
                    access.check_field("Category", category, server),
                )
                history = _history(answers[-server.max_history_turns :])
                for item in engine.ask_stream(asked, k=n, filters=filters, history=history, mode=mode):
                    if isinstance(item, str):
                        partial += item
                        chat[-1] = {"role": "assistant", "content": render.streaming_html(partial)}
                        yield gr.skip(), chat, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    else:
                        answers = [*answers, item][-server.max_history_turns :]
                        chat[-1] = {"role": "assistant", "content": answer_format.to_html(item)}
                        yield (
                            gr.skip(),
                            chat,
                            render.sources_html(item),
                            answers,
                            hidden,
                            gr.update(value=_export(answers), interactive=True),
                        )
        except Exception as exc:  # every failure ends the spinner with a message, never a stuck bubble
            message = _failure(exc)
            failed = f"<span class='failed'>⚠ No answer: {html_text(message)}</span>"
            chat[-1] = {"role": "assistant", "content": failed}
            yield (
                question,
                chat,
                gr.skip(),
                answers,
                gr.update(value=render.error_html(message), visible=True),
                gr.skip(),
            )

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
            gr.Markdown(
                "## askpapers\nCited, grounding-checked answers over research-paper abstracts.",
                elem_id="brand",
            )
            gr.Markdown(status_line(settings, default_mode), elem_id="status")
        error = gr.HTML("", visible=False, elem_id="error")
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Ask", elem_id="ask-tab"), gr.Row(equal_height=False):
                with gr.Column(scale=6, min_width=420):
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
                            show_label=False,
                            scale=8,
                            autofocus=True,
                            elem_id="question",
                            max_lines=4,
                        )
                        send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask")
                    gr.Examples(examples=[[e] for e in examples], inputs=[question], label="Try")
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
                        with gr.Row():
                            year_from = gr.Textbox(label="Year from", placeholder="any", elem_id="year-from")
                            year_to = gr.Textbox(label="Year to", placeholder="any", elem_id="year-to")
                            author = gr.Textbox(label="Author (name words)", placeholder="e.g. Vaswani")
                            category = gr.Dropdown(
                                [("any", ""), *categories],
                                value="",
                                label="Category",
                                allow_custom_value=True,
                            )
                with gr.Column(scale=5, min_width=360):
                    sources = gr.HTML(render.sources_html(None), elem_id="sources-panel")
            with gr.Tab("Check a draft", elem_id="check-tab"):
                check_tab.add_check_tab(engine, limiter, _failure)
        inputs = [question, chatbot, answers_state, k, year_from, year_to, author, category, mode]
        outputs = [question, chatbot, sources, answers_state, error, download]
        for trigger in (question.submit, send.click):
            trigger(respond, inputs, outputs, api_visibility="private", show_progress="hidden")
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
