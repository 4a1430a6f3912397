"""The ``askpapers`` command line. Heavy libraries are imported inside the commands,
so ``askpapers --help`` answers instantly."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.cli import add_eval_parser
from ingest.parsers.jsonl import DEFAULT_FIELDS
from ingest.pipeline import ingest
from rag import answer_format, engine_for
from rag.errors import AskpapersError, ConfigError, InputError
from rag.escape import plain, safe_url
from rag.index.store import IndexStore
from rag.modes import MODES, get_mode, mode_help, require_mode
from rag.settings import load_settings as load
from rag.types import Filters
from ui.app import serve
from ui.check_cmd import add_check_parser
from ui.progress import progress_bar

if TYPE_CHECKING:
    from rag.settings import Settings

# kept in step with ingest.sources.FORMATS (tested)
FORMATS = ("hf_daily", "arxiv", "beir", "jsonl", "csv", "bibtex", "ris")


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with ``--home`` on top when given."""

    home = getattr(args, "home", None)
    return load(home=Path(home) if home else None)


def _parse_field_map(pairs: Sequence[str]) -> dict[str, str]:

    mapping: dict[str, str] = {}
    for pair in pairs:
        ours, sep, theirs = pair.partition("=")
        if not sep or not ours or not theirs:
            raise ConfigError(f"--field {pair!r}: expected OURS=THEIRS, e.g. --field abstract=summary")
        if ours not in DEFAULT_FIELDS:
            raise ConfigError(f"--field {pair!r}: unknown field {ours!r}; known: {', '.join(DEFAULT_FIELDS)}")
        mapping[ours] = theirs
    return mapping


def cmd_ingest(args: argparse.Namespace) -> int:

    settings = load_settings(args)
    summary = ingest(
        settings,
        args.inputs,
        fmt=args.format,
        field_map=_parse_field_map(args.field),
        prune=args.prune,
        progress=not args.quiet and sys.stderr.isatty(),
        ray_address=args.ray,
    )
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        for skip in summary.skipped:
            print(f"skipped {skip}", file=sys.stderr)
        print(summary.as_text().split("\nskipped:")[0])
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    stats = IndexStore.stats(load_settings(args))
    if args.json:
        print(json.dumps(stats))
        return 0
    sources = ", ".join(f"{k} {v}" for k, v in stats["sources"].items()) or "none"  # type: ignore[attr-defined]
    print(
        f"papers      {stats['papers']}\nchunks      {stats['chunks']}\nsources     {sources}\n"
        f"collection  {stats['collection']}\nembedding   {stats['embedding_model']}\n"
        f"size        {int(stats['bytes']) / 1e6:.1f} MB\nhome        {stats['home']}"  # type: ignore[call-overload]
    )
    if not stats["papers"]:
        print("the index is empty: run 'askpapers ingest data/sample'")
    return 0


def _filters_from(args: argparse.Namespace) -> Any:

    return Filters(
        year_from=args.year_from,
        year_to=args.year_to,
        author=args.author,
        category=args.category,
        source=args.source,
    )


def _read_jsonl(path: str, key: str) -> list[dict[str, Any]]:

    rows = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"can't read it ({exc})", path=path) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON ({exc.msg})", path=path, line=number) from None
        text = row.get(key) or row.get("question") or row.get("query") if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"expected an object with a non-empty {key!r}", path=path, line=number)
        rows.append({"id": row.get("id", number), "text": text})
    return rows


