"""Pairs per second of a verifier on SciFact's held-out pairs (one claim against one abstract each).

- cold: a fresh verifier and empty text caches: every claim and abstract sentence is embedded and parsed;
- warm: each abstract was checked before against another sentence ("A study of <title>"), so its sentences'
  vectors and parses are cached, as for a chat whose follow-ups cite the same papers; each claim is new.

Usage: python -m bench.verifier --scifact ../shared/data/scifact [--method learned|rules] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from evals.scifact import load_pairs, statements
from rag.embedders import make_embedder
from rag.settings import Settings
from rag.support import prepare
from rag.text import content_terms
from rag.verify import Statement, Verifier
from rag.verify.factory import make_verifier
from rag.verify.signals import abstract_context, lexical


def _clear_text_caches() -> None:
    for cached in (lexical, abstract_context, prepare, content_terms):
        cached.cache_clear()


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.verifier", description=__doc__)
    ap.add_argument("--scifact", type=Path, required=True)
    ap.add_argument("--method", choices=("learned", "rules"), default="learned")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    settings = Settings(
        home=Path(tempfile.mkdtemp(prefix="askpapers-bench-")), verify={"method": args.method}
    )
    embedder = make_embedder(settings)
    held = [p for p in load_pairs(args.scifact) if p.split == "held_out"]
    items = statements(held)

    def fresh() -> Verifier:
        return make_verifier(settings, embedder)

    fresh().verify(items[:4])  # load the model and warm the ONNX session once
    print(f"{args.method} on {len(items)} held-out pairs, {args.repeat} runs, load {os.getloadavg()[0]:.1f}")
    for mode in ("cold", "warm"):
        wall = cpu = 0.0
        for _ in range(args.repeat):
            verifier = fresh()
            _clear_text_caches()
            if mode == "warm":  # the abstracts were checked before, against another sentence (their title)
                verifier.verify([Statement(f"A study of {s.sources[0].title}", s.sources) for s in items])
            started, cpu_started = time.perf_counter(), time.process_time()
            verifier.verify(items)
            wall += time.perf_counter() - started
            cpu += time.process_time() - cpu_started
        n = args.repeat * len(items)
        print(f"  {mode}: {n / wall:.0f} pairs/s wall, {n / cpu:.0f} pairs per CPU-second")


if __name__ == "__main__":
    main()
