"""The ``askpapers`` command line. Heavy libraries are imported inside the commands,
so ``askpapers --help`` answers instantly."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import AskpapersError, ConfigError

if TYPE_CHECKING:
    from rag.settings import Settings

FORMATS = ("hf_daily", "arxiv", "beir", "jsonl", "csv")  # kept in step with ingest.sources.FORMATS (tested)


def load_settings(args: argparse.Namespace) -> Settings:
    from pydantic import ValidationError

    from rag.settings import Settings

    overrides: dict[str, object] = {}
    if getattr(args, "home", None):
        overrides["home"] = Path(args.home)
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"ASKPAPERS_{'__'.join(str(p).upper() for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


def _parse_field_map(pairs: Sequence[str]) -> dict[str, str]:
    from ingest.parsers.jsonl import DEFAULT_FIELDS

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
    from ingest.pipeline import ingest

    settings = load_settings(args)
    summary = ingest(
        settings,
        args.inputs,
        fmt=args.format,
        field_map=_parse_field_map(args.field),
        prune=args.prune,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps(summary.as_json()))
    else:
        for skip in summary.skipped:
            print(f"skipped {skip}", file=sys.stderr)
        print(summary.as_text().split("\nskipped:")[0])
    return 0


def index_stats(settings: Settings) -> dict[str, object]:
    from ingest.store import IndexStore

    if not IndexStore.exists(settings):
        return {
            "papers": 0,
            "chunks": 0,
            "sources": {},
            "collection": settings.collection_name,
            "embedding_model": settings.embedding.model,
            "bytes": 0,
            "home": str(settings.home),
        }
    store = IndexStore.open(settings)
    try:
        papers, chunks = store.manifest.counts()
        return {
            "papers": papers,
            "chunks": chunks,
            "sources": store.manifest.sources(),
            "collection": settings.collection_name,
            "embedding_model": settings.embedding.model,
            "chunk_size": settings.chunking.chunk_size,
            "chunk_overlap": settings.chunking.chunk_overlap,
            "bytes": store.disk_bytes(),
            "home": str(settings.home),
        }
    finally:
        store.close()


def cmd_stats(args: argparse.Namespace) -> int:
    stats = index_stats(load_settings(args))
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
        "inputs", nargs="+", help="files or directories (HF Daily Papers text, arXiv/BEIR/generic JSONL, CSV)"
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
    p.set_defaults(func=cmd_ingest)

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


if __name__ == "__main__":
    sys.exit(main())
