"""``askpapers eval``: run a question set, write a report, optionally compare runs and score BEIR;
with ``--verify CLAIMS``, score the verifiers on labelled claims instead (evals/verify_eval.py).

Wire into ui/cli.py's build_parser with::

    from evals.cli import add_eval_parser
    add_eval_parser(sub, common)

Only argparse is imported at module level, so ``askpapers --help`` stays instant.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evals.beir import DEFAULT_SPLIT, run_beir
from evals.compare import compare_results, load_results
from evals.harness import run_eval, support_validation
from evals.questions import calibration_ids, load_questions
from evals.records import EvalRun, JudgeScores
from evals.report import beir_table, summary_text, write_report
from evals.verify_eval import DEFAULT_VERIFIERS, SPLITS, VERIFIERS
from evals.verify_report import cmd_verify
from rag import engine_for
from rag.errors import ConfigError, InputError
from rag.llm import OpenAICompatibleLLM
from rag.modes import MODES, mode_help, require_mode
from rag.settings import load_settings

if TYPE_CHECKING:
    from evals.harness import Judge
    from rag.engine import Engine
    from rag.settings import Settings

DEFAULT_OUT = "out"
_SCORE = re.compile(r"\b([1-5])\b")
JUDGE_SYSTEM = "You grade answers about research papers. Reply with a single digit from 1 (worst) to 5 (best), nothing else."


def add_eval_parser(subparsers: Any, common_parent: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``eval`` command to ``subparsers`` (from ``parser.add_subparsers``)."""
    p = subparsers.add_parser(
        "eval", parents=[common_parent], help="score retrieval and answers on a question set; write a report"
    )
    p.add_argument(
        "set", metavar="SET", nargs="?", help="question set (JSON Lines), e.g. evals/sets/sample.jsonl"
    )
    p.add_argument("--mode", choices=MODES, help=mode_help())  # from the registry, rag/modes.py
    p.add_argument("--k", type=int, default=5, help="papers shown to the answerer (default 5)")
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"where results.json, report.md and charts go (default {DEFAULT_OUT}/)",
    )
    p.add_argument(
        "--compare",
        metavar="OLD",
        help="an earlier run's results.json: print deltas, mark regressions (changes beyond noise: the new "
        "value outside the old 95 %% interval and the intervals apart)",
    )
    p.add_argument(
        "--beir",
        metavar="DIR",
        help="score hybrid retrieval on a BEIR dataset (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv): "
        "on its own, or beside a question set",
    )
    p.add_argument(
        "--split",
        metavar="SPLIT",
        help=f"with --beir: the qrels split to score, qrels/SPLIT.tsv (default {DEFAULT_SPLIT}; "
        f"'train' where the test split is held out); with --verify: {' or '.join(SPLITS)} (default all; "
        "held_out: the part of SciFact's claims_train.jsonl the shipped verifier never saw)",
    )
    p.add_argument(
        "--half",
        choices=("held_out", "calibration"),
        help="with a question set: only that half of it (within each kind, questions ordered by a SHA-1 of "
        "their id, every other one calibrates; evals/refusal_fit.py) — report held_out for anything tuned",
    )
    p.add_argument(
        "--verify",
        metavar="CLAIMS",
        help="score the verifiers on a claims file in SciFact's format instead of a question set",
    )
    p.add_argument(
        "--corpus", metavar="FILE", help="with --verify: the abstracts (default: corpus.jsonl beside CLAIMS)"
    )
    p.add_argument(
        "--verifiers",
        metavar="LIST",
        help=f"with --verify: comma-separated, of {', '.join(VERIFIERS)} (default {','.join(DEFAULT_VERIFIERS)}; "
        "llm asks settings.verify's endpoint)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="with --verify: only the first N claims")
    p.add_argument(
        "--judge",
        action="store_true",
        help="also grade faithfulness and relevance with the configured LLM (needs an endpoint)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)
    return p


def judge_available(settings: Settings) -> bool:
    """The judge is an OpenAI-compatible endpoint (whatever mode answers)."""
    return bool(settings.openai_base_url or settings.openai_api_key)


def _score(llm: Any, prompt_text: str) -> float | None:
    messages = [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": prompt_text}]
    try:
        text = "".join(t for t in llm.execute(messages, max_tokens=4, temperature=0.0) if isinstance(t, str))
    except Exception:  # an unreachable judge must not fail the eval
        return None
    match = _SCORE.search(text)
    return float(match.group(1)) if match else None


def make_judge(settings: Settings) -> Judge:
    """A small LLM judge: faithfulness (answer vs cited abstracts) and relevance (answer vs question), 1–5."""

    llm = OpenAICompatibleLLM(settings)

    def judge(question: Any, answer: Any) -> JudgeScores:
        cited = {n for s in answer.sentences for n in s.cites}
        abstracts = "\n\n".join(
            f"[{n}] {answer.sources[n - 1].title}: {answer.sources[n - 1].abstract}"
            for n in sorted(cited)
            if 1 <= n <= len(answer.sources)
        )
        faithful = _score(
            llm,
            f"Sources:\n{abstracts or '(none)'}\n\nAnswer:\n{answer.text}\n\n"
            "How faithful is the answer to the sources (every claim supported)? 1-5:",
        )
        relevant = _score(
            llm,
            f"Question: {question.question}\n\nAnswer:\n{answer.text}\n\n"
            "How well does the answer address the question? 1-5:",
        )
        return JudgeScores(faithfulness=faithful, relevance=relevant)

    return judge


def evaluate(
    engine: Engine,
    set_path: Path,
    *,
    mode: str,
    k: int,
    out: Path,
    progress: bool = True,
    judge: Judge | None = None,
    beir: str | None = None,
    split: str = DEFAULT_SPLIT,
    half: str | None = None,
) -> EvalRun:
    """Run the set (or one half of it), attach support validation (and BEIR), write the report files;
    return the results."""
    questions = load_questions(set_path)
    if half:
        chosen = calibration_ids(questions)
        questions = [q for q in questions if (q.id in chosen) == (half == "calibration")]
    run = run_eval(engine, questions, mode=mode, k=k, progress=progress, judge=judge)
    run.support_validation = support_validation(engine)
    if beir:
        run.beir = run_beir(
            engine.settings, beir, progress=progress, embedder=engine.store.embedder, split=split
        )
    write_report(run, out)
    return run


def cmd_beir(args: argparse.Namespace, settings: Settings) -> int:
    """``askpapers eval --beir DIR`` without a question set: BEIR only, its figures to stdout and
    ``<out>/beir.json``."""
    split = getattr(args, "split", None) or DEFAULT_SPLIT
    progress = not getattr(args, "quiet", False) and sys.stderr.isatty()
    result = run_beir(settings, args.beir, progress=progress, split=split)
    out = Path(getattr(args, "out", None) or DEFAULT_OUT)
    out.mkdir(parents=True, exist_ok=True)
    (out / "beir.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"BEIR (hybrid), split {split}\n\n{beir_table(result)}\n\nwrote {out / 'beir.json'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if getattr(args, "verify", None):
        return cmd_verify(args)
    settings = load_settings(home=Path(args.home) if getattr(args, "home", None) else None)
    if not getattr(args, "set", None):
        if getattr(args, "beir", None):
            return cmd_beir(args, settings)
        raise ConfigError(
            "give a question set (SET), --beir DIR to score retrieval on a BEIR dataset, "
            "or --verify CLAIMS to score the verifiers"
        )
    set_path = Path(args.set)
    if not set_path.is_file():
        raise InputError("no such question set", path=str(set_path))
    mode = getattr(args, "mode", None) or settings.answer_mode
    require_mode(settings, mode)  # an unhealthy mode stops here with the reason, not on question 1
    judge = None
    if getattr(args, "judge", False):
        if judge_available(settings):
            judge = make_judge(settings)
        else:
            print(
                "askpapers: --judge needs an LLM endpoint (set OPENAI_BASE_URL or ASKPAPERS_LLM__MODE=openai); "
                "continuing without the judge",
                file=sys.stderr,
            )
    out = Path(getattr(args, "out", None) or DEFAULT_OUT)
    engine = engine_for(settings)
    progress = not getattr(args, "quiet", False) and sys.stderr.isatty()
    run = evaluate(
        engine,
        set_path,
        mode=mode,
        k=getattr(args, "k", 5) or 5,
        out=out,
        progress=progress,
        judge=judge,
        beir=getattr(args, "beir", None),
        split=getattr(args, "split", None) or DEFAULT_SPLIT,
        half=getattr(args, "half", None),
    )

    print(summary_text(run), end="")
    table = beir_table(run.beir)
    if table:
        print("\nBEIR (hybrid)\n\n" + table)
    print(
        f"\nwrote {out / 'report.md'}, {out / 'results.json'}, {out / 'retrieval.png'}, "
        f"{out / 'answers_by_type.png'}"
    )
    if getattr(args, "compare", None):
        text, regressions = compare_results(load_results(args.compare), run.aggregates)
        print(f"\nCompared with {args.compare}\n\n{text}", end="")
        if regressions:
            return 1  # a gate: CI fails when a key figure regressed
    return 0
