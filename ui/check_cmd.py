"""``askpapers check``: the verifier as a tool for one's own writing — one claim against named papers,
a JSON Lines batch of them, or a whole draft with numbered references.

    askpapers check "claim" --paper ID [--paper ID …] [--json]
    askpapers check --batch claims.jsonl --out verdicts.jsonl
    askpapers check draft.md [--json]            (or: --draft FILE, whatever its name)

Errors a user can cause (a missing or unreadable file, no index yet, no indexed paper of that name,
a bad setting) print one line and exit with status 2. A batch goes on past a bad line: it names the
file and line, and says at the end how many lines it skipped. Output formats: rag/check_format.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag import check_format, engine_for
from rag.checker import Checker, ClaimItem, paper_ids_of
from rag.errors import AskpapersError, ConfigError, InputError
from rag.escape import plain
from rag.settings import load_settings
from ui.progress import note, progress_bar

#: A positional argument ending so, naming an existing file, is a draft; anything else is a claim.
DRAFT_SUFFIXES = (".md", ".markdown", ".txt")

DESCRIPTION = """Check claims against the abstracts of indexed papers with the configured verifier
(settings.verify.method). Each verdict is supported, contradicted or not_enough_info, with a score
(the calibrated probability that the claim is supported) and the evidence sentence(s).

Three forms:
  askpapers check "CLAIM" --paper ID [--paper ID ...] [--json]
  askpapers check --batch claims.jsonl --out verdicts.jsonl
  askpapers check DRAFT.md [--json]   (or --draft FILE for a file of any name)

