"""Why chunk: dense retrieval quality for several chunk sizes vs embedding whole abstracts.

For each configuration the sample corpus is embedded (exact cosine search in numpy, so
HNSW approximation doesn't blur the comparison) and the answerable questions of
evals/sets/sample.jsonl are run; a paper's score is its best chunk's. "whole" embeds
title + abstract as one text, which the model silently truncates at 256 word pieces —
what a plain pipeline with default settings does.

Usage: python -m bench.chunking [--sizes 96,128,160,200,240] [--runtime onnx-int8|torch]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ingest.chunking import Chunker
from ingest.dedup import PaperStage
from ingest.sources import read_inputs
from rag.embedders import make_embedder
from rag.records import Paper, normalise_title
from rag.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent


def load_papers() -> list:  # type: ignore[type-arg]

    with PaperStage() as stage:
        for item in read_inputs([REPO / "data" / "sample"]):
            if isinstance(item, Paper):
                stage.add(item)
        return list(stage)


def evaluate(
    paper_ids: list[str], vectors: np.ndarray, owners: list[str], questions: list[dict], qvecs: np.ndarray
) -> dict[str, float]:
    sims = qvecs @ vectors.T
    r1 = r5 = r10 = mrr = 0.0
    for q, row in zip(questions, sims, strict=True):
        best: dict[str, float] = {}
        for owner, score in zip(owners, row, strict=True):
            if score > best.get(owner, -2):
                best[owner] = float(score)
        ranked = sorted(best, key=best.__getitem__, reverse=True)
        gold = set(q["gold_ids"])
        # capped recall: a multi-paper question can't have all its papers in the top 1
        r1 += len(gold & set(ranked[:1])) / min(len(gold), 1)
        r5 += len(gold & set(ranked[:5])) / min(len(gold), 5)
        r10 += len(gold & set(ranked[:10])) / min(len(gold), 10)
        mrr += next((1 / (i + 1) for i, pid in enumerate(ranked) if pid in gold), 0.0)
    n = len(questions)
    return {"recall@1": r1 / n, "recall@5": r5 / n, "recall@10": r10 / n, "mrr": mrr / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="96,128,160,200,240")
    parser.add_argument("--overlap", type=int, default=24)
    parser.add_argument("--runtime", default="onnx-int8", choices=["onnx-int8", "torch"])
    args = parser.parse_args()

    settings = Settings(home=Path(tempfile.mkdtemp()), embedding={"runtime": args.runtime})  # type: ignore[arg-type]
    embedder = make_embedder(settings)
    papers = load_papers()
    by_title = {p.norm_title: p.id for p in papers}
    questions = []
    for line in (REPO / "evals" / "sets" / "sample.jsonl").read_text().splitlines():
        q = json.loads(line)
        if q["gold"]:
            q["gold_ids"] = [by_title[normalise_title(t)] for t in q["gold"]]
            questions.append(q)
    qvecs = np.array(embedder.embed_batch([q["question"] for q in questions]))

    rows = {}
    whole = np.array(embedder.embed_batch([f"{p.title}\n{p.abstract}" for p in papers]))
    rows["whole abstract"] = evaluate(
        [p.id for p in papers], whole, [p.id for p in papers], questions, qvecs
    ) | {
        "chunks": len(papers),
        "truncated": sum(
            n > 256 for n in embedder.count_tokens([f"{p.title}\n{p.abstract}" for p in papers])
        ),
    }
    for size in [int(s) for s in args.sizes.split(",")]:
        chunker = Chunker(size, min(args.overlap, size // 4), embedder.count_tokens, embedder.max_tokens)
        chunks = chunker.chunk_many(papers)
        vecs = np.array(embedder.embed_batch([c.text for c in chunks]))
        rows[f"chunks of {size}"] = evaluate(
            [p.id for p in papers], vecs, [c.paper_id for c in chunks], questions, qvecs
        ) | {
            "chunks": len(chunks),
            "truncated": 0,
            "tokens": sum(embedder.count_tokens([c.text for c in chunks])),
        }
    print(f"{len(questions)} answerable questions, {len(papers)} papers, runtime {args.runtime}")
    print(f"{'config':<18}{'chunks':>7}{'trunc':>6}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR':>7}{'tokens':>8}")
    for name, r in rows.items():
        print(
            f"{name:<18}{r['chunks']:>7}{r['truncated']:>6}{r['recall@1']:>7.3f}{r['recall@5']:>7.3f}"
            f"{r['recall@10']:>7.3f}{r['mrr']:>7.3f}{r.get('tokens', 0):>8}"
        )


if __name__ == "__main__":
    main()