def _run_batch(args: argparse.Namespace, key: str, answer: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """One JSON line out per JSON line in (``--batch FILE --out FILE``), flushed as it goes."""
    if not args.out:
        raise ConfigError("--batch needs --out FILE for the results")
    rows = _read_jsonl(args.batch, key)
    with Path(args.out).open("w", encoding="utf-8") as out, progress_bar(len(rows), key + "s") as bar:
        for row in rows:
            out.write(json.dumps(answer(row)) + "\n")
            out.flush()
            bar.update(1)
    print(f"{len(rows)} results → {args.out}", file=sys.stderr)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    engine = engine_for(load_settings(args))
    mode = get_mode(args.mode or engine.settings.answer_mode)
    require_mode(engine.settings, mode.name)  # a clear reason now, not a failure mid-answer
    filters = _filters_from(args)

    def ask(question: str) -> Any:
        return engine.ask(question, k=args.k, mode=mode.name, filters=filters)

    if args.batch:  # one line per question: the answer's JSON shape, sources without their abstracts
        return _run_batch(
            args,
            "question",
            lambda row: {"id": row["id"], **answer_format.to_dict(ask(row["text"]), texts=False)},
        )
    if not args.question:
        raise ConfigError("give a question, or --batch FILE --out FILE")
    if args.json:
        print(answer_format.to_json(ask(args.question)))
        return 0
    answer: Any = None
    for item in engine.ask_stream(args.question, k=args.k, mode=mode.name, filters=filters):
        if isinstance(item, str):
            if mode.streams:
                print(item, end="", flush=True, file=sys.stderr)  # live text; the checked answer follows
        else:
            answer = item
    if mode.streams:
        print("\n", file=sys.stderr)
    print(answer_format.to_text(answer))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    engine = engine_for(load_settings(args))
    filters = _filters_from(args)
    if args.batch:
        return _run_batch(
            args,
            "query",
            lambda row: {
                "id": row["id"],
                "hits": [
                    {"paper_id": h.paper_id, "title": h.title, "score": round(h.score, 6)}
                    for h in engine.search(row["text"], k=args.k, filters=filters)
                ],
            },
        )
    if not args.question:
        raise ConfigError("give a query, or --batch FILE --out FILE")
    hits = engine.search(args.question, k=args.k, filters=filters)
    if args.json:
        print(json.dumps([h.as_json() for h in hits]))
        return 0
    for i, hit in enumerate(hits, start=1):
        where = safe_url(hit.url) or hit.paper_id
        print(plain(f"{i:>2}. {hit.title} ({hit.year or 'n.d.'})  score {hit.score:.4f}  {where}"))
        print(plain(f"    {hit.chunk.split(chr(10), 1)[-1][:200]}…"))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:

    serve(load_settings(args), host=args.host, port=args.port)
    return 0


def _add_filter_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--year-from", type=int, metavar="Y", help="only papers from year Y on")
    p.add_argument("--year-to", type=int, metavar="Y", help="only papers up to year Y")
    p.add_argument(
        "--author",
        metavar="A",
        help="only papers with authors named A (whole name words, any case or accents)",
    )
    p.add_argument("--category", metavar="C", help="only papers in category C (e.g. cs.CL)")
    p.add_argument(
        "--source",
        metavar="S",
        help="only papers from source S (hf_daily, arxiv, beir, csv, jsonl, bibtex, ris)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="askpapers", description="Cited, grounding-checked answers over research-paper abstracts."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home", default=argparse.SUPPRESS, help="data directory (default: $ASKPAPERS_HOME or ~/.askpapers)"
    )
    parser.add_argument("--home", help="data directory (default: $ASKPAPERS_HOME or ~/.askpapers)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", parents=[common], help="add papers from files or directories to the index")
    p.add_argument(
        "inputs",
        nargs="+",
        help="files or directories (HF Daily Papers text, arXiv/BEIR/generic JSONL, CSV, BibTeX, RIS)",
    )
    p.add_argument("--format", choices=FORMATS, help="force the input format instead of detecting it")
    p.add_argument(
        "--field",
        action="append",
        default=[],
        metavar="OURS=THEIRS",
        help="map a field for generic JSONL/CSV, e.g. --field title=paper_title --field abstract=summary",
    )
    p.add_argument("--prune", action="store_true", help="remove indexed papers that are not in the inputs")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="chunk and embed on a Ray cluster (HEAD:PORT; without one: $RAY_ADDRESS or a cluster on this "
        "machine), storing from here as usual; set ASKPAPERS_CHROMA__URL to a Chroma server",
    )
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("ask", parents=[common], help="answer a question with cited, checked sentences")
    p.add_argument("question", nargs="?", help="the question (or use --batch)")
    p.add_argument("--k", type=int, default=5, help="papers shown to the answerer (default 5)")
    p.add_argument("--mode", choices=MODES, help=mode_help())  # from the registry, rag/modes.py
    _add_filter_args(p)
    p.add_argument("--json", action="store_true", help="print the whole Answer as JSON")
    p.add_argument(
        "--batch", metavar="FILE", help='JSON Lines of {"id", "question"}: answer them all in one process'
    )
    p.add_argument("--out", metavar="FILE", help="where --batch writes one JSON answer per line")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("search", parents=[common], help="rank papers for a query (no answer)")
    p.add_argument("question", nargs="?", help="the query (or use --batch)")
    p.add_argument("--k", type=int, default=10, help="papers to return (default 10)")
    _add_filter_args(p)
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument("--batch", metavar="FILE", help='JSON Lines of {"id", "query"}')
    p.add_argument("--out", metavar="FILE", help="where --batch writes one JSON line of hits per query")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("serve", parents=[common], help="start the chat page (loopback only by default)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; no public share link)"
    )
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.set_defaults(func=cmd_serve)

    add_eval_parser(sub, common)
    add_check_parser(sub, common)

    p = sub.add_parser("stats", parents=[common], help="what the index holds")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AskpapersError as exc:
        print(f"askpapers: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "askpapers: interrupted; what was committed is kept — run the same command again to finish",
            file=sys.stderr,
        )
        return 130
    except BrokenPipeError:  # e.g. `askpapers search … | head`: the reader left; nothing to report
        sys.stderr.close()
        return 0
    except Exception as exc:  # not a fault we know: one line here, the details in a file
        log = _crash_log(exc)
        print(
            f"askpapers: unexpected error: {type(exc).__name__}: {_scrub(str(exc))[:300]}\n"
            f"askpapers: this is a bug; the details are in {log} — please report it",
            file=sys.stderr,
        )
        return 2


def _scrub(text: str) -> str:
    """Remove secrets that may appear in an exception's text (a server echoing the API key)."""
    import os

    for name in ("OPENAI_API_KEY", "ASKPAPERS_OPENAI_API_KEY", "ASKPAPERS_SERVER__AUTH"):
        secret = os.environ.get(name, "")
        for part in {secret, *secret.replace(",", ":").split(":")}:
            if len(part) >= 4:
                text = text.replace(part, "***")
    return text


def _crash_log(exc: BaseException) -> Path:
    """Write the traceback to a new private file (0600, never an existing path) and return its path."""
    import os
    import tempfile
    import traceback

    text = _scrub("".join(traceback.format_exception(exc)))
    try:
        handle, name = tempfile.mkstemp(prefix=f"askpapers-error-{time_stamp()}-", suffix=".log")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError:
        return Path("(not written: " + tempfile.gettempdir() + " is not writable)")
    return Path(name)


def time_stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


if __name__ == "__main__":
    sys.exit(main())