The positional argument is a draft when it names an existing file ending in .md, .markdown or .txt;
otherwise it is a claim, and a claim needs --paper. A paper ID is its id as indexed ('askpapers search'
shows ids; BEIR ids as given), a DOI or an arXiv id. A draft's sentences cite [n] and its numbered
reference list (after a 'References' heading, or at the end) names papers by DOI, arXiv id or title."""


@dataclass(frozen=True)
class _Line:
    number: int
    item: ClaimItem


def add_check_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``check`` to the command line's subcommands."""
    p = subparsers.add_parser(
        "check",
        parents=[common],
        help="check a claim, a batch of claims or a draft against indexed abstracts",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "text",
        nargs="?",
        metavar="CLAIM_OR_DRAFT",
        help="a claim (with --paper), or a draft file ending in .md, .markdown or .txt",
    )
    p.add_argument(
        "--paper",
        action="append",
        default=[],
        metavar="ID",
        help="a paper to check the claim against: id as indexed, DOI or arXiv id (repeatable)",
    )
    p.add_argument("--draft", metavar="FILE", help="check this file as a draft, whatever its name")
    p.add_argument(
        "--batch",
        metavar="FILE",
        help='JSON Lines of {"id", "claim", "paper_ids": [...]} ("id" defaults to the line number)',
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        help='where --batch writes one line per claim: {"id", "label", "supported", "score", '
        '"evidence", "paper_id", "unknown_ids"}',
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (claim or draft)")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    try:
        home = getattr(args, "home", None)
        form, target = _form(args)
        checker = Checker(engine_for(load_settings(home=Path(home) if home else None)))
        if form == "batch":
            return _batch(checker, target, args.out)
        if form == "draft":
            return _draft(checker, target, args.json)
        return _claim(checker, target, args.paper, args.json)
    except AskpapersError as exc:
        print(f"askpapers: error: {exc}", file=sys.stderr)
        return 2


def _form(args: argparse.Namespace) -> tuple[str, str]:
    """Which form the arguments ask for — 'claim', 'draft' or 'batch' — and its claim or file."""
    if args.batch:
        if args.text or args.paper or args.draft:
            raise ConfigError("--batch takes its claims from the file: give no claim, --paper or --draft")
        if not args.out:
            raise ConfigError("--batch needs --out FILE for the verdicts")
        return "batch", args.batch
    if args.out:
        raise ConfigError("--out goes with --batch FILE")
    if args.draft:
        if args.text or args.paper:
            raise ConfigError("--draft FILE takes no claim or --paper")
        return "draft", args.draft
    if args.text is not None and not args.text.strip():
        raise ConfigError("the claim is empty: give the sentence to check")
    if not args.text:
        raise ConfigError(
            "give a claim with --paper ID, a draft file (.md, .markdown, .txt), or --batch FILE --out FILE"
        )
    path = Path(args.text)
    is_draft = path.suffix.lower() in DRAFT_SUFFIXES and "\n" not in args.text
    if is_draft and path.is_file():
        if args.paper:
            raise ConfigError(f"{args.text} is a draft file; --paper goes with a claim")
        return "draft", args.text
    if args.paper:
        # --paper A,B is two papers, as in the chat tab and rag.check
        args.paper = [p.strip() for given in args.paper for p in given.split(",") if p.strip()]
        return "claim", args.text
    if is_draft:
        raise InputError("no such file", path=args.text)
    raise ConfigError(
        "a claim needs --paper ID (the paper to check it against); to check a draft, give a file ending "
        "in .md, .markdown or .txt, or --draft FILE"
    )


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is not text
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", path=path) from None
    except OSError as exc:
        raise InputError(f"can't read it ({exc.strerror or type(exc).__name__})", path=path) from None


# --- the three forms -----------------------------------------------------------------------------
def _claim(checker: Checker, claim: str, papers: list[str], as_json: bool) -> int:
    result = checker.check(claim, papers)
    if as_json:
        print(json.dumps(check_format.result_to_dict(result), ensure_ascii=False))
    else:
        print(check_format.result_to_text(result))
    return 0


def _draft(checker: Checker, path: str, as_json: bool) -> int:
    report = checker.check_draft_text(_read(path))
    if as_json:
        print(json.dumps(check_format.report_to_dict(report), ensure_ascii=False))
    else:
        print(check_format.report_to_text(report))
    return 0


def _batch(checker: Checker, path: str, out_path: str) -> int:
    lines, skipped = _read_claims(path)
    if not lines:
        raise InputError(
            f"no claim to check ({skipped} line{'s' if skipped != 1 else ''} skipped)", path=path
        )
    checker.manifest  # no index: the error now, before the output file is written  # noqa: B018
    unknown = 0
    try:
        out = Path(out_path).open("w", encoding="utf-8")  # noqa: SIM115 (closed by the with below)
    except OSError as exc:
        raise InputError(f"can't write it ({exc.strerror or type(exc).__name__})", path=out_path) from None
    with out, progress_bar(len(lines), "claims") as bar:
        results = checker.check_batch(line.item for line in lines)
        for line, result in zip(lines, results, strict=True):
            if result.unknown_ids:
                unknown += 1
                names = plain(", ".join(result.unknown_ids))
                note(
                    f"askpapers: {path}:{line.number} (id {plain(str(line.item.id))}): not in the index: {names}"
                )
            out.write(json.dumps(check_format.result_to_dict(result, line=True), ensure_ascii=False) + "\n")
            out.flush()
            bar.update(1)
    summary = f"askpapers: {len(lines)} verdict{'s' if len(lines) != 1 else ''} → {out_path}"
    if unknown:
        summary += f"; {unknown} with paper ids not in the index"
    if skipped:
        summary += f"; {skipped} line{'s' if skipped != 1 else ''} skipped (see above)"
    print(summary, file=sys.stderr)
    return 0


def _read_claims(path: str) -> tuple[list[_Line], int]:
    """The valid lines of a claims file, and how many were skipped (each named on stderr)."""
    lines: list[_Line] = []
    skipped = 0
    for number, text in enumerate(_read(path).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            lines.append(_Line(number, _claim_item(text, number)))
        except ValueError as exc:
            skipped += 1
            note(f"askpapers: {InputError(str(exc), path=path, line=number)}; line skipped")
    return lines, skipped


def _claim_item(text: str, number: int) -> ClaimItem:
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg})") from None
    if not isinstance(row, dict):
        raise ValueError('expected a JSON object {"id", "claim", "paper_ids"}')
    claim = row.get("claim")
    if not isinstance(claim, str) or not claim.strip():
        raise ValueError("'claim' is missing or not a non-empty string")
    ids = row.get("paper_ids")
    if isinstance(ids, str | int):
        ids = [ids]
    if not isinstance(ids, list) or not ids or not all(_is_name(i) and str(i).strip() for i in ids):
        raise ValueError("'paper_ids' is missing or not a list of paper ids (strings)")
    names = paper_ids_of([str(i) for i in ids])
    given = row.get("id", number)
    return ClaimItem(given if _is_name(given) else json.dumps(given), claim, names)


def _is_name(value: object) -> bool:
    """A string, or a number as BEIR ids often are (not a bool)."""
    return isinstance(value, str | int) and not isinstance(value, bool)
