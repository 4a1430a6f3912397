"""Query latency on the sample index, and what one LLM answer costs in prompt tokens.

1. warm ``search`` and ``ask`` (extractive) latency, p50/p95, over the questions of
   evals/sets/sample.jsonl, in one process after a warm-up question;
2. a cold ``askpapers ask "…"`` as a whole process, side by side in the same run with
   ``python -c "import torch"`` (the floor a torch-based tool can't go under);
3. prompt tokens of the single LLM call per question with k=5 (cl100k count, as for an
   OpenAI model; SmolLM2's own tokenizer, as for local mode).

Usage: python -m bench.query [--home DIR]  (builds the sample index in DIR if missing)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ingest.pipeline import ingest
from rag.engine import Engine
from rag.prompt import build_messages
from rag.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def timed_process(argv: list[str], env: dict[str, str], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=Path("/tmp/askpapers-bench-query"))
    args = parser.parse_args()

    settings = Settings(home=args.home)
    ingest(settings, [REPO / "data" / "sample"], progress=False)
    questions = [
        json.loads(line)["question"] for line in (REPO / "evals/sets/sample.jsonl").read_text().splitlines()
    ]
    engine = Engine(settings)
    engine.ask("warm up: what is CloudFormer?", mode="extractive")

    search_ms, ask_ms = [], []
    for q in questions:
        t0 = time.perf_counter()
        engine.search(q, k=10)
        search_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        engine.ask(q, mode="extractive")
        ask_ms.append((time.perf_counter() - t0) * 1000)
    print(f"warm latency over {len(questions)} questions (ms):")
    print(f"  search            p50 {pct(search_ms, 0.5):6.1f}   p95 {pct(search_ms, 0.95):6.1f}")
    print(
        f"  ask (extractive)  p50 {pct(ask_ms, 0.5):6.1f}   p95 {pct(ask_ms, 0.95):6.1f}   (target p50 < 100)"
    )

    env = os.environ | {"ASKPAPERS_HOME": str(args.home)}
    askpapers = str(Path(sys.executable).parent / "askpapers")
    cold = timed_process([askpapers, "ask", "What mean absolute error does CloudFormer reach?"], env)
    torch_floor = timed_process([sys.executable, "-c", "import torch"], env)
    print(
        f"cold `askpapers ask` whole process: {cold:.2f} s (target < 4 s); `python -c 'import torch'`: {torch_floor:.2f} s"
    )

    from llama_index.core.utils import get_tokenizer

    cl100k = get_tokenizer()
    counts = []
    for q in questions:
        hits = engine.search(q, k=5)
        messages, used = build_messages(
            q, hits, lambda t: len(cl100k(t)), 128_000, settings.llm.max_answer_tokens, settings.answer
        )
        counts.append(sum(len(cl100k(m["content"])) for m in messages))
    print(
        f"prompt tokens per LLM answer, k=5 (cl100k): mean {statistics.mean(counts):.0f}, max {max(counts)}; "
        "one LLM call per question"
    )


if __name__ == "__main__":
    main()
